// sendmail as a user runs it: a Debian-style `sendmail` symlink to the one smtpctl executable on
// PATH, called from `sh -c '... | sendmail ...'` as an ordinary system user (setpriv drops root:
// uid, gid, no supplementary groups). And Python's email package reading back what was delivered.
import { mkdirSync, symlinkSync, existsSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, pyDir, python3 } from './paths.js';
import { describeRun, run, type RunResult } from './proc.js';
import type { SystemUser } from './users.js';

export const smtpctlBin = path.join(repoRoot, 'packages/smtpctl/bin/smtpctl.js');

/** DIR/bin with sendmail, send-mail and newaliases symlinked to smtpctl (as /usr/sbin would have). */
export function installLinks(dir: string): string {
  const bin = path.join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  for (const name of ['sendmail', 'send-mail', 'newaliases']) {
    const p = path.join(bin, name);
    if (!existsSync(p)) symlinkSync(smtpctlBin, p);
  }
  return bin;
}

/** `sh -c SCRIPT` as `user`, with sendmail on PATH and the spool in SMTPD_SPOOL. */
export function runAsUser(user: SystemUser, bin: string, spool: string, script: string, input = ''): Promise<RunResult> {
  const env = { PATH: `${bin}:/usr/bin:/bin`, HOME: user.home, USER: user.name, LOGNAME: user.name, SMTPD_SPOOL: spool, LANG: 'C.UTF-8' };
  const args = [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', 'sh', '-c', script];
  return run('setpriv', args, { env, input, timeoutMs: 30_000, cwd: '/' });
}

export interface CheckedMessage {
  return_path: string | null;
  from_addr: string;
  from_name: string;
  date: string | null;
  date_epoch: number | null;
  message_id: string | null;
  message_ids: string[];
  dates: string[];
  received: string[];
  bcc: string[];
  cte: string | null;
  payload_b64: string;
  defects: string[];
}

/** The stored message as Python's email package reads it. */
export async function checkMessage(raw: Buffer): Promise<CheckedMessage> {
  const r = await run(python3, [path.join(pyDir, 'message_check.py')], { input: raw, timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(describeRun('message_check.py', r));
  return JSON.parse(r.stdout) as CheckedMessage;
}

/** Single-quote a string for sh (the test's own literals only). */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
