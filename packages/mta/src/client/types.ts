// The contract between the mta actor (relays, routes, connections, limits: mta.ts and friends)
// and its SMTP/LMTP client session (client/): one connection to one address, several
// transactions on it. The actor decides where to connect and what to send; the session speaks
// the protocol and classifies every reply.

/** How a session protects itself (REFERENCE 6.6). */
export type TlsMode =
  /** STARTTLS when offered, unverified; a failed handshake reconnects in plain text. */
  | 'opportunistic'
  /** STARTTLS mandatory (missing capability or failed handshake: temporary failure). */
  | 'starttls'
  /** TLS from the first byte (smtps). */
  | 'implicit'
  /** Never TLS (smtp+notls). */
  | 'none';

export interface ClientOptions {
  /** IP address to connect to (v4 or v6). */
  address: string;
  port: number;
  /** The MX or smarthost name: SNI, certificate check, Remote-MTA. */
  servername: string;
  tls: TlsMode;
  /** Verify the server certificate against `ca` (or the system store) and `servername`. */
  verify: boolean;
  /** PEM: CA bundle for verification; client certificate and key (`pki`). */
  ca?: string;
  cert?: string;
  key?: string;
  /** EHLO/LHLO name. */
  helo: string;
  /** Source address to bind. */
  localAddress?: string;
  /** AUTH PLAIN or LOGIN, only over TLS. */
  auth?: { user: string; pass: string };
  lmtp: boolean;
  connectTimeoutMs: number;
  /** Per reply; 300 s as OpenSMTPD by default. */
  commandTimeoutMs: number;
}

export interface TxRecipient {
  address: string;
  /** DSN NOTIFY bits of proto's DsnNotify (0: none given). */
  notify: number;
  /** ORCPT address, already validated (sent as `rfc822;ADDR` xtext-encoded). */
  orcpt?: string;
}

export interface Transaction {
  /** Reverse path; '' for <>. */
  mailFrom: string;
  ret?: 'FULL' | 'HDRS';
  envid?: string;
  /** The message needs SMTPUTF8 (a UTF-8 address or header). */
  smtputf8: boolean;
  /** The body has 8-bit bytes (BODY=8BITMIME when offered). */
  eightBit: boolean;
  /** Stored body size in bytes (SIZE=, an estimate: LF line ends). */
  size: number;
  recipients: TxRecipient[];
  /** The stored body: LF line ends; the session converts to CRLF and dot-stuffs. */
  body: () => AsyncIterable<Uint8Array>;
}

/** A reply in one line: `550 5.1.1 text`, CR/LF/NUL removed (REFERENCE 14: CVE-2020-8794). */
export interface RcptOutcome {
  status: 'ok' | 'tempfail' | 'permfail';
  reply: string;
}

export type TxResult =
  /**
   * The transaction reached RCPT: one outcome per recipient, in order. A refusal of DATA or of
   * the data, or a connection lost after RCPT, applies to the accepted recipients; the ones
   * refused at RCPT keep their own reply.
   */
  | { ok: true; recipients: RcptOutcome[]; relayedWithoutDsn: boolean }
  /**
   * Nothing got past MAIL; every recipient gets this outcome (SMTPUTF8 or SIZE refused before
   * sending, MAIL refused, I/O before the RCPT replies).
   */
  | { ok: false; status: 'tempfail' | 'permfail'; reply: string; connectionLost: boolean };

export type ConnectResult =
  | { ok: true; greeting: string; extensions: string[]; tls: boolean }
  /** `status` tempfail for network, timeout, TLS, 4xx greeting; permfail for a 5xx greeting. */
  | { ok: false; status: 'tempfail' | 'permfail'; reply: string };

export interface ClientSession {
  /** Connect, greet, EHLO, STARTTLS, AUTH, as the options say. */
  connect(): Promise<ConnectResult>;
  /** One transaction: MAIL, RCPTs (pipelined when offered), DATA, body, end of data. */
  send(tx: Transaction): Promise<TxResult>;
  /** Still connected and in a state to take another transaction. */
  readonly usable: boolean;
  /** QUIT and close (bounded wait). */
  quit(): Promise<void>;
  /** Close at once. */
  close(): void;
}

export type ClientFactory = (opts: ClientOptions) => ClientSession;
