// The independent TLS clients of the TLS and AUTH tests: Python's smtplib + ssl
// (py/smtp_tls.py, verifying the server against a CA) and `openssl s_client` (certificate chain,
// SNI, client certificates). Every run is bounded.
import path from 'node:path';
import { describeRun, run, type RunResult } from './proc.js';
import { pyDir, python3 } from './paths.js';

export type TlsStep =
  | { op: 'ehlo'; name?: string }
  | { op: 'starttls' }
  | { op: 'auth'; mech: 'PLAIN' | 'LOGIN'; user: string; password: string; initial?: boolean }
  | { op: 'mail' | 'rcpt'; addr: string }
  | { op: 'data'; b64: string }
  | { op: 'cmd'; line: string }
  | { op: 'quit' };

export interface TlsReply {
  op: string;
  code?: number;
  text?: string;
  ms?: number;
  error?: string;
}

export interface TlsSessionResult {
  banner: TlsReply | null;
  replies: TlsReply[];
  features: Record<string, string>;
  tls: { version: string; cipher: string; peer_cn: string | null } | null;
}

export interface TlsSessionOptions {
  host: string;
  port: number;
  mode?: 'plain' | 'smtps';
  cafile: string;
  servername: string;
  client?: { certFile: string; keyFile: string };
  steps: TlsStep[];
}

/** One smtplib session (STARTTLS or implicit TLS), certificate verified against `cafile`. */
export async function tlsSession(o: TlsSessionOptions): Promise<TlsSessionResult> {
  const req = {
    mode: o.mode ?? 'plain',
    tls: { cafile: o.cafile, servername: o.servername, ...(o.client ? { certfile: o.client.certFile, keyfile: o.client.keyFile } : {}) },
    steps: o.steps,
  };
  const r = await run(python3, [path.join(pyDir, 'smtp_tls.py'), o.host, String(o.port), '20'], { input: JSON.stringify(req), timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(describeRun('python3 smtp_tls.py', r));
  return JSON.parse(r.stdout) as TlsSessionResult;
}

/** A reply for assertion messages. */
export function show(r: TlsReply | undefined): string {
  if (!r) return '(no reply)';
  return r.error !== undefined ? `${r.op}: ${r.error}` : `${r.op}: ${r.code} ${r.text ?? ''}`;
}

/**
 * `openssl s_client` against host:port (`-starttls smtp` unless smtps). It cannot wait for the
 * handshake before reading its input and closes at the end of it, so QUIT goes in after a second
 * and the input ends 2 s later; the server's 221 ends the session. `-nocommands`: a line starting
 * with Q is sent, not taken as s_client's own quit command.
 */
export function sClient(host: string, port: number, args: string[], starttls = true): Promise<RunResult> {
  const base = ['s_client', '-connect', `${host}:${port}`, ...(starttls ? ['-starttls', 'smtp'] : []), '-showcerts', '-verify_return_error', '-nocommands'];
  const script = 'sleep 1; printf "QUIT\\r\\n"; sleep 2';
  return run('sh', ['-c', `(${script}) | exec openssl "$@"`, 'sh', ...base, ...args], { timeoutMs: 20_000 });
}

/** Subjects of the certificates s_client printed, in chain order ("0 s:CN = mx.tls.test", ...). */
export function chainSubjects(out: string): string[] {
  return [...out.matchAll(/^\s*(\d+) s:(.*)$/gm)].map((m) => `${m[1]} ${(m[2] ?? '').trim()}`);
}
