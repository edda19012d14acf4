// End-to-end: the seed paper's smtpd.conf in the pre-6.4 grammar (an mbox domain, local mail
// through an alias table into maildirs, relaying for local senders), started without
// --old-grammar, as a postmaster upgrading would. The log must show the warning with the modern
// form, which must itself load as a modern file; mail goes where the old rules said, read back
// with Python's mailbox module. OpenSMTPD 6.8 refuses this file: our one deliberate departure.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { buildMessage, uniqueTag, userMaildir } from './lib/conf.js';
import { header, showReply, smtpSession, transaction, waitForMessage, type SmtpStep, type StoredMessage } from './lib/python.js';
import { smtpdBin } from './lib/paths.js';
import { waitFor } from './lib/proc.js';
import { ensureUsers } from './lib/users.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const users = await ensureUsers(['tsmtpd-l1', 'tsmtpd-l2']);
const skip = users.ok ? false : users.reason;
const names = users.ok ? users.users.map((u) => u.name) : [];
const [u1, u2] = [names[0] ?? 'tsmtpd-l1', names[1] ?? 'tsmtpd-l2'];

/** The seed paper's rules, as OpenSMTPD 5.x and 6.0-6.3 read them (on a free port). */
function seedConfig(dir: string, port: number): string {
  return [
    '# smtpd.conf of the seed paper, in the grammar of OpenSMTPD before 6.4',
    `table aliases file:${dir}/aliases`,
    `listen on lo port ${port}`,
    '',
    'accept from any for domain example.org deliver to mbox',
    `accept for local alias <aliases> deliver to maildir "${dir}/mail/%{user.username}/Maildir"`,
    'accept for any relay',
    '',
  ].join('\n');
}

const session = (steps: SmtpStep[]): SmtpStep[] => [{ op: 'ehlo' }, ...steps, { op: 'quit' }];
const bySubject = (tag: string) => (m: StoredMessage): boolean => header(m, 'Subject') === tag;

describe('the pre-6.4 grammar, read without --old-grammar', { skip }, () => {
  const dir = makeTestDir('legacy');
  makeSharedDir(`${dir}/mail`);
  const mbox = `/var/mail/${u2}`;
  let d: Daemon;
  before(async () => {
    rmSync(mbox, { force: true });
    writeFileSync(`${dir}/aliases`, `team: ${u1}, ${u2}\npostmaster: ${u1}\n`);
    d = await startDaemon({ dir, config: ({ port }) => seedConfig(dir, port) });
  });
  after(async () => {
    await d?.stop();
    rmSync(mbox, { force: true });
    removeTestDir(dir);
  });

  test('the log says the old grammar was read and gives the modern form, a valid modern file', () => {
    const out = d.output();
    const warn = (l: string): string => `smtpd: warn: ${l}`;
    const expected = [
      warn(`${d.confPath}: the pre-6.4 grammar was read (OpenSMTPD 6.8 refuses it); its modern form is:`),
      warn('    # smtpd.conf of the seed paper, in the grammar of OpenSMTPD before 6.4'),
      warn(`    table aliases file:${dir}/aliases`),
      warn(`    listen on lo port ${d.port}`),
      warn('    action "mbox" mbox'),
      warn('    match from any for domain example.org action "mbox"'),
      warn(`    action "maildir" maildir "${dir}/mail/%{user.username}/Maildir" alias <aliases>`),
      warn('    match from local for local action "maildir"'),
      warn('    action "relay" relay'),
      warn('    match from local for any action "relay"'),
    ];
    const lines = out.split('\n');
    const at = lines.indexOf(expected[0] ?? '');
    assert.ok(at >= 0, `no legacy warning in the log\n${d.describe()}`);
    assert.deepEqual(lines.slice(at, at + expected.length), expected, d.describe());
    assert.ok(at < lines.findIndex((l) => /smtpd: ready/.test(l)), 'the warning comes at start, before ready');
    // The printed form is a modern configuration: smtpd -n reads it with no warning.
    const modern = `${dir}/modern.conf`;
    writeFileSync(modern, expected.slice(1).map((l) => l.replace(/^smtpd: warn: {5}/, '')).join('\n') + '\n');
    const check = spawnSync(process.execPath, [smtpdBin, '-n', '-f', modern], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(check.status, 0, check.stderr);
    assert.equal(check.stderr, 'configuration OK\n');
  });

  test('local mail to an alias of the old alias table reaches both maildirs', async () => {
    const tag = uniqueTag('legacy-alias');
    const s = await smtpSession(d.port, session(transaction('sender@client.test', ['team@localhost'], buildMessage([`Subject: ${tag}`], ['by the old rules']))));
    assert.equal(s.replies[3]?.code, 250, `${s.replies.map(showReply).join('\n')}\n${d.describe()}`);
    for (const u of [u1, u2]) {
      const m = await waitForMessage('maildir', userMaildir(dir, u), bySubject(tag));
      assert.ok(m, `${tag} not in ${u}'s maildir\n${d.describe()}`);
      assert.equal(m.body.toString('utf8'), 'by the old rules\n');
    }
  });

  test('mail for the domain of the mbox rule reaches the user\'s mbox', async () => {
    const tag = uniqueTag('legacy-mbox');
    const s = await smtpSession(d.port, session(transaction('sender@client.test', [`${u2}@example.org`], buildMessage([`Subject: ${tag}`], ['to an mbox']))));
    assert.equal(s.replies[3]?.code, 250, `${s.replies.map(showReply).join('\n')}\n${d.describe()}`);
    const m = await waitForMessage('mbox', mbox, bySubject(tag));
    assert.ok(m, `${tag} not in ${mbox}\n${d.describe()}`);
    assert.match(m.from_line ?? '', /^sender@client\.test /);
    assert.equal(m.body.toString('utf8'), 'to an mbox\n');
  });

  test('the relay rule takes a remote recipient from a local client; an unknown local user is refused', async () => {
    const s = await smtpSession(d.port, [
      { op: 'ehlo' }, { op: 'mail', addr: 'sender@client.test' },
      { op: 'rcpt', addr: 'someone@remote.example' }, { op: 'rcpt', addr: 'nobody-here@localhost' },
      { op: 'rset' }, { op: 'quit' },
    ]);
    assert.equal(s.replies[2]?.code, 250, s.replies.map(showReply).join('\n'));
    assert.equal(s.replies[3]?.code, 550, s.replies.map(showReply).join('\n'));
  });

  test('a reload (SIGHUP) of the old file logs the warning again and keeps serving', async () => {
    const first = `${d.confPath}: the pre-6.4 grammar was read`;
    const count = (): number => d.output().split('\n').filter((l) => l.includes(first)).length;
    const before = count();
    process.kill(d.pid, 'SIGHUP');
    const reloaded = await waitFor(() => (/smtpd: reloaded/.test(d.output()) && count() > before ? true : undefined), 20_000);
    assert.ok(reloaded, `no reload with the legacy warning\n${d.describe()}`);
    const tag = uniqueTag('legacy-reload');
    const s = await smtpSession(d.port, session(transaction('sender@client.test', ['team@localhost'], buildMessage([`Subject: ${tag}`], ['after the reload']))));
    assert.equal(s.replies[3]?.code, 250, `${s.replies.map(showReply).join('\n')}\n${d.describe()}`);
    assert.ok(await waitForMessage('maildir', userMaildir(dir, u1), bySubject(tag)), `${tag} not delivered\n${d.describe()}`);
  });
});
