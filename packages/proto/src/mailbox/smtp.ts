// smtp: listeners and sessions. Served to the parent and control.
import type { ReloadReport } from './reload.js';

export interface SmtpMailbox {
  /** Stop accepting new sessions (`smtpctl pause smtp`). */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** The addresses actually bound, e.g. "127.0.0.1:2525" (port 0 resolved). */
  listening(): Promise<string[]>;
  /**
   * A reloaded configuration (ReloadOrder, validated here): listeners closed and opened as they
   * changed, limits, filters; sessions already connected keep the configuration they began with.
   */
  reload(order: unknown): Promise<ReloadReport>;
}
