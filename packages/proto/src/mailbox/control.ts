// control: the smtpctl socket. Served to the parent.

export interface ControlMailbox {
  /** Path of the control socket, or null while it is not listening. */
  socketPath(): Promise<string | null>;
}
