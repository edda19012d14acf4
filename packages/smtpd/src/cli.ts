// `smtpd` command line (DESIGN.md section 8): -f FILE, -n, -d, -v, -D name=value,
// --spool DIR (else $SMTPD_SPOOL, else /var/spool/smtpd).
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { legacyWarning, type LegacyRead } from '@tsmtpd/config';
import { checkConfig, runDaemon } from './daemon.js';

export const DEFAULT_CONFIG = '/etc/mail/smtpd.conf';
export const DEFAULT_SPOOL = '/var/spool/smtpd';

function macro(value: string, acc: Record<string, string>): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`expected name=value, got "${value}"`);
  return { ...acc, [value.slice(0, eq)]: value.slice(eq + 1) };
}

function logFormat(value: string): 'text' | 'json' {
  if (value !== 'text' && value !== 'json') throw new InvalidArgumentError('expected text or json');
  return value;
}

function milliseconds(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 60_000) throw new InvalidArgumentError('expected milliseconds, 0 to 60000');
  return n;
}

/**
 * `-n` on a configuration read in the pre-6.4 grammar. With --old-grammar the modern form is the
 * output asked for: on stdout, alone (`smtpd -n --old-grammar -f old.conf > new.conf`; a `# file:`
 * line before each file when includes were translated too). Without the flag (the file set was
 * found legacy) it is a warning: on stderr, before "configuration OK", as the daemon logs it.
 */
function reportLegacy(read: LegacyRead): void {
  if (!read.forced) {
    for (const l of legacyWarning(read)) process.stderr.write(l + '\n');
    return;
  }
  for (const { file, text } of read.files) {
    if (read.files.length > 1) process.stdout.write(`# file: ${file}\n`);
    process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  }
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command('smtpd')
    .description('tsmtpd mail server')
    .option('-f <file>', 'configuration file', DEFAULT_CONFIG)
    .option('-n', 'check the configuration and exit')
    .option('-d', 'stay in the foreground and log to stderr')
    .option('-v', 'verbose logging')
    .option('-D <name=value>', 'define a macro (repeatable)', macro, {} as Record<string, string>)
    .option('--spool <dir>', 'spool directory (default $SMTPD_SPOOL or /var/spool/smtpd)')
    .option('--greeting-delay <ms>', 'early-talker wait before the banner, ms (default 0)', milliseconds)
    .option('--no-reverse-dns', 'do not look up the reverse DNS of clients')
    .option('--log-format <format>', 'log lines as text (default) or json', logFormat)
    .option('--old-grammar', 'translate the pre-6.4 grammar (accept/reject ...) wherever it is, also mixed with the modern one; with -n, print the translation')
    .option('--user <name>', 'started as root: run everything but the privileged process as this user (default _smtpd)')
    .addOption(new Option('--privsep-child').hideHelp())
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 1;
    throw e;
  }
  const o = program.opts<{ f: string; n?: boolean; d?: boolean; v?: boolean; D: Record<string, string>; spool?: string; greetingDelay?: number; reverseDns: boolean; oldGrammar?: boolean; logFormat?: 'text' | 'json'; user?: string; privsepChild?: boolean }>();
  const legacy = o.oldGrammar === true;
  if (o.n) {
    const config = await checkConfig(o.f, o.D, (line) => process.stderr.write(line + '\n'), legacy, false, reportLegacy);
    if (!config) return 1;
    process.stderr.write('configuration OK\n');
    return 0;
  }
  return runDaemon({
    configFile: o.f,
    macros: o.D,
    spool: o.spool ?? process.env.SMTPD_SPOOL ?? DEFAULT_SPOOL,
    verbose: o.v === true,
    legacy,
    ...(o.logFormat ? { logFormat: o.logFormat } : {}),
    argv: argv.filter((a) => a !== '--privsep-child'),
    ...(o.user !== undefined ? { user: o.user } : {}),
    ...(o.privsepChild === true ? { privsepChild: true } : {}),
    settings: {
      ...(o.greetingDelay !== undefined ? { greetingDelayMs: o.greetingDelay } : {}),
      ...nameserversFromEnv(process.env.SMTPD_NAMESERVERS),
      ...retryBaseFromEnv(process.env.SMTPD_RETRY_BASE),
      ...filterTimeoutFromEnv(process.env.SMTPD_FILTER_TIMEOUT),
      reverseDns: o.reverseDns,
    },
  });
}

/** `SMTPD_FILTER_TIMEOUT=SECONDS`: the longest wait for one filter answer (default 60 s). */
export function filterTimeoutFromEnv(value: string | undefined): { filterTimeoutMs?: number } {
  const n = Number(value);
  return value !== undefined && Number.isFinite(n) && n > 0 && n <= 3600 ? { filterTimeoutMs: Math.round(n * 1000) } : {};
}

/** `SMTPD_RETRY_BASE=mta=2,mda=1,bounce=1`: retry bases in seconds instead of 400/10/10. */
export function retryBaseFromEnv(value: string | undefined): { retryBase?: { mda?: number; mta?: number; bounce?: number } } {
  const out: { mda?: number; mta?: number; bounce?: number } = {};
  for (const item of (value ?? '').split(',')) {
    const m = /^\s*(mda|mta|bounce)\s*=\s*(\d{1,6})\s*$/.exec(item);
    if (m && Number(m[2]) > 0) out[m[1] as 'mda' | 'mta' | 'bounce'] = Number(m[2]);
  }
  return Object.keys(out).length > 0 ? { retryBase: out } : {};
}

/**
 * `SMTPD_NAMESERVERS=ip[:port],...` replaces /etc/resolv.conf's servers for every lookup the
 * daemon makes (tests point it at a DNS server on loopback). IPv6 with a port: `[::1]:5353`.
 */
export function nameserversFromEnv(value: string | undefined): { dnsServers?: string[] } {
  const list = (value ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  return list.length > 0 ? { dnsServers: list } : {};
}
