// Errors that cross a thread keep `code` and `kind`. Comlink's own handler keeps only
// name/message/stack; we wrap it so every thread that loads the runtime agrees.
import * as Comlink from 'comlink';
import { ActorError, type ErrorKind } from '@tsmtpd/proto';

interface SerializedThrow {
  isError: boolean;
  value: Record<string, unknown>;
}

let installed = false;

/** Install the error transfer handler (idempotent; called on import of the runtime). */
export function installErrorTransfer(): void {
  if (installed) return;
  installed = true;
  const base = Comlink.transferHandlers.get('throw') as Comlink.TransferHandler<{ value: unknown }, SerializedThrow>;
  Comlink.transferHandlers.set('throw', {
    canHandle: base.canHandle,
    serialize(thrown: { value: unknown }) {
      const [wire, transfers] = base.serialize(thrown);
      const err = thrown.value as { code?: unknown; kind?: unknown } | null;
      if (wire.isError && err && typeof err === 'object') {
        if (typeof err.code === 'string' || typeof err.code === 'number') wire.value.code = err.code;
        wire.value.kind = isKind(err.kind) ? err.kind : 'internal';
      }
      return [wire, transfers];
    },
    deserialize: base.deserialize,
  } as Comlink.TransferHandler<unknown, unknown>);
}

function isKind(k: unknown): k is ErrorKind {
  return k === 'temp' || k === 'perm' || k === 'internal';
}

/** Read code/kind from anything thrown, for logging and replies. */
export function errorInfo(e: unknown): { code: string; kind: ErrorKind; message: string } {
  if (e instanceof ActorError) return { code: e.code, kind: e.kind, message: e.message };
  if (e && typeof e === 'object') {
    const o = e as { code?: unknown; kind?: unknown; message?: unknown };
    return {
      code: o.code === undefined ? 'ERR_INTERNAL' : String(o.code),
      kind: isKind(o.kind) ? o.kind : 'internal',
      message: typeof o.message === 'string' ? o.message : String(e),
    };
  }
  return { code: 'ERR_INTERNAL', kind: 'internal', message: String(e) };
}

installErrorTransfer();
