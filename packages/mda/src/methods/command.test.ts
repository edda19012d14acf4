// `mda "command"` delivery: environment, exit codes, last output line, timeout, and that
// envelope data can never execute anything (REFERENCE 14, CVE-2020-7247).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCommand, exitOutcome, type CommandJob } from './command.js';
import { expandFormat, type FormatVars } from '../format.js';
import { commandEnv } from '../prepare.js';
import { deliverParts, tempDir } from '../test-util.js';
import type { Envelope } from '@tsmtpd/proto';

function job(command: string, extra: Partial<CommandJob> = {}): CommandJob {
  return { command, env: { PATH: '/usr/bin:/bin' }, cwd: '/', timeoutMs: 10_000, ...extra };
}

const ENV: Envelope = {
  id: '0123456789abcdef', msgid: '01234567', type: 'mda', dispatcher: 'local', smtpname: 'mx', helo: 'h', hostname: '', sockaddr: 'local',
  sender: 'bob@x.org', rcpt: 'Alice+lists@Y.org', dest: 'alice+lists@y.org', mdaUser: 'alice', mdaSubaddress: 'lists',
  ctime: 0, lastTry: 0, lastBounce: 0, ttl: 100, retry: 0, flags: [], dsnNotify: 0,
};

test('the message arrives on stdin; exit 0 is delivered', async () => {
  const d = tempDir('cmd');
  try {
    const out = join(d.path, 'out');
    const o = await deliverParts(openCommand(job(`cat > ${out}`)), ['Subject: x\n\n', 'body\n']);
    assert.equal(o.status, 'ok', o.errorline);
    assert.equal(readFileSync(out, 'utf8'), 'Subject: x\n\nbody\n');
  } finally {
    d.remove();
  }
});

test('envelope data reaches the command through the environment (REFERENCE 8.1)', async () => {
  const d = tempDir('cmd-env');
  try {
    const out = join(d.path, 'env');
    const env = commandEnv(ENV, { username: 'alice', uid: 1000, gid: 1000, directory: '/home/alice' });
    const o = await deliverParts(openCommand(job(`env > ${out}`, { env })), ['x\n']);
    assert.equal(o.status, 'ok', o.errorline);
    const got = Object.fromEntries(readFileSync(out, 'utf8').trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    for (const [k, v] of Object.entries({
      DOMAIN: 'y.org', HOME: '/home/alice', ORIGINAL_RECIPIENT: 'Alice+lists@Y.org', RECIPIENT: 'alice+lists@y.org', SHELL: '/bin/sh',
      LOCAL: 'alice+lists', LOGNAME: 'alice', USER: 'alice', SENDER: 'bob@x.org', EXTENSION: 'lists', PATH: '/usr/local/bin:/usr/bin:/bin',
    })) assert.equal(got[k], v, k);
  } finally {
    d.remove();
  }
});

test('exit 75 and 71 are temporary, 1 permanent; the last output line is the error text', async () => {
  const t = await deliverParts(openCommand(job('cat >/dev/null; echo first; echo "mailbox busy" >&2; exit 75')), ['x\n']);
  assert.deepEqual(t, { status: 'tempfail', errorline: 'mailbox busy' });
  const t71 = await deliverParts(openCommand(job('cat >/dev/null; exit 71')), ['x\n']);
  assert.deepEqual(t71, { status: 'tempfail', errorline: 'command exited with status 71' });
  const p = await deliverParts(openCommand(job('cat >/dev/null; echo "no such user"; echo; exit 1')), ['x\n']);
  assert.deepEqual(p, { status: 'permfail', errorline: 'no such user' });
});

test('a command that does not read its input is judged by its exit status alone', async () => {
  const big = Buffer.alloc(4 * 1024 * 1024, 0x61);
  const o = await deliverParts(openCommand(job('exit 0')), [big, big]);
  assert.equal(o.status, 'ok');
});

test('a command past its timeout is killed with its process group: temporary failure', async () => {
  const d = tempDir('cmd-timeout');
  try {
    const marker = join(d.path, 'late');
    const t0 = Date.now();
    const o = await deliverParts(openCommand(job(`(sleep 2; touch ${marker}) & sleep 30`, { timeoutMs: 300 })), ['x\n']);
    assert.equal(o.status, 'tempfail');
    assert.match(o.errorline, /timed out/);
    assert.ok(Date.now() - t0 < 5000);
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(existsSync(marker), false, 'the background child of the command was killed too');
  } finally {
    d.remove();
  }
});

test('a sender like ;id; or `id` or $(id) expands to inert text and executes nothing', async () => {
  const d = tempDir('cmd-inject');
  try {
    const pwned = join(d.path, 'pwned');
    for (const sender of [`;touch ${pwned};`, '`touch ' + pwned + '`', `$(touch ${pwned})`, `a|touch ${pwned}`, `"a;id"@x.org`, `x@y.org&&touch${pwned}`]) {
      const vars: FormatVars = { sender, rcpt: 'a@b.c', dest: 'a@b.c', username: 'alice', directory: '/home/alice', subAddrDelim: '+' };
      const x = expandFormat(`echo %{sender} %{sender.user} %{mbox.from} > ${join(d.path, 'arg')}`, vars, 'command');
      assert.ok(x.ok);
      const o = await deliverParts(openCommand(job(x.value)), ['x\n']);
      assert.equal(o.status, 'ok', `${sender}: ${o.errorline}`);
      assert.equal(existsSync(pwned), false, `${sender} executed something`);
      assert.doesNotMatch(readFileSync(join(d.path, 'arg'), 'utf8'), /[;`$|&/ ]touch/);
    }
  } finally {
    d.remove();
  }
});

test('exit status mapping', () => {
  assert.equal(exitOutcome(null, 'SIGKILL', '', false, 1000).status, 'tempfail');
  assert.equal(exitOutcome(0, null, 'done\n', false, 1000).status, 'ok');
  assert.equal(exitOutcome(67, null, '', false, 1000).status, 'permfail');
});
