// End-to-end: sendmail as an ordinary user types it — `printf ... | sendmail -t` from sh, through a
// Debian-style `sendmail` symlink to the one smtpctl executable — submitted on the enqueue socket
// and delivered to another user's maildir; read back with Python's mailbox and email packages:
// Return-Path, Date, Message-ID, From, Bcc, the Received line naming the local user (the kernel's
// word, SO_PEERCRED), long lines sent quoted-printable, the sendmail options that are no-ops.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { localMaildirConfig, uniqueTag, userMaildir } from './lib/conf.js';
import { header, waitForMessage, type StoredMessage } from './lib/python.js';
import { ensureUsers, type SystemUser } from './lib/users.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';
import { checkMessage, installLinks, runAsUser, shQuote } from './lib/sendmail.js';
import { waitFor } from './lib/proc.js';

const users = await ensureUsers(['tsmtpd-e1', 'tsmtpd-e2', 'tsmtpd-e3']);
const skip = users.ok ? false : users.reason;
const [alice, bob, carol] = users.ok ? (users.users as [SystemUser, SystemUser, SystemUser]) : [];

/** The domain sendmail qualifies with: the mail name file, else the daemon's name (its greeting). */
function mailHost(): string {
  for (const f of ['/etc/mail/mailname', '/etc/mailname']) {
    if (existsSync(f)) {
      const n = readFileSync(f, 'utf8').split('\n')[0]?.trim();
      if (n) return n;
    }
  }
  return os.hostname();
}

