// smtpctl encrypt [string]: a SHA-512 crypt(3) hash (`$6$`, as OpenSMTPD's encrypt on Debian) for
// credentials tables. With no argument every line of standard input is hashed, one hash a line.
// unixcrypt implements crypt(3)'s SHA-512 scheme in JavaScript (no native part, no shell).
import { encrypt } from 'unixcrypt';
import { createInterface } from 'node:readline';

export async function doEncrypt(arg: string | undefined, out: (s: string) => void): Promise<number> {
  if (arg !== undefined) {
    out(encrypt(arg) + '\n');
    return 0;
  }
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
  for await (const line of rl) out(encrypt(line) + '\n');
  return 0;
}
