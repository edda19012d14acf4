// Expected failures are values: Result carries a string-literal code and a kind.
// Errors that cross a thread keep `code` and `kind` (the actor runtime serialises them).

/** temp: retry later (4xx); perm: will never succeed (5xx); internal: a bug or broken invariant. */
export type ErrorKind = 'temp' | 'perm' | 'internal';

export interface Failure<C extends string = string> {
  ok: false;
  code: C;
  kind: ErrorKind;
  message: string;
}

export interface Success<T> {
  ok: true;
  value: T;
}

export type Result<T, C extends string = string> = Success<T> | Failure<C>;

export function ok<T>(value: T): Success<T> {
  return { ok: true, value };
}

export function fail<C extends string>(code: C, kind: ErrorKind, message: string): Failure<C> {
  return { ok: false, code, kind, message };
}

/** An exception with a stable string code; thrown only for bugs and transport failures. */
export class ActorError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  constructor(code: string, kind: ErrorKind, message: string) {
    super(message);
    this.name = 'ActorError';
    this.code = code;
    this.kind = kind;
  }
}

/** Codes raised by the actor runtime itself. */
export const RuntimeCodes = {
  timeout: 'ERR_ACTOR_TIMEOUT',
  dead: 'ERR_ACTOR_DEAD',
  notConnected: 'ERR_ACTOR_NOT_CONNECTED',
} as const;
