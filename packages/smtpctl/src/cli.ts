// smtpctl, sendmail and mailq share this entry, chosen by the name they were run as.
// smtpctl and mailq are not built yet (later issues): they say so and exit non-zero.

const EX_SOFTWARE = 70;

export async function main(name: string, argv: string[]): Promise<number> {
  if (name === 'sendmail' || name === 'send-mail') return (await import('./sendmail.js')).sendmailMain(argv);
  if (name === 'newaliases') return (await import('./newaliases.js')).newaliasesMain(argv);
  process.stderr.write(`${name}: not implemented yet\n`);
  return EX_SOFTWARE;
}
