// The five example configurations of REFERENCE 1.10, statements as written except `egress`,
// which OpenSMTPD 6.8 on Linux rejects (no interface groups there): `eth0` instead. The files
// they reference are created under a temp directory (paths rewritten from /etc/... to DIR/etc/...).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from './load.js';
import { mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { fakeNet, pkiFiles, tempDir } from './test-util.js';

const mkdirFor = (p: string): string => { mkdirSync(dirname(p), { recursive: true }); return p; };

const EXAMPLES: Record<string, string> = {
  a: `table aliases file:/etc/mail/aliases
listen on localhost
action "local" maildir alias <aliases>
action "relay" relay
# match from any for domain "example.org" action "local"
match for local action "local"
match from local for any action "relay"
`,
  b: `table aliases file:/etc/aliases
table secrets file:/etc/mail/secrets      # line: "isp user@example.org:password", mode 0640 root:_smtpd
listen on lo
action "local" mbox alias <aliases>
action "outbound" relay host smtp+tls://isp@smtp.example.net:587 auth <secrets> mail-from "@example.org"
match from local for local action "local"
match from local for any action "outbound"
`,
  c: `pki mx.example.org cert "/etc/ssl/mx.example.org.crt"
pki mx.example.org key  "/etc/ssl/private/mx.example.org.key"
table aliases   file:/etc/mail/aliases
table domains   { example.org, example.net }
table virtuals  file:/etc/mail/virtuals     # "alice@example.org alice", "@example.org alice"
table passwd    file:/etc/mail/passwd       # "alice $2b$..." (smtpctl encrypt)
table sendermap file:/etc/mail/virtuals
smtp max-message-size 50M
smtp limit max-rcpt 500
queue ttl 5d
bounce warn-interval 1h, 6h, 2d
filter "rdns"   phase connect match !rdns disconnect "550 5.7.1 no rDNS"
filter "fcrdns" phase connect match !fcrdns junk
filter "chk" chain { "rdns", "fcrdns" }
listen on lo
listen on eth0 tls pki mx.example.org hostname mx.example.org filter "chk"
listen on eth0 port 587 tls-require pki mx.example.org auth <passwd> senders <sendermap> masquerade tag SUBMIT
listen on eth0 port 465 smtps pki mx.example.org auth <passwd>
action "local"    mbox alias <aliases>
action "vmail"    maildir "/var/vmail/%{dest.domain:lowercase}/%{dest.user:lowercase}" junk virtual <virtuals> user vmail
action "outbound" relay helo mx.example.org
match from local for local action "local"
match from any for domain <domains> action "vmail"
match tag SUBMIT from any auth for any action "outbound"
match from local for any action "outbound"
`,
  d: `table relaydomains { example.org, example.com }
listen on eth0
queue ttl 7d
action "backup" relay backup mx "mx2.example.org"
action "local" mbox
match from any for domain <relaydomains> action "backup"
match from local for local action "local"
match from local for any reject
`,
  e: `table aliases file:/etc/aliases
listen on lo
listen on eth0
action "lmtp" lmtp "/var/run/dovecot/lmtp" rcpt-to alias <aliases>
action "mda"  mda "/usr/bin/procmail -f %{sender}" alias <aliases>
action "outbound" relay
match from any for domain "example.org" rcpt-to regex "^list-" action "mda"
match from any for domain "example.org" action "lmtp"
match !from local mail-from "@example.org" for any reject
match from local for any action "outbound"
`,
};

function setup(name: string): string {
  const t = tempDir();
  t.put('etc/mail/aliases', 'root: alice\npostmaster: root\n');
  t.put('etc/aliases', 'root: alice\n');
  t.put('etc/mail/secrets', 'isp user@example.org:password\n');
  const { cert, key } = pkiFiles(t);
  renameSync(cert, mkdirFor(`${t.dir}/etc/ssl/mx.example.org.crt`));
  renameSync(key, mkdirFor(`${t.dir}/etc/ssl/private/mx.example.org.key`));
  t.put('etc/mail/virtuals', 'alice@example.org alice\n@example.org alice\n');
  t.put('etc/mail/passwd', 'alice $2b$08$abcdefghijklmnopqrstuv\n');
  return t.put(`smtpd-${name}.conf`, (EXAMPLES[name] ?? '').replaceAll('/etc/', `${t.dir}/etc/`));
}

const load = async (name: string) => {
  const r = await loadConfig(setup(name), { net: fakeNet, serverName: 'mx.example.org' });
  if (!r.ok) assert.fail(r.errors.join('\n'));
  return r.config;
};

test('example (a): default config', async () => {
  const c = await load('a');
  assert.equal(c.tables['aliases']?.type, 'file');
  assert.deepEqual(c.listeners[1]?.addresses, [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }]);
  assert.deepEqual(c.actions['local']?.method, { kind: 'maildir', junk: false });
  assert.equal(c.actions['local']?.alias, 'aliases');
  assert.equal(c.matches.length, 2);
  assert.equal(c.matches[0]?.from.kind, 'local');
  assert.equal(c.matches[1]?.for.kind, 'any');
});

