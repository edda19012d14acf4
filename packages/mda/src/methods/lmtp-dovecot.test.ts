// The LMTP client against a real dovecot LMTP server (Debian's dovecot-core + dovecot-lmtpd),
// started here with a minimal generated configuration and stopped by its pid. Needs root
// (dovecot switches to the mail user) and the binary; skipped otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { openLmtp } from './lmtp.js';
import { chunks, deliverParts, pythonRead, tempDir } from '../test-util.js';

const DOVECOT = '/usr/sbin/dovecot';
const NOBODY = 65534;
const usable = process.getuid?.() === 0 && existsSync(DOVECOT);

function config(dir: string): string {
  return `protocols = lmtp
base_dir = ${dir}/run
state_dir = ${dir}/state
instance_name = tsmtpd-mda-test-${process.pid}
listen = 127.0.0.1
ssl = no
log_path = ${dir}/dovecot.log
default_internal_user = root
default_internal_group = root
default_login_user = root
mail_location = maildir:${dir}/mail/%u/Maildir
passdb {
  driver = passwd-file
  args = ${dir}/users
}
userdb {
  driver = passwd-file
  args = ${dir}/users
}
service lmtp {
  unix_listener lmtp {
    path = ${dir}/lmtp.sock
    mode = 0666
  }
}
`;
}

async function startDovecot(dir: string): Promise<ChildProcess> {
  for (const sub of ['run', 'state', 'mail']) mkdirSync(join(dir, sub));
  chownSync(join(dir, 'mail'), NOBODY, NOBODY);
  writeFileSync(join(dir, 'users'), `alice:{PLAIN}x:${NOBODY}:${NOBODY}::${dir}/mail/alice::\n`);
  writeFileSync(join(dir, 'dovecot.conf'), config(dir));
  const child = spawn(DOVECOT, ['-F', '-c', join(dir, 'dovecot.conf')], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !existsSync(join(dir, 'lmtp.sock')); i++) await new Promise((r) => setTimeout(r, 100));
  if (!existsSync(join(dir, 'lmtp.sock'))) {
    await stopDovecot(child);
    throw new Error('dovecot did not create its LMTP socket');
  }
  return child;
}

async function stopDovecot(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise((r) => child.once('exit', r));
  process.kill(child.pid, 'SIGTERM');
  const t = setTimeout(() => child.pid !== undefined && process.kill(child.pid, 'SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

test('dovecot LMTP: delivery to a user lands in its Maildir; an unknown user is a permanent failure', { skip: !usable && 'needs root and dovecot' }, async () => {
  const d = tempDir('dovecot');
  const child = await startDovecot(d.path);
  try {
    const sock = join(d.path, 'lmtp.sock');
    const base = { destination: sock, lhlo: 'mx.test', mailFrom: 'bob@x.org', timeouts: { connect: 5000, command: 10_000, data: 10_000 } };
    const body = 'Return-Path: <bob@x.org>\nDelivered-To: alice@y.org\nSubject: via lmtp\n\n.dot first\nFrom here\nend\n';
    const o = await deliverParts(openLmtp({ ...base, rcptTo: 'alice' }), chunks(body, 5));
    assert.equal(o.status, 'ok', o.errorline);
    assert.match(o.errorline, /^250 2\.0\.0 <alice> /);
    const msgs = pythonRead('maildir', join(d.path, 'mail', 'alice', 'Maildir'));
    assert.equal(msgs.length, 1);
    assert.ok(msgs[0]!.headers.some(([k, v]) => k === 'Subject' && v === 'via lmtp'));
    assert.equal(msgs[0]!.body, '.dot first\nFrom here\nend\n');
    const unknown = await openLmtp({ ...base, rcptTo: 'bob' });
    assert.ok(!unknown.ok);
    if (!unknown.ok) {
      assert.equal(unknown.outcome.status, 'permfail');
      assert.match(unknown.outcome.errorline, /^550 5\.1\.1 /);
    }
  } finally {
    await stopDovecot(child);
    d.remove();
  }
});
