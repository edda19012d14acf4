#!/usr/bin/env node
// `npm start`: the daemon in the foreground on smtpd.conf.example (README's first command).
// As root it first creates the unprivileged user _smtpd when missing (the install step of the
// README's Privileges section) and keeps the spool in /var/spool/tsmtpd, which that user can
// reach; as an ordinary user the spool is ./spool. Extra arguments go to smtpd.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const asRoot = process.getuid?.() === 0;
if (asRoot && spawnSync('id', ['-u', '_smtpd'], { stdio: 'ignore' }).status !== 0) {
  process.stderr.write('start: creating the unprivileged user _smtpd (useradd --system)\n');
  const r = spawnSync('useradd', ['--system', '--home-dir', '/var/empty', '--shell', '/usr/sbin/nologin', '_smtpd'], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(1);
}
const spool = process.env['SMTPD_SPOOL'] ?? (asRoot ? '/var/spool/tsmtpd' : path.join(root, 'spool'));
const args = [path.join(root, 'packages/smtpd/bin/smtpd.js'), '-d', '-f', path.join(root, 'smtpd.conf.example'), '--spool', spool, ...process.argv.slice(2)];
const child = spawn(process.execPath, args, { stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
