import { test } from 'node:test';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import type { Action, MatchRule, TableDef } from '@tsmtpd/config';
import type { RcptResolution, ResolvedRecipient, SessionInfo } from '@tsmtpd/proto';
import { UNPRIVILEGED_ACCOUNTS } from './expand.js';
import { Lka } from './lka.js';
import { action, config, forr, from, listTable, mapTable, mbox, relay, rule, session, TEST_IDENTITY } from './test-helpers.js';

interface Setup {
  tables?: TableDef[];
  actions?: Action[];
  matches?: MatchRule[];
  delim?: string;
}

/** The usual small site: example.org delivered locally (with `local`'s options), the rest relayed for local senders. */
function site(local: Partial<Action> = {}, extra: Setup = {}): Lka {
  const localAction = { ...action('local', mbox), ...local } as Action;
  return new Lka(config({
    tables: extra.tables ?? [],
    actions: [localAction, action('relay', relay), ...(extra.actions ?? [])],
    matches: extra.matches ?? [
      rule({ from: from('any'), for: forr('domain', 'example.org'), action: 'local' }),
      rule({ from: from('local'), for: forr('any'), action: 'relay' }),
    ],
    ...(extra.delim !== undefined ? { delim: extra.delim } : {}),
  }), { identity: TEST_IDENTITY });
}

async function resolve(lka: Lka, rcpt: string, s: Partial<SessionInfo> = {}, sender = 'alice@example.net'): Promise<RcptResolution> {
  return lka.rcptResolve({ session: session(s), sender, rcpt });
}

function ok(r: RcptResolution): ResolvedRecipient[] {
  assert.ok(r.ok, `expected recipients, got ${JSON.stringify(r)}`);
  return r.recipients;
}

function refused(r: RcptResolution): string {
  assert.ok(!r.ok, `expected a refusal, got ${JSON.stringify(r)}`);
  return `${r.reply.code} ${r.reply.enhanced} ${r.reply.text}`;
}

test('local delivery to a system user: mda recipient, lowercased user, ttl from the queue', async () => {
  const [r, ...rest] = ok(await resolve(site(), 'Daemon@Example.ORG'));
  assert.equal(rest.length, 0);
  assert.deepEqual(r, { dispatcher: 'local', type: 'mda', dest: 'Daemon@example.org', mdaUser: 'daemon', ttl: 345_600 });
});

test('action ttl wins over the queue ttl', async () => {
  const [r] = ok(await resolve(site({ ttl: 3600 }), 'root@example.org'));
  assert.equal(r?.ttl, 3600);
});

test('sub-address: stripped for the user lookup and kept as mdaSubaddress', async () => {
  const [r] = ok(await resolve(site(), 'nobody+lists@example.org'));
  assert.equal(r?.mdaUser, 'nobody');
  assert.equal(r?.mdaSubaddress, 'lists');
  assert.equal(r?.dest, 'nobody+lists@example.org');
  const [d] = ok(await resolve(site({}, { delim: '-' }), 'nobody-x@example.org'));
  assert.equal(d?.mdaSubaddress, 'x');
});

test('unknown local user: 550 5.1.1 naming the recipient', async () => {
  assert.equal(refused(await resolve(site(), 'no-such-user@example.org')), '550 5.1.1 <no-such-user@example.org>: Invalid recipient: user unknown');
});

test('no matching rule: relaying denied for remote domains, unknown user for local names', async () => {
  assert.equal(refused(await resolve(site(), 'bob@remote.net')), '550 5.7.1 <bob@remote.net>: Relaying denied');
  const [r] = ok(await resolve(site(), 'bob@remote.net', { socket: true, remoteAddress: 'local' }));
  assert.deepEqual(r, { dispatcher: 'relay', type: 'mta', dest: 'bob@remote.net', ttl: 345_600 });
  assert.match(refused(await resolve(site(), 'root@localhost')), /^550 5\.1\.1 <root@localhost>/);
});

test('reject rules refuse with 550 5.7.1', async () => {
  const lka = site({}, {
    matches: [
      rule({ from: from('any'), for: forr('rcpt-to', 'spamtrap@example.org'), reject: true }),
      rule({ from: from('any'), for: forr('domain', 'example.org'), action: 'local' }),
    ],
  });
  assert.equal(refused(await resolve(lka, 'spamtrap@example.org')), '550 5.7.1 <spamtrap@example.org>: Delivery not authorized, recipient refused');
  ok(await resolve(lka, 'root@example.org'));
});

