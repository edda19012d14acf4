// What the parent hands every actor at spawn: the validated configuration, the spool,
// and run-time settings that are not part of smtpd.conf.

export interface Settings {
  /**
   * smtp-server's early-talker wait before the greeting, ms. Its fixed 100 ms caps a client
   * near 10 connections/s (STACK.md section 8); 0 sends the banner at once.
   */
  greetingDelayMs: number;
  /** DNS servers to use instead of the system's ("127.0.0.1:5353"), for tests. */
  dnsServers?: string[];
  /**
   * Retry bases in seconds instead of 10 s local and bounce, 400 s relay (`SMTPD_RETRY_BASE=
   * mta=2,mda=1,bounce=1`): for tests and for a postmaster draining a queue after an outage.
   */
  retryBase?: { mda?: number; mta?: number; bounce?: number };
  /**
   * Longest wait for one answer of a filter (a phase, a builtin check, data-line progress), ms;
   * past it the session gets 421 and a silent filter process is restarted. Default 60 s.
   */
  filterTimeoutMs?: number;
  /** Look up the client's reverse DNS (asynchronously, never before the greeting). */
  reverseDns: boolean;
  /** The configuration has a metrics listener: actors gather latency samples for it. */
  metrics?: boolean;
  /** Listening sockets bound by the privileged process, inherited as descriptors (smtp). */
  listenFds?: { address: string; port: number; fd: number }[];
  /** This is the unprivileged actor process of a root daemon (mda: deliveries via helpers). */
  privsep?: boolean;
}

export const DEFAULT_SETTINGS: Settings = {
  greetingDelayMs: 0,
  reverseDns: true,
};

/**
 * TLS certificates, keys and CA bundles of the listeners, read once by the parent at start
 * (privilege separation: by the privileged side) and handed to the smtp actor, which never
 * opens a key file itself. PEM text.
 */
export interface TlsMaterial {
  /** pki name -> certificate chain and private key. */
  pki: Record<string, { cert: string; key: string }>;
  /** ca name -> CA bundle. */
  ca: Record<string, string>;
}

export interface ActorInit<C = unknown> {
  config: C;
  /** Listener TLS material; given to the smtp actor only. */
  tls?: TlsMaterial;
  /** Spool directory: queue database, control socket, offline/. */
  spool: string;
  settings: Settings;
}
