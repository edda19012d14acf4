// The shape every delivery method shares: a sink the body is streamed into, and the outcome
// it ends with. Methods never throw for expected failures (a full disk, a refused recipient):
// they become MethodOutcome values here. Used by the methods, the helper and the runner.
import { toErrorLine } from '@tsmtpd/proto';

export type MethodStatus = 'ok' | 'tempfail' | 'permfail';

export interface MethodOutcome {
  status: MethodStatus;
  /** One line: the reason (an SMTP/LMTP reply, the command's last line, an errno). */
  errorline: string;
}

/**
 * A delivery in progress. `write` never rejects: a failure is remembered, later writes are
 * dropped and `end` returns it. `abort` undoes what can be undone (temporary files).
 */
export interface Sink {
  write(chunk: Uint8Array): Promise<void>;
  end(): Promise<MethodOutcome>;
  abort(reason: string): Promise<void>;
}

export type SinkOpen = { ok: true; sink: Sink } | { ok: false; outcome: MethodOutcome };

export function outcome(status: MethodStatus, text: string): MethodOutcome {
  return { status, errorline: toErrorLine(text) };
}

export const delivered = (text = 'Delivered'): MethodOutcome => outcome('ok', text);
export const tempfail = (text: string): MethodOutcome => outcome('tempfail', text);
export const permfail = (text: string): MethodOutcome => outcome('permfail', text);

/**
 * A filesystem error as a delivery outcome. Storage trouble (EACCES on a parent, ENOSPC, EDQUOT,
 * EIO, a symlink where a file should be) is temporary: the admin can fix it and the mail waits.
 */
export function fsFailure(what: string, e: unknown): MethodOutcome {
  const err = e as NodeJS.ErrnoException;
  const code = typeof err?.code === 'string' ? err.code : 'error';
  const msg = `${what}: ${code}${err?.message ? ` (${err.message.replace(/^[A-Z]+: /, '')})` : ''}`;
  return tempfail(msg);
}

/** A sink that has already failed: every write is dropped and end answers the failure. */
export function failedSink(o: MethodOutcome): Sink {
  return {
    write: async () => {},
    end: async () => o,
    abort: async () => {},
  };
}
