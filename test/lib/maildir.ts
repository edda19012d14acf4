// Counting messages in a maildir without a parser (new/ + cur/), for bounded polling while mail
// is delivered; the contents are checked with Python's mailbox module (python.ts).
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from './proc.js';

export function countMaildir(dir: string): number {
  let n = 0;
  for (const sub of ['new', 'cur']) {
    const p = path.join(dir, sub);
    if (existsSync(p)) n += readdirSync(p).filter((f) => !f.startsWith('.')).length;
  }
  return n;
}

/** Waits until every maildir holds at least `want` messages; returns the counts reached. */
export async function waitMaildirs(dirs: string[], want: number, timeoutMs: number): Promise<number[]> {
  const counts = () => dirs.map(countMaildir);
  await waitFor(() => (counts().every((c) => c >= want) ? true : undefined), timeoutMs, 100);
  return counts();
}
