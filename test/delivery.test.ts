// End-to-end: local delivery read back with Python's mailbox module. Two system users and an alias
// of both (maildir); dot-stuffing and 8-bit content byte-exact in a maildir and in an mbox.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { buildMessage, localMaildirConfig, storedBody, uniqueTag, userMaildir } from './lib/conf.js';
import { header, readMailbox, showReply, smtpSession, transaction, waitForMessage, type StoredMessage } from './lib/python.js';
import { ensureUsers } from './lib/users.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const users = await ensureUsers(['tsmtpd-e1', 'tsmtpd-e2', 'tsmtpd-e3']);
const skip = users.ok ? false : users.reason;
const names = users.ok ? users.users.map((u) => u.name) : [];
const [u1, u2, u3] = [names[0] ?? 'tsmtpd-e1', names[1] ?? 'tsmtpd-e2', names[2] ?? 'tsmtpd-e3'];

// Lines that must survive SMTP transparency (RFC 5321 4.5.2) and 8-bit transport unchanged.
const trickyBody: (string | Buffer)[] = [
  'first line',
  '.leading dot',
  '..two leading dots',
  '.',
  ' .space then dot',
  'a line with trailing spaces   ',
  'tab\there',
  'utf-8: é ü ß 日本語 ✓',
  Buffer.from([0x6c, 0x61, 0x74, 0x69, 0x6e, 0x31, 0x3a, 0x20, 0xe9, 0xfc, 0xff, 0xfe, 0x80]),
  '',
  '...',
  'last line',
];

/** Sends one message in its own session; asserts every reply of the transaction. */
async function send(d: Daemon, to: string[], data: Buffer, mailOpts: string[] = []): Promise<void> {
  const s = await smtpSession(d.port, [{ op: 'ehlo' }, ...transaction('sender@client.test', to, data, mailOpts), { op: 'quit' }]);
  const data250 = s.replies[2 + to.length];
  assert.equal(data250?.code, 250, `${s.replies.map(showReply).join('\n')}\n${d.describe()}`);
}

function bySubject(tag: string): (m: StoredMessage) => boolean {
  return (m) => header(m, 'Subject') === tag;
}

/** The stored message keeps our header lines verbatim and the body byte for byte (LF line ends). */
function assertExact(m: StoredMessage, headers: string[], body: Buffer, where: string): void {
  for (const h of headers) assert.ok(m.raw.includes(Buffer.from(`\n${h}\n`)) || m.raw.subarray(0, h.length + 1).equals(Buffer.from(`${h}\n`)), `${where}: header line "${h}" not kept verbatim`);
  assert.equal(m.body.toString('latin1'), body.toString('latin1'), `${where}: body differs`);
  assert.ok(m.body.equals(body), `${where}: body bytes differ`);
}

describe('maildir delivery', { skip }, () => {
  const dir = makeTestDir('maildir');
  makeSharedDir(`${dir}/mail`);
  let d: Daemon;
  before(async () => {
    d = await startDaemon({ dir, config: (ctx) => localMaildirConfig(ctx, { aliases: { both: [u1, u2] } }) });
  });
  after(async () => {
    await d?.stop();
    removeTestDir(dir);
  });

  test('a message to two system users reaches both maildirs', async () => {
    const tag = uniqueTag('two-users');
    await send(d, [`${u1}@localhost`, `${u2}@localhost`], buildMessage([`Subject: ${tag}`], ['to two users']));
    for (const u of [u1, u2]) {
      const m = await waitForMessage('maildir', userMaildir(dir, u), bySubject(tag));
      assert.ok(m, `${tag} not in ${u}'s maildir\n${d.describe()}`);
      assert.equal(m.body.toString('utf8'), 'to two users\n');
      assert.equal(m.subdir, 'new');
    }
  });

  test('a message to an alias of both users reaches both maildirs, once each', async () => {
    const tag = uniqueTag('alias');
    await send(d, ['both@localhost'], buildMessage([`Subject: ${tag}`], ['to the alias']));
    for (const u of [u1, u2]) {
      const m = await waitForMessage('maildir', userMaildir(dir, u), bySubject(tag));
      assert.ok(m, `${tag} not in ${u}'s maildir\n${d.describe()}`);
      assert.equal(m.body.toString('utf8'), 'to the alias\n');
    }
    await new Promise((r) => setTimeout(r, 500)); // a duplicate would have arrived by now
    for (const u of [u1, u2]) {
      const n = (await readMailbox('maildir', userMaildir(dir, u))).filter(bySubject(tag)).length;
      assert.equal(n, 1, `${u} got ${n} copies of ${tag}`);
    }
  });

  test('dot-stuffed and 8-bit lines are stored byte for byte in a maildir', async () => {
    const tag = uniqueTag('exact-maildir');
    const headers = [`Subject: ${tag}`, 'From: Sender <sender@client.test>', 'X-Eight-Bit: caf\u00e9'];
    await send(d, [`${u1}@localhost`], buildMessage(headers, trickyBody), ['BODY=8BITMIME']);
    const m = await waitForMessage('maildir', userMaildir(dir, u1), bySubject(tag));
    assert.ok(m, `${tag} not delivered\n${d.describe()}`);
    assertExact(m, headers, storedBody(trickyBody), 'maildir');
  });
});

describe('mbox delivery', { skip }, () => {
  const dir = makeTestDir('mbox');
  const mboxPath = `/var/mail/${u3}`;
  let d: Daemon;
  before(async () => {
    rmSync(mboxPath, { force: true });
    d = await startDaemon({
      dir,
      config: ({ port }) => `listen on 127.0.0.1 port ${port}\naction "mbox" mbox\nmatch from any for local action "mbox"\n`,
    });
  });
  after(async () => {
    await d?.stop();
    rmSync(mboxPath, { force: true });
    removeTestDir(dir);
  });

  test('dot-stuffed and 8-bit lines are stored byte for byte in an mbox', async () => {
    const tags = [uniqueTag('exact-mbox-1'), uniqueTag('exact-mbox-2')];
    const headers = (tag: string) => [`Subject: ${tag}`, 'From: Sender <sender@client.test>'];
    for (const tag of tags) await send(d, [`${u3}@localhost`], buildMessage(headers(tag), trickyBody), ['BODY=8BITMIME']);
    for (const tag of tags) {
      const m = await waitForMessage('mbox', mboxPath, bySubject(tag));
      assert.ok(m, `${tag} not in ${mboxPath}\n${d.describe()}`);
      assert.match(m.from_line ?? '', /^sender@client\.test /, 'the From_ line names the envelope sender');
      assertExact(m, headers(tag), storedBody(trickyBody), 'mbox');
    }
    const all = await readMailbox('mbox', mboxPath);
    assert.equal(all.length, 2, `${mboxPath} should hold exactly two messages`);
  });
});
