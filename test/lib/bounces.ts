// Delivery status notifications read back from a maildir by Python's email package
// (test/lib/py/bounce_read.py): the fields a bounce test checks, as JSON.
import path from 'node:path';
import { describeRun, run } from './proc.js';
import { pyDir, python3 } from './paths.js';

export interface ParsedDsn {
  headers: Record<string, string>;
  content_type: string;
  report_type: string | null;
  parts: string[];
  defects: string[];
  status_message: Record<string, string>;
  status_recipients: Record<string, string>[];
  returned_headers: Record<string, string>;
  returned_body: string | null;
  text: string;
}

export async function readBounces(maildir: string): Promise<ParsedDsn[]> {
  const r = await run(python3, [path.join(pyDir, 'bounce_read.py'), maildir], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(describeRun('python3 bounce_read.py', r));
  return JSON.parse(r.stdout) as ParsedDsn[];
}

/** Field lookup that ignores the case of the name (Python keeps it as written). */
export function field(block: Record<string, string> | undefined, name: string): string | undefined {
  if (!block) return undefined;
  const k = Object.keys(block).find((x) => x.toLowerCase() === name.toLowerCase());
  return k === undefined ? undefined : block[k];
}
