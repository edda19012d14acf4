// smtp: listeners and sessions. Served to the parent and control.

export interface SmtpMailbox {
  /** Stop accepting new sessions (`smtpctl pause smtp`). */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** The addresses actually bound, e.g. "127.0.0.1:2525" (port 0 resolved). */
  listening(): Promise<string[]>;
}