test('aliases: chains, user+ext before user, keys lowercased, duplicates collapsed', async () => {
  const aliases = mapTable('aliases', {
    postmaster: 'root', abuse: 'postmaster', staff: 'daemon, nobody, Daemon, root',
    'bob+sales': 'nobody', bob: 'daemon',
  });
  const lka = site({ alias: 'aliases' }, { tables: [aliases] });
  assert.deepEqual(ok(await resolve(lka, 'ABUSE@example.org')).map((r) => r.mdaUser), ['root']);
  const staff = ok(await resolve(lka, 'staff@example.org'));
  assert.deepEqual(staff.map((r) => r.mdaUser).sort(), ['daemon', 'nobody', 'root']);
  assert.ok(staff.every((r) => r.dest === 'staff@example.org' && r.dispatcher === 'local'));
  assert.deepEqual(ok(await resolve(lka, 'bob+sales@example.org')).map((r) => r.mdaUser), ['nobody']);
  const [tagged] = ok(await resolve(lka, 'bob+other@example.org'));
  assert.equal(tagged?.mdaUser, 'daemon');
});

test('an alias to the same user delivers to that user (no recursion)', async () => {
  const lka = site({ alias: 'aliases' }, { tables: [mapTable('aliases', { root: 'root, daemon' })] });
  assert.deepEqual(ok(await resolve(lka, 'root@example.org')).map((r) => r.mdaUser).sort(), ['daemon', 'root']);
});

test('alias loops and too deep chains: 524 5.2.4', async () => {
  const loop = site({ alias: 'aliases' }, { tables: [mapTable('aliases', { a: 'b', b: 'a' })] });
  assert.equal(refused(await resolve(loop, 'a@example.org')), '524 5.2.4 Mailing list expansion problem');
  const chain: Record<string, string> = {};
  for (let i = 0; i < 12; i++) chain[`l${i}`] = `l${i + 1}`;
  chain.l12 = 'root';
  const deep = site({ alias: 'aliases' }, { tables: [mapTable('aliases', chain)] });
  assert.equal(refused(await resolve(deep, 'l0@example.org')), '524 5.2.4 Mailing list expansion problem');
  assert.deepEqual(ok(await resolve(deep, 'l5@example.org')).map((r) => r.mdaUser), ['root'], 'a chain under the limit resolves');
  const viaAddresses = site({ alias: 'aliases' }, { tables: [mapTable('aliases', { x: 'y@example.org', y: 'x@example.org' })] });
  assert.equal(refused(await resolve(viaAddresses, 'x@example.org')), '524 5.2.4 Mailing list expansion problem');
});

test('alias to a remote address: the address is matched again with a local origin and relayed', async () => {
  const lka = site({ alias: 'aliases' }, { tables: [mapTable('aliases', { fwd: 'bob@remote.net, root' })] });
  const out = ok(await resolve(lka, 'fwd@example.org'));
  assert.deepEqual(out.map((r) => [r.type, r.dispatcher, r.dest, r.mdaUser ?? '']).sort(), [
    ['mda', 'local', 'fwd@example.org', 'root'],
    ['mta', 'relay', 'bob@remote.net', ''],
  ]);
  // Without a rule allowing local senders to relay, the expansion fails as a whole.
  const closed = site({ alias: 'aliases' }, {
    tables: [mapTable('aliases', { fwd: 'bob@remote.net' })],
    matches: [rule({ from: from('any'), for: forr('domain', 'example.org'), action: 'local' })],
  });
  assert.equal(refused(await resolve(closed, 'fwd@example.org')), '524 5.2.4 Mailing list expansion problem');
});

test('alias to an unknown user: 550 5.1.1 naming the RCPT, not the internal user', async () => {
  const lka = site({ alias: 'aliases' }, { tables: [mapTable('aliases', { sales: 'ghost-user-xyz' })] });
  assert.equal(refused(await resolve(lka, 'sales@example.org')), '550 5.1.1 <sales@example.org>: Invalid recipient: user unknown');
});

