// smtpctl, sendmail, mailq, newaliases and makemap share this entry, chosen by the name they were
// run as. smtpctl and mailq are not built yet (later issues): they say so and exit non-zero.

import { makemapMain } from './makemap.js';

const EX_SOFTWARE = 70;

export async function main(name: string, argv: string[]): Promise<number> {
  if (name === 'sendmail' || name === 'send-mail') return (await import('./sendmail.js')).sendmailMain(argv);
  if (name === 'newaliases') return (await import('./newaliases.js')).newaliasesMain(argv);
  if (name === 'makemap') return makemapMain(argv, { out: (s) => void process.stdout.write(s), err: (s) => void process.stderr.write(s) });
  process.stderr.write(`${name}: not implemented yet\n`);
  return EX_SOFTWARE;
}
