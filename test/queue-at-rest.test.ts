// End-to-end: `queue compression` and `queue encryption KEY` (REFERENCE 4.5). A message held by a
// failing delivery sits in the spool with neither its body nor its addresses in clear; a restart
// with a wrong key, or without the option, refuses to start (status 1, the reason named) and
// delivers nothing; the right key delivers it byte-exact (read back with Python's mailbox). The
// key from stdin, and from the terminal (a pty from Python) or a clear error without one.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Daemon, freePort, startDaemon } from './lib/daemon.js';
import { buildMessage, deliverableUser, localMaildirConfig, storedBody, uniqueTag, userMaildir } from './lib/conf.js';
import { header, showReply, smtpSession, transaction, waitForMessage } from './lib/python.js';
import { countMaildir } from './lib/maildir.js';
import { python3, pyDir, smtpdBin } from './lib/paths.js';
import { run, waitFor } from './lib/proc.js';
import { showOutcome, startExpectingExit } from './lib/refusal.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const KEY = '3f2a9c04d1e87b65a0c4f19e2d7b3a58'; // openssl rand -hex 16
const OTHER_KEY = 'c0ffee00c0ffee00c0ffee00c0ffee00';
const user = await deliverableUser('tsmtpd-e4');
const dirs: string[] = [];
const daemons: Daemon[] = [];
after(async () => {
  for (const d of daemons) await d.stop();
  for (const dir of dirs) removeTestDir(dir);
});

function newDir(prefix: string): string {
  const dir = makeTestDir(prefix);
  makeSharedDir(`${dir}/mail`);
  dirs.push(dir);
  return dir;
}

/** A config file for a start that should be refused (the port does not matter then). */
function writeConf(dir: string, name: string, globals: string[]): string {
  const file = path.join(dir, name);
  writeFileSync(file, localMaildirConfig({ port: 1, dir }, { globals }));
  return file;
}

/** queue.db with its WAL and shared-memory files, as bytes on disk. */
function rawSpool(spool: string): Buffer {
  const f = path.join(spool, 'queue.db');
  return Buffer.concat([f, `${f}-wal`, `${f}-shm`].filter((p) => existsSync(p)).map((p) => readFileSync(p)));
}

async function send(port: number, rcpt: string, data: Buffer): Promise<void> {
  const s = await smtpSession(port, [{ op: 'ehlo' }, ...transaction('secret.sender@client.test', [rcpt], data), { op: 'quit' }]);
  assert.equal(s.replies[3]?.code, 250, s.replies.map(showReply).join('\n'));
}

describe('queue compression + encryption', () => {
  test('held mail is not in clear on disk; a wrong or missing key refuses to start; the right key delivers it intact', { timeout: 120_000 }, async () => {
    const dir = newDir('at-rest');
    const globals = ['queue compression', `queue encryption ${KEY}`];
    const blocker = path.join(dir, 'mail', user);
    writeFileSync(blocker, 'not a directory: the maildir cannot be created\n');
    const d1 = await startDaemon({ dir, config: (ctx) => localMaildirConfig(ctx, { globals }) });
    daemons.push(d1);
    const tag = uniqueTag('at-rest');
    const secret = `SECRET-BODY-${tag}`;
    const lines = [`${secret} first line`, 'utf-8: é ü ß ✓', '.a dot-stuffed line', `${secret} last line`];
    const rcpt = `${user}@localhost`;
    await send(d1.port, rcpt, buildMessage([`Subject: ${tag}`], lines));
    assert.ok(await waitFor(() => (/result=TempFail/.test(d1.output()) ? true : undefined), 20_000), `no failed attempt\n${d1.describe()}`);

    // (b) while held, and after a clean stop: the spool files hold none of it in clear.
    for (const when of ['while held', 'after stop']) {
      if (when === 'after stop') assert.equal((await d1.stop()).code, 0, d1.describe());
      const raw = rawSpool(d1.spool);
      assert.ok(raw.byteLength > 4096, `${when}: no spool read (${raw.byteLength} bytes)`);
      for (const clear of [secret, rcpt, 'secret.sender@client.test', tag]) {
        assert.equal(raw.includes(clear), false, `${when}: "${clear}" is in clear in the spool`);
      }
    }
    rmSync(blocker); // from now on a start that runs would deliver: nothing may come out garbled
    const box = userMaildir(dir, user);

    // (c) a wrong key, (d) encryption removed: refused at start, naming the problem, status 1.
    const db = path.join(d1.spool, 'queue.db');
    const refusals: [string[], string][] = [
      [['queue compression', `queue encryption ${OTHER_KEY}`], `${db}: encrypted with a different key`],
      [['queue compression'], `${db}: encrypted, but no queue encryption in the configuration`],
      [[], `${db}: encrypted, but no queue encryption in the configuration`],
    ];
    for (const [g, why] of refusals) {
      const r = await startExpectingExit({ conf: writeConf(dir, 'refused.conf', g), spool: d1.spool });
      assert.equal(r.started, false, showOutcome(r));
      assert.equal(r.code, 1, showOutcome(r));
      assert.ok(r.output.includes(why), `expected "${why}"\n${showOutcome(r)}`);
      assert.equal(countMaildir(box), 0, 'something was delivered by a refused start');
    }

    // (a) the right key: delivered, byte-exact.
    const d2 = await startDaemon({ dir, config: (ctx) => localMaildirConfig(ctx, { globals }) });
    daemons.push(d2);
    const m = await waitForMessage('maildir', box, (x) => header(x, 'Subject') === tag, 60_000);
    assert.ok(m, `not delivered after the restart\n${d2.describe()}`);
    assert.ok(m.body.equals(storedBody(lines)), `body differs: ${m.body.toString('utf8')}`);
    assert.equal(countMaildir(box), 1);
  });
});