test('example (b): authenticated smarthost', async () => {
  const c = await load('b');
  const m = c.actions['outbound']?.method;
  assert.equal(m?.kind, 'relay');
  if (m?.kind !== 'relay') return;
  assert.deepEqual(m.host, { url: 'smtp+tls://isp@smtp.example.net:587', proto: 'smtp+tls', label: 'isp', hostname: 'smtp.example.net', port: 587 });
  assert.equal(m.auth, 'secrets');
  assert.equal(m.mailFrom, '@example.org');
  assert.equal(c.actions['local']?.method.kind, 'mbox');
});

test('example (c): primary MX with submission and virtual maildirs', async () => {
  const c = await load('c');
  assert.ok(c.pki['mx.example.org']?.cert.endsWith('/etc/ssl/mx.example.org.crt'));
  assert.deepEqual(c.tables['domains']?.list, ['example.org', 'example.net']);
  assert.equal(c.smtp.maxMessageSize, 50 * 1024 * 1024);
  assert.equal(c.smtp.maxRcpt, 500);
  assert.equal(c.queue.ttl, 5 * 86400);
  assert.deepEqual(c.bounce.warnIntervals, [3600, 6 * 3600, 2 * 86400]);
  assert.deepEqual(c.filters['chk'], { kind: 'chain', name: 'chk', filters: ['rdns', 'fcrdns'], file: c.filters['chk']?.file, line: 14 });
  const [, lo, mx, sub, smtps] = c.listeners;
  assert.equal(lo?.target, 'lo');
  assert.deepEqual(mx?.addresses.map((a) => a.address), ['192.0.2.2', 'fd00::2', 'fe80::1%eth0']);
  assert.equal(mx?.tls, true);
  assert.equal(mx?.filter, 'chk');
  assert.equal(mx?.hostname, 'mx.example.org');
  assert.equal(sub?.port, 587);
  assert.equal(sub?.tlsRequire, true);
  assert.equal(sub?.authTable, 'passwd');
  assert.equal(sub?.senders, 'sendermap');
  assert.equal(sub?.masquerade, true);
  assert.equal(sub?.tag, 'SUBMIT');
  assert.equal(smtps?.smtps, true);
  assert.equal(smtps?.port, 465);
  assert.equal(c.actions['vmail']?.user, 'vmail');
  assert.equal(c.actions['vmail']?.virtual, 'virtuals');
  assert.deepEqual(c.matches[2]?.tag, { negate: false, regex: false, value: 'SUBMIT' });
  assert.deepEqual(c.matches[2]?.auth, { negate: false, regex: false });
});

test('example (d): backup MX', async () => {
  const c = await load('d');
  const m = c.actions['backup']?.method;
  assert.deepEqual(m, { kind: 'relay', backup: true, backupMx: 'mx2.example.org', srs: false });
  assert.equal(c.queue.ttl, 7 * 86400);
  assert.equal(c.matches[2]?.reject, true);
  assert.equal(c.matches[2]?.action, undefined);
});

test('example (e): LMTP hand-off, external MDA, anti-spoof', async () => {
  const c = await load('e');
  assert.deepEqual(c.actions['lmtp']?.method, { kind: 'lmtp', destination: '/var/run/dovecot/lmtp', rcptTo: true });
  assert.deepEqual(c.actions['mda']?.method, { kind: 'mda', command: '/usr/bin/procmail -f %{sender}' });
  assert.deepEqual(c.matches[0]?.rcptTo, { negate: false, regex: true, value: '^list-' });
  assert.deepEqual(c.matches[0]?.for, { kind: 'domain', negate: false, regex: false, value: 'example.org' });
  assert.deepEqual(c.matches[2]?.from, { kind: 'local', negate: true, regex: false });
  assert.deepEqual(c.matches[2]?.mailFrom, { negate: false, regex: false, value: '@example.org' });
});

test('examples: `listen on egress` is an error on Linux, as OpenSMTPD 6.8 there', async () => {
  const t = tempDir();
  const f = t.put('smtpd.conf', (EXAMPLES['d'] ?? '').replace('listen on eth0', 'listen on egress'));
  const r = await loadConfig(f, { net: fakeNet });
  assert.deepEqual(r, { ok: false, errors: [`${f}:2: invalid virtual ip or interface: egress`] });
});
