// Expansion end to end, as root with real users and their home directories: a ~/.forward to
// another user, a pipe and a file (run and written as the user); a world-writable .forward not
// followed; an alias to an :include: list with a |command run as the unprivileged account; mail
// read back with Python's mailbox. The users tsmtpd-x1/x2 are this file's own (other files run
// in parallel and their users' homes must not get a .forward).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { buildMessage, uniqueTag, userMaildir } from './lib/conf.js';
import { header, showReply, smtpSession, transaction, waitForMessage } from './lib/python.js';
import { sleep } from './lib/proc.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';
import { ensureUsers, type SystemUser } from './lib/users.js';

const users = await ensureUsers(['tsmtpd-x1', 'tsmtpd-x2']);
const skip = users.ok ? false : users.reason;
const [x1, x2] = users.ok ? users.users : ([] as SystemUser[]);

function putForward(u: SystemUser, text: string, mode = 0o644): void {
  const f = path.join(u.home, '.forward');
  writeFileSync(f, text);
  chownSync(f, u.uid, u.gid);
  chmodSync(f, mode);
}

async function waitFile(p: string, pred: (s: string) => boolean, ms = 15_000): Promise<string> {
  for (let t = 0; t < ms; t += 200) {
    if (existsSync(p)) {
      const s = readFileSync(p, 'utf8');
      if (pred(s)) return s;
    }
    await sleep(200);
  }
  return existsSync(p) ? readFileSync(p, 'utf8') : '';
}

describe('aliases, includes and ~/.forward end to end', { skip }, () => {
  const dir = makeTestDir('expansion');
  makeSharedDir(path.join(dir, 'mail'));
  const out = makeSharedDir(path.join(dir, 'out'));
  let d: Daemon;

  before(async () => {
    if (!x1 || !x2) return;
    for (const u of [x1, x2]) {
      mkdirSync(u.home, { recursive: true });
      chownSync(u.home, u.uid, u.gid);
      chmodSync(u.home, 0o755);
      rmSync(path.join(u.home, 'piped.txt'), { force: true });
      rmSync(path.join(u.home, 'archive.mbox'), { force: true });
    }
    putForward(x1, `# x1 forwards\n${x2.name}, "|/bin/sh -c 'cat >> $HOME/piped.txt'"\n${x1.home}/archive.mbox\n`);
    putForward(x2, `${x1.name}\n`, 0o666); // world-writable: must not be followed
    writeFileSync(path.join(dir, 'list'), `${x2.name}\n"|/bin/sh -c 'id -u > ${out}/alias-uid; cat > ${out}/alias-msg'"\n`);
    writeFileSync(path.join(dir, 'aliases'), `team: :include:${dir}/list\n`);
    d = await startDaemon({
      dir,
      config: (ctx) => [
        `listen on 127.0.0.1 port ${ctx.port}`,
        `table aliases file:${dir}/aliases`,
        `action "local" maildir "${dir}/mail/%{user.username}/Maildir" alias <aliases>`,
        'match from any for local action "local"',
        '',
      ].join('\n'),
    });
  });
  after(async () => {
    await d?.stop();
    for (const u of [x1, x2]) if (u) rmSync(path.join(u.home, '.forward'), { force: true });
    removeTestDir(dir);
  });

  async function deliver(to: string, tag: string): Promise<void> {
    const msg = buildMessage([`Subject: ${tag}`, 'From: sender@client.test'], ['hello from the test']);
    const s = await smtpSession(d.port, [{ op: 'ehlo' }, ...transaction('sender@client.test', [to], msg), { op: 'quit' }]);
    assert.equal(s.replies[3]?.code, 250, `${s.replies.map(showReply).join('\n')}\n${d.describe()}`);
  }

  test('a .forward to a user, a pipe and a file, each as the user; a world-writable one ignored', async () => {
    const tag = uniqueTag('fwd');
    await deliver(`${x1!.name}@localhost`, tag);
    // To x2 (whose own .forward, world-writable, is not followed: no loop back to x1).
    assert.ok(await waitForMessage('maildir', userMaildir(dir, x2!.name), (m) => header(m, 'Subject') === tag), d.describe());
    const piped = await waitFile(path.join(x1!.home, 'piped.txt'), (s) => s.includes(tag));
    assert.ok(piped.includes(`Subject: ${tag}`), `${piped}\n${d.describe()}`);
    assert.equal(statSync(path.join(x1!.home, 'piped.txt')).uid, x1!.uid, 'the pipe ran as the user');
    const archived = await waitForMessage('mbox', path.join(x1!.home, 'archive.mbox'), (m) => header(m, 'Subject') === tag);
    assert.ok(archived, d.describe());
    assert.equal(statSync(path.join(x1!.home, 'archive.mbox')).uid, x1!.uid, 'the file belongs to the user');
    // x1's own maildir got nothing: its .forward does not name it.
    assert.ok(!existsSync(userMaildir(dir, x1!.name)) || !(await waitForMessage('maildir', userMaildir(dir, x1!.name), (m) => header(m, 'Subject') === tag, 500)));
    assert.match(d.describe(), /forward file ignored.*(group or world writable|writable by others)/);
  });

  test('an alias to an :include: list: a user and a command run as the unprivileged account', async () => {
    const tag = uniqueTag('inc');
    await deliver('team@localhost', tag);
    assert.ok(await waitForMessage('maildir', userMaildir(dir, x2!.name), (m) => header(m, 'Subject') === tag), d.describe());
    const msg = await waitFile(path.join(out, 'alias-msg'), (s) => s.includes(tag));
    assert.ok(msg.includes(`Subject: ${tag}`), d.describe());
    const uid = Number(readFileSync(path.join(out, 'alias-uid'), 'utf8').trim());
    assert.ok(Number.isInteger(uid) && uid !== 0, `alias command ran as uid ${uid}`);
  });
});
