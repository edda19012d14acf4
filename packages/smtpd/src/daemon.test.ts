// The smtpd binary as a postmaster runs it: -n checks, a clean start and SIGTERM stop,
// and fail-fast exits with the reason when an actor cannot run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const bin = new URL('../bin/smtpd.js', import.meta.url).pathname;

function tmp(): string {
  // 0755: started as root, the daemon's unprivileged actor process must reach the spool in it.
  const dir = mkdtempSync(join(tmpdir(), 'smtpd-test-'));
  chmodSync(dir, 0o755);
  return dir;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

function localConfig(dir: string, port: number): string {
  const file = join(dir, 'smtpd.conf');
  writeFileSync(file, `listen on 127.0.0.1 port ${port}\naction "l" maildir "${dir}/%{user.username}"\nmatch from any for local action "l"\n`);
  return file;
}

interface Run {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

function start(args: string[]): Run {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, stderr: () => err, exited };
}

async function waitFor(pred: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function banner(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    s.setTimeout(3000, () => reject(new Error('no banner')));
    s.once('data', (d) => {
      s.end('QUIT\r\n');
      resolve(d.toString());
    });
    s.on('error', reject);
  });
}

test('-n prints "configuration OK" for a good file and exits 0', async () => {
  const dir = tmp();
  try {
    const r = spawnSync(process.execPath, [bin, '-n', '-f', localConfig(dir, 2525)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^configuration OK$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('-n reports every error as file:line and exits 1', async () => {
  const dir = tmp();
  try {
    const file = join(dir, 'bad.conf');
    writeFileSync(file, 'listen on 127.0.0.1\nmatch from any for local action "nowhere"\nbogus statement\n');
    const r = spawnSync(process.execPath, [bin, '-n', '-f', file], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`^${file}:2: .*nowhere`, 'm'));
    assert.match(r.stderr, new RegExp(`^${file}:3: syntax error`, 'm'));
    assert.doesNotMatch(r.stderr, /configuration OK/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('-D defines a macro', async () => {
  const dir = tmp();
  try {
    const file = join(dir, 'm.conf');
    writeFileSync(file, 'listen on $addr port 2525\naction "l" mbox\nmatch for local action "l"\n');
    assert.equal(spawnSync(process.execPath, [bin, '-n', '-f', file], { encoding: 'utf8' }).status, 1);
    const r = spawnSync(process.execPath, [bin, '-n', '-D', 'addr=127.0.0.1', '-f', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a file in the pre-6.4 grammar alone is read (OpenSMTPD 6.8 refuses it) with a warning giving its modern form; --old-grammar prints that form alone', async () => {
  const dir = tmp();
  try {
    const file = join(dir, 'old.conf');
    writeFileSync(file, 'listen on 127.0.0.1\naccept from any for domain "example.org" deliver to maildir\n');
    const plain = spawnSync(process.execPath, [bin, '-n', '-f', file], { encoding: 'utf8' });
    assert.equal(plain.status, 0, plain.stderr);
    assert.equal(plain.stdout, '');
    assert.equal(plain.stderr, [
      `${file}: the pre-6.4 grammar was read (OpenSMTPD 6.8 refuses it); its modern form is:`,
      '    listen on 127.0.0.1',
      '    action "maildir" maildir',
      '    match from any for domain example.org action "maildir"',
      'configuration OK', '',
    ].join('\n'));
    const old = spawnSync(process.execPath, [bin, '-n', '--old-grammar', '-f', file], { encoding: 'utf8' });
    assert.equal(old.status, 0, old.stderr);
    assert.equal(old.stderr, 'configuration OK\n');
    assert.equal(old.stdout, 'listen on 127.0.0.1\naction "maildir" maildir\nmatch from any for domain example.org action "maildir"\n');
    // both grammars: an error naming the old rule, with or without --old-grammar's say-so
    writeFileSync(file, 'listen on 127.0.0.1\naction "m" mbox\naccept for any relay\nmatch for local action "m"\n');
    const mixed = spawnSync(process.execPath, [bin, '-n', '-f', file], { encoding: 'utf8' });
    assert.equal(mixed.status, 1);
    assert.match(mixed.stderr, new RegExp(`^${file}:3: mixed grammars: a pre-6\\.4 rule \\(accept/reject\\) .*first at ${file}:2\\)`, 'm'));
    const forced = spawnSync(process.execPath, [bin, '-n', '--old-grammar', '-f', file], { encoding: 'utf8' });
    assert.equal(forced.status, 0, forced.stderr);
    assert.match(forced.stdout, /^match from local for any action "relay"$/m);
    // a legacy set across an included file: both translated, both printed, each under its name
    const inc = join(dir, 'rules.conf');
    writeFileSync(inc, 'accept for local deliver to mbox\n');
    writeFileSync(file, `listen on 127.0.0.1\ninclude "${inc}"\naccept for any relay\n`);
    const set = spawnSync(process.execPath, [bin, '-n', '--old-grammar', '-f', file], { encoding: 'utf8' });
    assert.equal(set.status, 0, set.stderr);
    assert.equal(set.stdout, [`# file: ${file}`, 'listen on 127.0.0.1', `include "${inc}"`, 'action "relay" relay', 'match from local for any action "relay"',
      `# file: ${inc}`, 'action "mbox" mbox', 'match from local for local action "mbox"', ''].join('\n'));
    const warned = spawnSync(process.execPath, [bin, '-n', '-f', file], { encoding: 'utf8' });
    assert.equal(warned.status, 0, warned.stderr);
    assert.match(warned.stderr, new RegExp(`^${inc}: the pre-6\\.4 grammar was read .*\n {4}action "mbox" mbox\n`, 'm'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('starts, greets, and stops on SIGTERM with status 0 within 5 s', async () => {
  const dir = tmp();
  const port = await freePort();
  const run = start(['-d', '-f', localConfig(dir, port), '--spool', join(dir, 'spool')]);
  try {
    await waitFor(() => /smtpd: ready/.test(run.stderr()), 15_000);
    assert.match(await banner(port), /^220 /);
    const t0 = Date.now();
    run.child.kill('SIGTERM');
    const code = await run.exited;
    assert.equal(code, 0, run.stderr());
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
  } finally {
    run.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an actor that cannot run makes the daemon say why and exit non-zero', async () => {
  const dir = tmp();
  const port = await freePort();
  const spool = join(dir, 'spool');
  spawnSync('mkdir', ['-p', spool]);
  writeFileSync(join(spool, 'queue.db'), 'this is not a database, and it is long enough to be read as one '.repeat(20));
  const run = start(['-d', '-f', localConfig(dir, port), '--spool', spool]);
  try {
    const timer = setTimeout(() => run.child.kill('SIGKILL'), 15_000);
    const code = await run.exited;
    clearTimeout(timer);
    assert.notEqual(code, 0);
    assert.notEqual(code, null, 'exited by itself, not killed');
    assert.match(run.stderr(), /fatal.*queue/i);
  } finally {
    run.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a port already in use is a clear failure, not a hang', async () => {
  const dir = tmp();
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as { port: number }).port;
  const run = start(['-d', '-f', localConfig(dir, port), '--spool', join(dir, 'spool')]);
  try {
    const timer = setTimeout(() => run.child.kill('SIGKILL'), 15_000);
    const code = await run.exited;
    clearTimeout(timer);
    assert.equal(code, 1, run.stderr());
    assert.match(run.stderr(), /EADDRINUSE|in use/i);
  } finally {
    run.child.kill('SIGKILL');
    blocker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
