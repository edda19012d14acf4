// End-to-end: delivery through LMTP to an independent server, a private dovecot instance on a unix
// socket (`action "lmtp" lmtp "/path/to/socket" rcpt-to`); its maildirs read back with Python.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { startDovecot, dovecotSkipReason, type Dovecot } from './lib/dovecot.js';
import { buildMessage, storedBody, uniqueTag } from './lib/conf.js';
import { header, showReply, smtpSession, transaction, waitForMessage } from './lib/python.js';
import { ensureUsers, type SystemUser } from './lib/users.js';
import { makeTestDir, removeTestDir } from './lib/tmp.js';

const users = dovecotSkipReason() === undefined ? await ensureUsers(['tsmtpd-e1', 'tsmtpd-e2']) : undefined;
const skip = dovecotSkipReason() ?? (users && !users.ok ? users.reason : false);
const dir = makeTestDir('lmtp');
let dove: Dovecot | undefined;
let d: Daemon | undefined;
let list: SystemUser[] = [];

before(async () => {
  if (skip !== false || !users?.ok) return;
  list = users.users;
  dove = await startDovecot(path.join(dir, 'dovecot'), list);
  const socket = dove.socket;
  d = await startDaemon({
    dir,
    config: ({ port }) =>
      `listen on 127.0.0.1 port ${port}\naction "lmtp" lmtp "${socket}" rcpt-to\nmatch from any for local action "lmtp"\n`,
  });
});
after(async () => {
  await d?.stop();
  await dove?.stop();
  removeTestDir(dir);
});

test('a message to two users is handed to dovecot over LMTP and lands in both maildirs', { skip }, async () => {
  assert.ok(d && dove);
  const tag = uniqueTag('lmtp');
  const body = ['over lmtp', '.dot line', 'caf\u00e9'];
  const to = list.map((u) => `${u.name}@localhost`);
  const s = await smtpSession(d.port, [{ op: 'ehlo' }, ...transaction('sender@client.test', to, buildMessage([`Subject: ${tag}`], body), ['BODY=8BITMIME']), { op: 'quit' }]);
  assert.equal(s.replies[2 + to.length]?.code, 250, s.replies.map(showReply).join('\n') + '\n' + d.describe());
  for (const u of list) {
    const m = await waitForMessage('maildir', dove.maildir(u.name), (x) => header(x, 'Subject') === tag, 20_000);
    assert.ok(m, `${tag} not delivered to ${u.name} by dovecot\n${d.describe()}\n--- dovecot log\n${dove.log()}`);
    assert.ok(m.body.equals(storedBody(body)), `body differs: ${JSON.stringify(m.body.toString('latin1'))}`);
  }
});