test('alias |command and /file targets run as the unprivileged account; :include: lists expand', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lka-include-'));
  try {
    const list = join(dir, 'list');
    writeFileSync(list, '# the list\nroot, daemon\n\n"|/usr/bin/archive --list"\n');
    const lka = site({ alias: 'aliases' }, {
      tables: [mapTable('aliases', { pipe: '"|/usr/bin/vacation bob"', file: '/var/mail/archive', inc: `:include:${list}`, missing: `:include:${join(dir, 'none')}`, deep: 'deep2', deep2: 'deep3', deep3: 'deep' })],
    });
    const [pipe] = ok(await resolve(lka, 'pipe@example.org'));
    assert.ok(UNPRIVILEGED_ACCOUNTS.includes(pipe?.mdaUser ?? ''), JSON.stringify(pipe));
    assert.deepEqual(pipe, { dispatcher: 'local', type: 'mda', dest: 'pipe@example.org', mdaUser: pipe?.mdaUser, mdaTarget: { kind: 'command', value: '/usr/bin/vacation bob', system: true }, ttl: 345_600 });
    const [file] = ok(await resolve(lka, 'file@example.org'));
    assert.deepEqual(file?.mdaTarget, { kind: 'file', value: '/var/mail/archive', system: true });
    const inc = ok(await resolve(lka, 'inc@example.org'));
    assert.deepEqual(inc.map((r) => r.mdaTarget?.value ?? r.mdaUser).sort(), ['/usr/bin/archive --list', 'daemon', 'root']);
    assert.equal(refused(await resolve(lka, 'missing@example.org')), '451 4.2.4 Temporary mailing list expansion problem');
    assert.match(refused(await resolve(lka, 'deep@example.org')), /^524 5\.2\.4/, 'a loop of aliases ends at the depth limit');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Not root: the rules for root's .forward would apply. As root the files are given to nobody. */
const FWD_UID = process.getuid!() === 0 ? 65534 : process.getuid!();
const FWD_GID = process.getuid!() === 0 ? 65534 : process.getgid!();

/** A userbase whose users have the uid FWD_UID and the home `home`. */
function forwardSite(home: string, local: Partial<Action> = {}): Lka {
  const me = `${FWD_UID}:${FWD_GID}:${home}`;
  return site({ userbase: 'users', ...local }, { tables: [mapTable('users', { alice: me, bob: me })] });
}

test('~/.forward: its targets replace the delivery, naming oneself keeps it; unsafe files are ignored', async () => {
  const home = mkdtempSync(join(tmpdir(), 'lka-home-'));
  try {
    chmodSync(home, 0o755);
    const fwd = join(home, '.forward');
    writeFileSync(fwd, '# forward\nbob@elsewhere.net, "|/usr/bin/procmail"\n/tmp/alice-copy\n');
    chmodSync(fwd, 0o644);
    if (process.getuid!() === 0) {
      chownSync(home, FWD_UID, FWD_GID);
      chownSync(fwd, FWD_UID, FWD_GID);
    }
    const got = ok(await resolve(forwardSite(home), 'alice@example.org'));
    assert.deepEqual(got.map((r) => `${r.type}:${r.mdaTarget ? `${r.mdaTarget.kind}=${r.mdaTarget.value}:${r.mdaUser}:${r.mdaTarget.system}` : r.dest}`).sort(),
      ['mda:command=/usr/bin/procmail:alice:false', 'mda:file=/tmp/alice-copy:alice:false', 'mta:bob@elsewhere.net']);
    writeFileSync(fwd, 'alice, bob@elsewhere.net\n');
    const keep = ok(await resolve(forwardSite(home), 'alice@example.org'));
    assert.deepEqual(keep.map((r) => `${r.type}:${r.mdaUser ?? r.dest}`).sort(), ['mda:alice', 'mta:bob@elsewhere.net']);
    chmodSync(fwd, 0o666);
    const unsafe = ok(await resolve(forwardSite(home), 'alice@example.org'));
    assert.deepEqual(unsafe.map((r) => `${r.type}:${r.mdaUser}`), ['mda:alice'], 'a world-writable .forward is not followed');
    chmodSync(fwd, 0o644);
    chmodSync(home, 0o1755);
    assert.equal(refused(await resolve(forwardSite(home), 'alice@example.org')), '451 4.2.4 Temporary mailing list expansion problem', 'a sticky home is a temporary failure');
    chmodSync(home, 0o755);
    writeFileSync(fwd, '');
    assert.deepEqual(ok(await resolve(forwardSite(home), 'alice@example.org')).map((r) => r.mdaUser), ['alice'], 'an empty .forward delivers normally');
    assert.equal(refused(await resolve(forwardSite(home, { method: { kind: 'forward-only' } } as Partial<Action>), 'alice@example.org')), '451 4.2.4 Temporary mailing list expansion problem');
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('error: alias targets answer their own code and text', async () => {
  const lka = site({ alias: 'aliases' }, { tables: [mapTable('aliases', { gone: '"error:550 5.1.6 gone, write to bob@elsewhere.net"', busy: 'error:450 try again later', split: 'error:550 gone, write to bob' })] });
  assert.equal(refused(await resolve(lka, 'gone@example.org')), '550 5.1.6 gone, write to bob@elsewhere.net');
  // Unquoted, the comma splits the value (as in OpenSMTPD) and "write to bob" is no valid entry.
  assert.equal(refused(await resolve(lka, 'split@example.org')), '451 4.2.4 Temporary mailing list expansion problem');
  assert.equal(refused(await resolve(lka, 'busy@example.org')), '450 4.0.0 try again later');
});

test('a malformed alias value is a temporary failure', async () => {
  const lka = site({ alias: 'aliases' }, { tables: [mapTable('aliases', { bad: 'not valid@@x' })] });
  assert.equal(refused(await resolve(lka, 'bad@example.org')), '451 4.2.4 Temporary mailing list expansion problem');
});

test('virtual: lookup order user+tag@dom, user@dom, user+tag, user, @dom, @', async () => {
  const order = ['bob+tag@example.org', 'bob@example.org', 'bob+tag', 'bob', '@example.org', '@'];
  const users = ['root', 'daemon', 'nobody', 'bin', 'sys', 'sync'];
  const userbase = mapTable('users', Object.fromEntries(users.map((u, i) => [u, `${1000 + i}:${1000 + i}:/var/vmail/${u}`])));
  for (let i = 0; i < order.length; i++) {
    const map = Object.fromEntries(order.slice(i).map((k, j) => [k, users[i + j] ?? 'root']));
    const lka = site({ virtual: 'virt', userbase: 'users' }, { tables: [mapTable('virt', map), userbase] });
    const [r] = ok(await resolve(lka, 'Bob+Tag@example.org'));
    assert.equal(r?.mdaUser, users[i], `key ${order[i]} should win`);
  }
});

test('virtual: misses are unknown users; catch-alls only for addresses, not for user names', async () => {
  const userbase = mapTable('users', { vmail: '2000:2000:/var/vmail' });
  const lka = site({ virtual: 'virt', userbase: 'users' }, { tables: [mapTable('virt', { 'info@example.org': 'vmail', 'sales@example.org': 'ghost' }), userbase] });
  const [r] = ok(await resolve(lka, 'info@example.org'));
  assert.deepEqual(r, { dispatcher: 'local', type: 'mda', dest: 'info@example.org', mdaUser: 'vmail', ttl: 345_600 });
  assert.equal(refused(await resolve(lka, 'nobody@example.org')), '550 5.1.1 <nobody@example.org>: Invalid recipient: user unknown');
  assert.match(refused(await resolve(lka, 'sales@example.org')), /^550 5\.1\.1/);
  const catchAll = site({ virtual: 'virt', userbase: 'users' }, { tables: [mapTable('virt', { '@example.org': 'vmail' }), userbase] });
  assert.equal(ok(await resolve(catchAll, 'anything@example.org'))[0]?.mdaUser, 'vmail');
});

test('virtual values may be remote addresses (relayed) and lists', async () => {
  const lka = site({ virtual: 'virt' }, { tables: [mapTable('virt', { 'team@example.org': 'root, carol@remote.net' })] });
  const out = ok(await resolve(lka, 'team@example.org'));
  assert.deepEqual(out.map((r) => `${r.type}:${r.dest}`).sort(), ['mda:team@example.org', 'mta:carol@remote.net']);
});

test('userbase tables replace system users; `user` keeps the recipient as mdaUser', async () => {
  const lka = site({ userbase: 'users', user: 'vmail' }, { tables: [mapTable('users', { joe: '3000:3000:/var/vmail/joe' })] });
  const [r] = ok(await resolve(lka, 'joe@example.org'));
  assert.equal(r?.mdaUser, 'joe');
  assert.match(refused(await resolve(lka, 'root@example.org')), /^550 5\.1\.1/, 'root is not in the userbase');
});

test('forward-only and expand-only actions without .forward support', async () => {
  const fwd = site({ method: { kind: 'forward-only' }, alias: 'aliases' }, { tables: [mapTable('aliases', { out: 'bob@remote.net' })] });
  assert.deepEqual(ok(await resolve(fwd, 'out@example.org')).map((r) => r.type), ['mta']);
  assert.equal(refused(await resolve(fwd, 'root@example.org')), '451 4.2.4 Temporary mailing list expansion problem');
  const exp = site({ method: { kind: 'expand-only' } });
  assert.equal(refused(await resolve(exp, 'root@example.org')), '524 5.2.4 Mailing list expansion problem');
});

test('tables that cannot answer give temporary failures', async () => {
  const db: TableDef = { file: 't', line: 1, name: 'aliases', type: 'db', path: '/etc/mail/aliases.db' };
  assert.equal(refused(await resolve(site({ alias: 'aliases' }, { tables: [db] }), 'root@example.org')), '451 4.2.4 Temporary mailing list expansion problem');
  const lka = site({}, { tables: [db], matches: [rule({ from: from('any'), for: forr('domain', { table: 'aliases' }), action: 'local' })] });
  assert.equal(refused(await resolve(lka, 'root@example.org')), '451 4.3.0 Temporary lookup failure');
});

test('requests are validated: bad recipient, bad sender, bad shape; unqualified rcpt gets the server name', async () => {
  const lka = site();
  assert.match(refused(await resolve(lka, 'bad@@example.org')), /^501 5\.1\.3/);
  assert.match(refused(await resolve(lka, 'root@example.org', {}, 'x@@y')), /^553 5\.1\.7/);
  assert.match(refused(await lka.rcptResolve({ session: {}, sender: '', rcpt: 'root@example.org' })), /^501 5\.5\.4/);
  const [r] = ok(await resolve(site({}, { matches: [rule({ from: from('any'), for: forr('local'), action: 'local' })] }), 'root'));
  assert.equal(r?.dest, 'root@mx.example.org');
});

test('userLookup: system users, userbase tables, unknown users, bad names', async () => {
  const lka = site({}, { tables: [mapTable('users', { joe: '3000:3001:/var/vmail/joe', broken: 'x:y' })] });
  const root = await lka.userLookup('root', null);
  assert.ok(root.ok && root.user.uid === 0 && root.user.username === 'root');
  assert.deepEqual(await lka.userLookup('Joe', 'users'), { ok: true, user: { username: 'joe', uid: 3000, gid: 3001, directory: '/var/vmail/joe' } });
  assert.equal((await lka.userLookup('ghost', 'users')).ok, false);
  const ghost = await lka.userLookup('ghost-user-xyz', null);
  assert.ok(!ghost.ok && ghost.kind === 'perm');
  const broken = await lka.userLookup('broken', 'users');
  assert.ok(!broken.ok && broken.kind === 'temp');
  const bad = await lka.userLookup('a b', null);
  assert.ok(!bad.ok && bad.kind === 'perm');
});

test('tableUpdate reloads file tables and refuses unknown names', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'lka-update-'));
  try {
    const path = join(dir, 'aliases');
    writeFileSync(path, 'team: root\n');
    const file: TableDef = { file: 't', line: 1, name: 'aliases', type: 'file', path };
    const lka = site({ alias: 'aliases' }, { tables: [file] });
    await lka.start();
    assert.equal(ok(await resolve(lka, 'team@example.org'))[0]?.mdaUser, 'root');
    writeFileSync(path, 'team: daemon\n');
    assert.equal(await lka.tableUpdate('aliases'), true);
    assert.equal(ok(await resolve(lka, 'team@example.org'))[0]?.mdaUser, 'daemon');
    assert.equal(await lka.tableUpdate('nope'), false);
    assert.equal(await lka.tableUpdate('<localnames>'), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('static lists of every table in a real config shape still resolve (list table as alias)', async () => {
  const lka = site({ alias: 'list' }, { tables: [listTable('list', ['root'])] });
  assert.equal(ok(await resolve(lka, 'root@example.org'))[0]?.mdaUser, 'root', 'a list has no values: no alias applies');
});