describe('sendmail from a shell pipeline as an ordinary user', { skip }, () => {
  const dir = makeTestDir('sendmail');
  makeSharedDir(`${dir}/mail`);
  let d: Daemon;
  let bin: string;
  const host = mailHost();
  before(async () => {
    bin = installLinks(dir);
    d = await startDaemon({ dir, config: (ctx) => localMaildirConfig(ctx, { aliases: { team: [bob!.name, carol!.name] } }) });
  });
  after(async () => {
    await d?.stop();
    removeTestDir(dir);
  });

  const inbox = (u: SystemUser, tag: string) => waitForMessage('maildir', userMaildir(dir, u.name), (m: StoredMessage) => header(m, 'Subject') === tag);

  test('printf | sendmail -t: delivered with Return-Path, Date, Message-ID and From of the user, Bcc gone', async () => {
    const tag = uniqueTag('sm-t');
    const before = Date.now();
    const script = `printf 'To: ${bob!.name}@localhost\\nBcc: ${carol!.name}@localhost\\nSubject: ${tag}\\n\\nhello from a pipe\\n.\\n..two dots\\n' | sendmail -t`;
    const r = await runAsUser(alice!, bin, d.spool, script);
    assert.equal(r.code, 0, `sendmail failed: ${r.stderr}\n${d.describe()}`);
    for (const u of [bob!, carol!]) {
      const m = await inbox(u, tag);
      assert.ok(m, `${tag} not delivered to ${u.name}\n${d.describe()}`);
      const c = await checkMessage(m.raw);
      assert.equal(c.return_path, `<${alice!.name}@${host}>`);
      assert.equal(c.from_addr, `${alice!.name}@${host}`);
      assert.equal(c.from_name, 'tsmtpd test user', 'the full name comes from GECOS');
      assert.equal(c.dates.length, 1);
      assert.ok(c.date_epoch !== null && Math.abs(c.date_epoch * 1000 - before) < 120_000, `Date ${c.date} is not now`);
      assert.equal(c.message_ids.length, 1);
      assert.match(c.message_id ?? '', /^<[^<>@\s]+@[^<>@\s]+>$/);
      assert.deepEqual(c.bcc, [], 'Bcc must not be delivered');
      assert.match(c.received[0] ?? '', new RegExp(`from local user ${alice!.name} uid ${alice!.uid}`));
      assert.equal(m.body.toString(), 'hello from a pipe\n.\n..two dots\n');
    }
  });

  test('sendmail -f x user: the sender given, logged with the user who chose it', async () => {
    const tag = uniqueTag('sm-f');
    const r = await runAsUser(alice!, bin, d.spool, `printf 'Subject: ${tag}\\n\\nbody\\n' | sendmail -f '<list-owner@example.org>' ${bob!.name}`);
    assert.equal(r.code, 0, r.stderr);
    const m = await inbox(bob!, tag);
    assert.ok(m, d.describe());
    const c = await checkMessage(m.raw);
    assert.equal(c.return_path, '<list-owner@example.org>');
    assert.equal(c.from_addr, 'list-owner@example.org');
    const logged = await waitFor(() => (d.output().includes(`sender set by local user`) ? true : undefined), 5000);
    assert.ok(logged, d.describe());
    assert.match(d.output(), new RegExp(`smtp: sender set by local user session=\\S+ user=${alice!.name} uid=${alice!.uid} sender=<list-owner@example.org>`));
  });

  test('the accepted no-op options, -F, -r, an alias, and the existing Date/Message-ID kept', async () => {
    const tag = uniqueTag('sm-opts');
    const msg = `Subject: ${tag}\\nDate: Tue, 1 Dec 2026 10:00:00 +0100\\nMessage-ID: <given.1@example.org>\\n\\nx\\n`;
    const r = await runAsUser(alice!, bin, d.spool, `printf ${shQuote(msg)} | sendmail -i -oi -oem -odb -bm -em -x -m -F 'Alice Q. Tester' -r alice-r@example.org -N failure,delay -R hdrs -V env42 team`);
    assert.equal(r.code, 0, r.stderr);
    for (const u of [bob!, carol!]) {
      const m = await inbox(u, tag);
      assert.ok(m, d.describe());
      const c = await checkMessage(m.raw);
      assert.equal(c.return_path, '<alice-r@example.org>');
      assert.equal(c.from_name, 'Alice Q. Tester');
      assert.deepEqual(c.dates, ['Tue, 1 Dec 2026 10:00:00 +0100']);
      assert.deepEqual(c.message_ids, ['<given.1@example.org>']);
    }
  });

  test('a line of 2000 characters is sent quoted-printable and decodes back to itself', async () => {
    const tag = uniqueTag('sm-long');
    const line = Array.from({ length: 2000 }, (_, i) => String.fromCharCode(0x61 + (i % 26))).join('');
    writeFileSync(path.join(dir, 'long.txt'), `Subject: ${tag}\n\n${line}\nshort = line\n`);
    const r = await runAsUser(alice!, bin, d.spool, `sendmail ${bob!.name}@localhost < ${path.join(dir, 'long.txt')}`);
    assert.equal(r.code, 0, r.stderr);
    const m = await inbox(bob!, tag);
    assert.ok(m, d.describe());
    const c = await checkMessage(m.raw);
    assert.equal(c.cte, 'quoted-printable');
    assert.equal(Buffer.from(c.payload_b64, 'base64').toString(), `${line}\nshort = line\n`);
    for (const l of m.raw.toString('latin1').split('\n')) assert.ok(l.length < 990, `a stored line is ${l.length} long`);
  });

  test('bad input: an address with CR LF is refused before anything is sent; no recipients is an error', async () => {
    const r = await runAsUser(alice!, bin, d.spool, `printf 'Subject: x\\n\\nx\\n' | sendmail "$(printf 'a@b>\\r\\nRCPT TO:<${bob!.name}@localhost')"`);
    assert.equal(r.code, 65, r.stderr);
    assert.match(r.stderr, /invalid address/);
    const none = await runAsUser(alice!, bin, d.spool, `printf 'Subject: x\\n\\nx\\n' | sendmail -t`);
    assert.equal(none.code, 70);
    assert.match(none.stderr, /no recipients/);
    const usage = await runAsUser(alice!, bin, d.spool, `sendmail -Z x </dev/null`);
    assert.equal(usage.code, 64);
  });

  test('newaliases: the alias table is checked and the running daemon reloads it; sendmail -bi is newaliases', async () => {
    const root: SystemUser = { name: 'root', uid: 0, gid: 0, home: '/root' };
    const aliases = path.join(dir, 'aliases');
    writeFileSync(aliases, `team: ${bob!.name}, ${carol!.name}\nnewteam: ${carol!.name}\n`);
    const r = await runAsUser(root, bin, d.spool, `newaliases -f ${d.confPath}`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${aliases}: 2 aliases\n`);
    const tag = uniqueTag('sm-newalias');
    const sent = await runAsUser(alice!, bin, d.spool, `printf 'Subject: ${tag}\n\nx\n' | sendmail newteam`);
    assert.equal(sent.code, 0, `the new alias is not known: ${sent.stderr}\n${d.describe()}`);
    assert.ok(await inbox(carol!, tag), d.describe());
    // An ordinary user may check the table but not make the daemon reload it.
    const user = await runAsUser(alice!, bin, d.spool, `newaliases -f ${d.confPath}`);
    assert.equal(user.code, 1);
    assert.match(user.stderr, /update table aliases: denied/);
    const bi = await runAsUser(alice!, bin, d.spool, 'sendmail -bi');
    // No -f for -bi (it is the sender option): the default configuration is read.
    if (existsSync('/etc/mail/smtpd.conf')) assert.notEqual(bi.code, null);
    else assert.match(bi.stderr, /\/etc\/mail\/smtpd\.conf/);
  });
});
