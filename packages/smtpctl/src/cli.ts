// smtpctl, sendmail and mailq share this entry, chosen by the name they were run as.
// None of them is built yet (later issues): they say so and exit non-zero.

const EX_SOFTWARE = 70;

export async function main(name: string, _argv: string[]): Promise<number> {
  process.stderr.write(`${name}: not implemented yet\n`);
  return EX_SOFTWARE;
}
