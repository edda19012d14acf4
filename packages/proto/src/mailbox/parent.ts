// parent: served by the main thread to every actor on its `parent` lane. Besides fatal reports,
// the privileged operations (DESIGN.md section 7): in a root daemon the parent passes them to
// the privileged process; otherwise they answer what an ordinary user may do.
import type { MessagePort } from 'node:worker_threads';
import type { Result } from '../result.js';
import type { ReloadOutcome } from './reload.js';

export interface ParentMailbox {
  /** An actor reports a condition it cannot recover from; the daemon exits non-zero. */
  onFatal(role: string, reason: string): void;
  /**
   * mda: a delivery helper running as uid/gid, bridged to `port` (frames as Uint8Array
   * messages both ways; a `null` message from the mda ends the helper, one from the parent
   * says it is gone). Asked once per helper, never per delivery.
   */
  deliveryHelper(uid: number, gid: number, port: MessagePort): Promise<Result<{ pid: number }>>;
  /** lka: the text of ~user/.forward, null when there is none. */
  forwardRead(user: string): Promise<Result<string | null>>;
  /** smtp (AUTH): whether this is the password of the system account `user`. */
  systemPasswordCheck(user: string, password: string): Promise<boolean>;
  /** mda: make the mbox mailbox of `user` exist, owned by the user (null: ready). */
  mboxPrepare(user: string): Promise<Result<null>>;
  /** control (`smtpctl reload`): re-read and check the configuration and apply it, or why not. */
  reloadConfig(): Promise<ReloadOutcome>;
}
