// sendmail(8) / send-mail (REFERENCE 2.2): read a message on stdin and submit it to the daemon
// over the local enqueue socket in the spool (SMTP, packages/smtp's `listen on socket`), or, with
// the daemon down, keep it in the offline queue (exit 75) for the daemon to replay at start.
// The daemon learns who we are from the kernel (SO_PEERCRED), not from anything we say.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAddress } from '@tsmtpd/proto';
import { writeOffline } from './sendmail-offline.js';
import { composeMessage, envelopeOf, parseMessage, type ParsedMessage, type Submission } from './sendmail-message.js';
import { SmtpClient, SmtpError } from './sendmail-smtp.js';

export const EX_OK = 0;
export const EX_USAGE = 64;
export const EX_DATAERR = 65;
export const EX_UNAVAILABLE = 69;
export const EX_SOFTWARE = 70;
export const EX_TEMPFAIL = 75;
export const DEFAULT_SPOOL = '/var/spool/smtpd';
/** The daemon's replay passes the original submission time (ms) here. */
export const SUBMIT_TIME_ENV = 'TSMTPD_SUBMIT_TIME';

const str = { type: 'string', multiple: true } as const;
const flag = { type: 'boolean', multiple: true } as const;
/** OpenSMTPD's getopt string "A:B:b:E::e:F:f:iJ::L:mN:o:p:qr:R:StvV:x". */
const OPTIONS = {
  A: { ...str, short: 'A' }, B: { ...str, short: 'B' }, b: { ...str, short: 'b' }, E: { ...str, short: 'E' },
  e: { ...str, short: 'e' }, F: { ...str, short: 'F' }, f: { ...str, short: 'f' }, i: { ...flag, short: 'i' },
  J: { ...str, short: 'J' }, L: { ...str, short: 'L' }, m: { ...flag, short: 'm' }, N: { ...str, short: 'N' },
  o: { ...str, short: 'o' }, p: { ...str, short: 'p' }, q: { ...flag, short: 'q' }, r: { ...str, short: 'r' },
  R: { ...str, short: 'R' }, S: { ...flag, short: 'S' }, t: { ...flag, short: 't' }, v: { ...flag, short: 'v' },
  V: { ...str, short: 'V' }, x: { ...flag, short: 'x' },
} as const;

export interface SendmailArgs {
  from?: string;
  fullName?: string;
  tflag: boolean;
  verbose: boolean;
  replay: boolean;
  newaliases: boolean;
  queueRun: boolean;
  dsnNotify?: string;
  dsnRet?: string;
  dsnEnvid?: string;
  recipients: string[];
}

/** The options as OpenSMTPD's sendmail reads them; a string is a usage error. */
export function parseSendmailArgs(argv: string[]): SendmailArgs | string {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    return (e as Error).message.split('.')[0] ?? 'bad arguments';
  }
  const v = parsed.values;
  const last = (a: string[] | undefined) => (a && a.length > 0 ? a[a.length - 1] : undefined);
  const from = last(v.r) ?? last(v.f);
  const out: SendmailArgs = {
    tflag: v.t !== undefined, verbose: v.v !== undefined, replay: v.S !== undefined, queueRun: v.q !== undefined,
    newaliases: (v.b ?? []).some((b) => b.startsWith('i')), recipients: parsed.positionals,
  };
  if (from !== undefined) out.from = from;
  const name = last(v.F);
  if (name !== undefined) out.fullName = name;
  const notify = last(v.N);
  if (notify !== undefined) {
    const words = notify.toUpperCase().split(',');
    if (!words.every((w) => ['NEVER', 'SUCCESS', 'FAILURE', 'DELAY'].includes(w)) || (words.includes('NEVER') && words.length > 1)) return `invalid -N ${notify}`;
    out.dsnNotify = words.join(',');
  }
  const ret = last(v.R);
  if (ret !== undefined) {
    if (!/^(full|hdrs)$/i.test(ret)) return `invalid -R ${ret}`;
    out.dsnRet = ret.toUpperCase();
  }
  const envid = last(v.V);
  if (envid !== undefined) out.dsnEnvid = envid;
  return out;
}

