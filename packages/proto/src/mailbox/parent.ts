// parent: served by the main thread to every actor on its `parent` lane. Besides fatal reports,
// the privileged operations (DESIGN.md section 7): in a root daemon the parent passes them to
// the privileged process; otherwise they answer what an ordinary user may do.
import type { Result } from '../result.js';
import type { ReloadOutcome } from './reload.js';

export interface ParentMailbox {
  /** An actor reports a condition it cannot recover from; the daemon exits non-zero. */
  onFatal(role: string, reason: string): void;
  /**
   * mda: start a delivery helper running as uid/gid; the mda connects to its socket itself
   * (`socket`, privsep.ts helperSocketName) and talks to it without the parent thread. The
   * helper accepts that one connection from this process only. Asked once per helper.
   */
  deliveryHelper(uid: number, gid: number): Promise<Result<{ pid: number; socket: string }>>;
  /** mda: a helper that does not answer (its pid, as deliveryHelper said): killed by the privileged side. */
  onDeliveryHelperKill(pid: number): void;
  /** lka: the text of ~user/.forward, null when there is none. */
  forwardRead(user: string): Promise<Result<string | null>>;
  /** smtp (AUTH): whether this is the password of the system account `user`. */
  systemPasswordCheck(user: string, password: string): Promise<boolean>;
  /** mda: make the mbox mailbox of `user` exist, owned by the user (null: ready). */
  mboxPrepare(user: string): Promise<Result<null>>;
  /** control (`smtpctl reload`): re-read and check the configuration and apply it, or why not. */
  reloadConfig(): Promise<ReloadOutcome>;
}
