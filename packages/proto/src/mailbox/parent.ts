// parent: served by the main thread to every actor on its `parent` lane.

export interface ParentMailbox {
  /** An actor reports a condition it cannot recover from; the daemon exits non-zero. */
  onFatal(role: string, reason: string): void;
}