/** RFC 3461 4: xtext. */
export function xtext(s: string): string {
  return [...Buffer.from(s, 'utf8')].map((c) => (c >= 0x21 && c <= 0x7e && c !== 0x2b && c !== 0x3d ? String.fromCharCode(c) : `+${c.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

interface Login {
  name: string;
  home: string;
  gecos: string;
}

/** The invoking user, by uid (getpwuid), and the full name from GECOS (`&` is the login, capitalised). */
function login(): Login {
  const u = os.userInfo();
  let gecos = '';
  try {
    const line = execFileSync('getent', ['passwd', String(u.uid)], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
    gecos = (line.split(':')[4] ?? '').split(',')[0] ?? '';
  } catch {
    // no getent: no full name
  }
  const cap = u.username.charAt(0).toUpperCase() + u.username.slice(1);
  return { name: u.username, home: u.homedir, gecos: gecos.replace(/&/g, cap) };
}

/** The mail name: /etc/mail/mailname (OpenSMTPD's) or /etc/mailname (Debian's), else null. */
function mailname(): string | null {
  for (const f of ['/etc/mail/mailname', '/etc/mailname']) {
    try {
      const name = readFileSync(f, 'utf8').split('\n')[0]?.trim();
      if (name) return name;
    } catch {
      // next one
    }
  }
  return null;
}

async function readStdin(): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of process.stdin) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

function say(line: string): void {
  process.stderr.write(`sendmail: ${line}\n`);
}

/** Every address goes through the project's one validator before it is written on the wire. */
function invalidAddress(sub: Submission): string | null {
  for (const a of [sub.sender, ...sub.recipients]) {
    if (a === '' && a === sub.sender) continue;
    if (!parseAddress(a, { utf8: true }).ok) return a;
  }
  return null;
}

export async function sendmailMain(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const args = parseSendmailArgs(argv);
  if (typeof args === 'string') {
    say(args);
    process.stderr.write('usage: sendmail [-tv] [-f from] [-F name] to ...\n');
    return EX_USAGE;
  }
  if (args.newaliases) return (await import('./newaliases.js')).newaliasesMain([]);
  if (args.queueRun) return EX_SOFTWARE; // as OpenSMTPD: -q is not implemented
  const spool = env['SMTPD_SPOOL'] || DEFAULT_SPOOL;
  const input = await readStdin();
  const who = login();
  const time = Number(env[SUBMIT_TIME_ENV]);
  const date = new Date(args.replay && Number.isSafeInteger(time) && time > 0 ? time : Date.now());
  const m = parseMessage(input);
  const check = envelopeOf(m, { ...(args.from !== undefined ? { from: args.from } : {}), login: who.name, host: 'localhost', tflag: args.tflag, argv: args.recipients });
  if (check.recipients.length === 0) {
    say('no recipients');
    return EX_SOFTWARE;
  }
  const bad = invalidAddress(check);
  if (bad !== null) {
    say(`invalid address: ${JSON.stringify(bad)}`);
    return EX_DATAERR;
  }
  const trace = args.verbose ? (line: string) => process.stdout.write(`${line}\n`) : null;
  let client: SmtpClient;
  try {
    client = await SmtpClient.open(join(spool, 'enqueue.sock'), trace);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if ((code === 'ENOENT' || code === 'ECONNREFUSED') && !args.replay) return offline(spool, argv, input, date);
    say(`cannot reach smtpd: ${(e as Error).message}`);
    return args.replay ? EX_TEMPFAIL : EX_UNAVAILABLE;
  }
  try {
    await submit(client, m, args, who, date);
    return EX_OK;
  } catch (e) {
    say(e instanceof SmtpError ? `command failed: ${e.message}` : `submission failed: ${(e as Error).message}`);
    if (!args.replay) deadLetter(who, input);
    const r = e instanceof SmtpError ? e.reply : undefined;
    return r && r.code >= 400 && r.code < 500 ? EX_TEMPFAIL : EX_SOFTWARE;
  } finally {
    client.close();
  }
}

/** The SMTP dialogue, strictly one command at a time as OpenSMTPD's enqueue. */
async function submit(c: SmtpClient, m: ParsedMessage, args: SendmailArgs, who: Login, date: Date): Promise<void> {
  const greeting = await c.reply();
  if (greeting.code !== 220) throw new SmtpError(`greeting: ${greeting.code} ${greeting.lines.join(' ')}`, greeting);
  const host = mailname() ?? greeting.lines[0]?.split(' ')[0] ?? 'localhost';
  const ehlo = await c.command('EHLO localhost');
  const ext = new Set(ehlo.lines.slice(1).map((l) => l.split(' ')[0]?.toUpperCase() ?? ''));
  const sub = envelopeOf(m, { ...(args.from !== undefined ? { from: args.from } : {}), login: who.name, host, tflag: args.tflag, argv: args.recipients });
  const fullName = args.fullName ?? (args.from === undefined ? who.gecos : '');
  const message = composeMessage(m, { sender: sub.sender, ...(fullName ? { fullName } : {}), date, host });
  let mail = `MAIL FROM:<${sub.sender}>`;
  if (ext.has('8BITMIME') && /[^\x00-\x7f]/.test(message.toString('latin1'))) mail += ' BODY=8BITMIME';
  if (ext.has('SMTPUTF8') && /[^\x00-\x7f]/.test([sub.sender, ...sub.recipients].join(''))) mail += ' SMTPUTF8';
  if (ext.has('DSN')) {
    if (args.dsnRet) mail += ` RET=${args.dsnRet}`;
    if (args.dsnEnvid) mail += ` ENVID=${xtext(args.dsnEnvid)}`;
  }
  await c.command(mail);
  for (const r of sub.recipients) await c.command(`RCPT TO:<${r}>${ext.has('DSN') && args.dsnNotify ? ` NOTIFY=${args.dsnNotify}` : ''}`);
  const go = await c.command('DATA');
  if (go.code !== 354) throw new SmtpError(`DATA: ${go.code} ${go.lines.join(' ')}`, go);
  await c.data(message);
  await c.command('QUIT').catch(() => undefined); // accepted already: a lost QUIT changes nothing
}

/** The daemon is not running: keep the message for its next start (exit 75, as OpenSMTPD). */
function offline(spool: string, argv: string[], input: Buffer, date: Date): number {
  const dir = join(spool, 'offline');
  if (!existsSync(dir)) {
    say(`smtpd is not running and ${dir} does not exist`);
    return EX_UNAVAILABLE;
  }
  try {
    writeOffline(spool, argv, input, date.getTime());
  } catch (e) {
    say(`cannot queue the message offline: ${(e as Error).message}`);
    return EX_UNAVAILABLE;
  }
  say('smtpd is not running: message queued offline, it will be sent when smtpd starts');
  return EX_TEMPFAIL;
}

/** On a failure mid-session the message is kept in ~/dead.letter (appended, as mail(1) does). */
function deadLetter(who: Login, input: Buffer): void {
  if (!who.home) return;
  const path = join(who.home, 'dead.letter');
  try {
    const fd = openSync(path, constants.O_APPEND | constants.O_CREAT | constants.O_WRONLY | constants.O_NOFOLLOW, 0o600);
    try {
      writeSync(fd, Buffer.concat([input, Buffer.from('\n')]));
    } finally {
      closeSync(fd);
    }
    say(`message saved in ${path}`);
  } catch {
    // nowhere to keep it: the error above is all we can say
  }
}
