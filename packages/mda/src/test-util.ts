// Helpers shared by this package's tests: temporary directories, Python's mailbox module as an
// independent reader of what we wrote, and feeding a sink in chunks.
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Sink, SinkOpen } from './sink.js';

export function tempDir(prefix: string, mode = 0o755): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `tsmtpd-mda-${prefix}-`));
  chmodSync(path, mode);
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface PyMessage {
  from?: string | null;
  headers: [string, string][];
  body: string;
}

/** Read a Maildir (kind 'maildir', optional folder) or an mbox with Python's mailbox module. */
export function pythonRead(kind: 'maildir' | 'mbox', path: string, folder?: string): PyMessage[] {
  const script = `
import json, mailbox, sys
kind, path, folder = sys.argv[1], sys.argv[2], sys.argv[3]
if kind == 'maildir':
    box = mailbox.Maildir(path, factory=None, create=False)
    if folder:
        box = box.get_folder(folder)
else:
    box = mailbox.mbox(path, factory=None, create=False)
out = []
for key in sorted(box.keys()):
    m = box[key]
    out.append({'from': m.get_from() if kind == 'mbox' else None, 'headers': [[k, str(v)] for k, v in m.items()], 'body': m.get_payload()})
print(json.dumps(out))
`;
  const r = spawnSync('python3', ['-c', script, kind, path, folder ?? ''], { encoding: 'utf8', timeout: 20_000, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`python3 failed (${r.status ?? r.signal ?? r.error?.message}): ${r.stderr}`);
  return JSON.parse(r.stdout) as PyMessage[];
}

/** Open, write `parts` one by one, end. Throws if the open failed. */
export async function deliverParts(open: Promise<SinkOpen>, parts: (string | Uint8Array)[]): Promise<ReturnType<Sink['end']>> {
  const r = await open;
  if (!r.ok) throw new Error(`open failed: ${r.outcome.errorline}`);
  for (const p of parts) await r.sink.write(typeof p === 'string' ? Buffer.from(p) : p);
  return r.sink.end();
}

/** Split text into chunks of n bytes. */
export function chunks(text: string, n: number): Buffer[] {
  const b = Buffer.from(text);
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += n) out.push(b.subarray(i, i + n));
  return out;
}
