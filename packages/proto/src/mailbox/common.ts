// The control surface every actor serves to the parent, beside its own mailbox.

export interface ActorStats {
  [counter: string]: number;
}

/** Served by every actor to the parent on the `ctl` lane. */
export interface ActorControl {
  /** Called once all peers are connected; the actor begins its work. */
  start(): Promise<void>;
  /** Finish or abandon in-flight work and release resources; the worker then exits. */
  stop(): Promise<void>;
  /** Liveness check: answers the role name. */
  ping(): Promise<string>;
  /** Counters for `smtpctl show stats` (REFERENCE 12). */
  stats(): Promise<ActorStats>;
}
