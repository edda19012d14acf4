// What a load generator is asked to do and what it reports: `count` messages of `size` bytes over
// `sessions` concurrent sessions, a connection per message or reused, optionally paced at `rate`.

export interface Load {
  port: number;
  sessions: number;
  size: number;
  count: number;
  /** One connection per session for all its messages (smtp-source -d), else one per message. */
  reuse: boolean;
  rcpt: string;
  timeoutMs: number;
  /** Messages per second over all sessions (built-in client only); unpaced when undefined. */
  rate?: number | undefined;
}

export interface LoadResult {
  ok: boolean;
  /** Wall time from the first connection to the last reply, ms. */
  ms: number;
  /** End-of-DATA latency of each accepted message, ms (built-in client only). */
  latencies?: number[] | undefined;
  error?: string | undefined;
}

export type ClientKind = 'smtp-source' | 'builtin';
