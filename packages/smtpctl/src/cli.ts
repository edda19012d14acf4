// One executable, several names (as OpenSMTPD's smtpctl): the name it was run as picks the
// program. smtpctl and mailq (= `smtpctl show queue`) are smtpctl.ts; sendmail, send-mail,
// newaliases and makemap are the enqueue side (sendmail.ts, newaliases.ts, makemap.ts).
import { makemapMain } from './makemap.js';
import { smtpctl, type Io } from './smtpctl.js';

const stdio: Io = {
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
};

export async function main(name: string, argv: string[]): Promise<number> {
  // The enqueue programs.
  if (name === 'sendmail' || name === 'send-mail') return (await import('./sendmail.js')).sendmailMain(argv);
  if (name === 'newaliases') return (await import('./newaliases.js')).newaliasesMain(argv);
  if (name === 'makemap') return makemapMain(argv, stdio);
  // The administration programs. A reader that goes away (`smtpctl show queue | head`) ends us quietly.
  if (name === 'smtpctl' || name === 'mailq') {
    process.stdout.on('error', (e: NodeJS.ErrnoException) => process.exit(e.code === 'EPIPE' ? 0 : 1));
  }
  if (name === 'smtpctl') return smtpctl(argv, stdio);
  // mailq takes no arguments but where the spool is (`--spool DIR`, as smtpctl).
  if (name === 'mailq') return smtpctl([...(argv[0] === '--spool' ? argv.slice(0, 2) : argv[0]?.startsWith('--spool=') ? argv.slice(0, 1) : []), 'show', 'queue'], stdio);
  process.stderr.write(`${name}: unsupported mode\n`);
  return 1;
}