describe('the queue key from stdin or the terminal', () => {
  test('`queue encryption stdin`: the first line of stdin is the key; a bad line or none is refused', { timeout: 60_000 }, async () => {
    const dir = newDir('key-stdin');
    const spool = path.join(dir, 'spool');
    const conf = path.join(dir, 'stdin.conf');
    const port = await freePort();
    writeFileSync(conf, localMaildirConfig({ port, dir }, { globals: ['queue compression', 'queue encryption stdin'] }));
    const child = spawn(process.execPath, [smtpdBin, '-d', '-f', conf, '--spool', spool], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    child.stdin.end(`${KEY}\nthis second line is not read as part of the key\n`);
    const d = new Daemon(child, port, dir, spool, conf);
    daemons.push(d);
    assert.ok(await waitFor(() => (/smtpd: ready/.test(d.output()) ? true : undefined), 20_000), d.describe());
    const tag = uniqueTag('stdin-key');
    await send(port, `${user}@localhost`, buildMessage([`Subject: ${tag}`], ['by a key from stdin']));
    const m = await waitForMessage('maildir', userMaildir(dir, user), (x) => header(x, 'Subject') === tag, 20_000);
    assert.ok(m, d.describe());
    assert.equal((await d.stop()).code, 0);

    const short = await startExpectingExit({ conf, spool, stdin: `${KEY.slice(1)}\n` });
    assert.equal(short.code, 1, showOutcome(short));
    assert.match(short.output, /invalid key for queue encryption: 31 bytes, 32 needed/);
    const none = await startExpectingExit({ conf, spool, stdin: '' });
    assert.equal(none.code, 1, showOutcome(none));
    assert.match(none.output, /queue encryption stdin: no key on standard input/);
  });

  test('bare `queue encryption`: asked on the terminal without echo; no terminal is a clear error', { timeout: 60_000 }, async () => {
    const dir = newDir('key-prompt');
    const spool = path.join(dir, 'spool');
    const noTty = await startExpectingExit({ conf: writeConf(dir, 'prompt.conf', ['queue encryption']), spool });
    assert.equal(noTty.code, 1, showOutcome(noTty));
    assert.match(noTty.output, /no key in the configuration and no terminal to ask for it/);

    const port = await freePort();
    const conf = path.join(dir, 'prompt-port.conf');
    writeFileSync(conf, localMaildirConfig({ port, dir }, { globals: ['queue encryption'] }));
    const r = await run(python3, [path.join(pyDir, 'pty_answer.py'), 'queue key: ', KEY, 'smtpd: ready', process.execPath, smtpdBin, '-d', '-f', conf, '--spool', spool], { timeoutMs: 40_000 });
    const out = JSON.parse(r.stdout || '{}') as { prompted?: boolean; ready?: boolean; after_prompt?: string; status?: number };
    assert.equal(out.prompted, true, r.stdout + r.stderr);
    assert.equal(out.ready, true, r.stdout + r.stderr);
    assert.equal((out.after_prompt ?? '').includes(KEY), false, 'the key was echoed');
    assert.equal(out.status, 0, r.stdout + r.stderr);
  });
});
