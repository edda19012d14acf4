// The independent clients and parsers, in Python: smtplib sessions, a parallel load that kills the
// daemon after its last acknowledgement, and mailbox read-back (maildir and mbox). JSON comes back.
import path from 'node:path';
import { describeRun, run, waitFor } from './proc.js';
import { pyDir, python3 } from './paths.js';

export type SmtpStep =
  | { op: 'ehlo' | 'helo'; name?: string }
  | { op: 'mail' | 'rcpt'; addr: string; opts?: string[] }
  | { op: 'data'; b64: string }
  | { op: 'cmd'; line: string }
  | { op: 'rset' }
  | { op: 'quit' };

export interface SmtpReply {
  op: string;
  code?: number;
  text?: string;
  /** Set when the connection broke before a reply (then no further steps ran). */
  error?: string;
}

export interface SmtpSessionResult {
  banner: SmtpReply | null;
  replies: SmtpReply[];
  /** EHLO keywords, lower-cased, with their parameters (smtplib's esmtp_features). */
  features: Record<string, string>;
}

async function runPy<T>(script: string, args: string[], input: string, timeoutMs: number): Promise<T> {
  const r = await run(python3, [path.join(pyDir, script), ...args], { input, timeoutMs });
  if (r.code !== 0) throw new Error(describeRun(`python3 ${script}`, r));
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(describeRun(`python3 ${script} (output is not JSON)`, r));
  }
}

/** Runs one smtplib session of `steps` against host:port (127.0.0.1 by default). */
export function smtpSession(port: number, steps: SmtpStep[], timeoutS = 15, host = '127.0.0.1'): Promise<SmtpSessionResult> {
  return runPy('smtp_session.py', [host, String(port), String(timeoutS)], JSON.stringify(steps), (timeoutS + 10) * 1000);
}

/** The steps of one transaction: MAIL, RCPT for each recipient, DATA. */
export function transaction(from: string, to: string[], data: Buffer, mailOpts: string[] = []): SmtpStep[] {
  return [
    { op: 'mail', addr: from, opts: mailOpts },
    ...to.map((addr): SmtpStep => ({ op: 'rcpt', addr })),
    { op: 'data', b64: data.toString('base64') },
  ];
}

/** A reply as "code text" for messages, e.g. "550 5.1.1 Invalid recipient". */
export function showReply(r: SmtpReply | undefined): string {
  if (!r) return '(no reply)';
  return r.error !== undefined ? `${r.op}: ${r.error}` : `${r.op}: ${r.code} ${r.text ?? ''}`;
}

export interface LoadResult {
  acked: string[];
  failed: [string, number | null, string][];
  killed_at: number | null;
}

/**
 * `sessions` parallel smtplib sessions, `perSession` messages each, to `rcpt`; when `killPgid` > 0
 * the daemon's process group gets SIGKILL right after the last reply.
 */
export function smtpLoad(port: number, o: { sessions: number; perSession: number; rcpt: string; killPgid: number; timeoutMs: number }): Promise<LoadResult> {
  const args = ['127.0.0.1', String(port), String(o.sessions), String(o.perSession), o.rcpt, String(o.killPgid), '20'];
  return runPy('smtp_load.py', args, '', o.timeoutMs);
}

export interface StoredMessage {
  key: string;
  subdir?: string;
  from_line?: string;
  raw: Buffer;
  body: Buffer;
  headers: [string, string][];
}

interface RawStored {
  key: string;
  subdir?: string;
  from_line?: string;
  raw_b64: string;
  body_b64: string;
  headers: [string, string][];
}

/** Reads a maildir or an mbox with Python's mailbox module; a missing one reads as empty. */
export async function readMailbox(kind: 'maildir' | 'mbox', p: string): Promise<StoredMessage[]> {
  const list = await runPy<RawStored[]>('mailbox_read.py', [kind, p], '', 60_000);
  return list.map((m) => ({
    key: m.key,
    ...(m.subdir !== undefined ? { subdir: m.subdir } : {}),
    ...(m.from_line !== undefined ? { from_line: m.from_line } : {}),
    raw: Buffer.from(m.raw_b64, 'base64'),
    body: Buffer.from(m.body_b64, 'base64'),
    headers: m.headers,
  }));
}

/** The first value of a header (case-insensitive), or undefined. */
export function header(m: StoredMessage, name: string): string | undefined {
  const lower = name.toLowerCase();
  return m.headers.find(([k]) => k.toLowerCase() === lower)?.[1];
}

/** Polls a mailbox (bounded) until a message satisfies `pred`; returns it or undefined. */
export async function waitForMessage(
  kind: 'maildir' | 'mbox',
  p: string,
  pred: (m: StoredMessage) => boolean,
  timeoutMs = 15_000,
): Promise<StoredMessage | undefined> {
  return waitFor(async () => (await readMailbox(kind, p)).find(pred), timeoutMs, 200);
}
