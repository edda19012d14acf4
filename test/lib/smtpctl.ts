// Running the real smtpctl binary (packages/smtpctl/bin/smtpctl.js) against a test spool, and
// parsing its `show queue` lines and `show stats` key=value lines field by field.
import path from 'node:path';
import { repoRoot } from './paths.js';
import { run, type RunOptions, type RunResult } from './proc.js';

export const smtpctlBin = path.join(repoRoot, 'packages/smtpctl/bin/smtpctl.js');
export const mailqBin = path.join(repoRoot, 'packages/smtpctl/bin/mailq.js');

export function smtpctl(spool: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, [smtpctlBin, '--spool', spool, ...args], { timeoutMs: 20_000, ...opts });
}

export interface QueueLine {
  evpid: string; family: string; type: string; flags: string[]; sender: string; rcpt: string; dest: string;
  ctime: number; expiry: number; lasttry: number; retry: number; runstate: string; delay: string; errorline: string;
}

/** One `show queue` line: 14 `|`-separated fields (the error line, last, may hold `|`). */
export function parseQueueLine(line: string): QueueLine {
  const f = line.split('|');
  if (f.length < 14) throw new Error(`show queue line has ${f.length} fields: ${line}`);
  const num = (s: string, what: string) => {
    if (!/^-?\d+$/.test(s)) throw new Error(`${what} is not a number in: ${line}`);
    return Number(s);
  };
  return {
    evpid: f[0]!, family: f[1]!, type: f[2]!, flags: f[3] === '' ? [] : f[3]!.split(','), sender: f[4]!, rcpt: f[5]!, dest: f[6]!,
    ctime: num(f[7]!, 'ctime'), expiry: num(f[8]!, 'expiry'), lasttry: num(f[9]!, 'lasttry'), retry: num(f[10]!, 'retry'),
    runstate: f[11]!, delay: f[12]!, errorline: f.slice(13).join('|'),
  };
}

export function parseQueue(stdout: string): QueueLine[] {
  return stdout.split('\n').filter((l) => l !== '').map(parseQueueLine);
}

/** `show stats`: key=value lines, in order. */
export function parseStats(stdout: string): { keys: string[]; values: Map<string, string> } {
  const keys: string[] = [];
  const values = new Map<string, string>();
  for (const line of stdout.split('\n').filter((l) => l !== '')) {
    const m = /^([A-Za-z0-9._-]+)=(.*)$/.exec(line);
    if (!m) throw new Error(`not a key=value line: ${line}`);
    keys.push(m[1]!);
    values.set(m[1]!, m[2]!);
  }
  return { keys, values };
}
