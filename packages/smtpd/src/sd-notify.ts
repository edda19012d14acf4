// sd_notify(3) for Type=notify units: READY=1 once every actor accepts work, STOPPING=1 on
// SIGTERM/SIGINT, STATUS= lines. $NOTIFY_SOCKET is read once and removed from the environment
// (no child may speak for the daemon); without it every call does nothing. Sent from the process
// systemd started (the privileged one under privilege separation), as NotifyAccess=main wants.
import { notifyDatagram } from '@tsmtpd/peercred';
import type { Logger } from '@tsmtpd/actor';

export class SdNotify {
  private warned = false;

  constructor(private readonly socket: string | undefined) {}

  /** The notification socket of this process, if systemd gave one; removed from `env`. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): SdNotify {
    const path = env['NOTIFY_SOCKET'];
    delete env['NOTIFY_SOCKET'];
    return new SdNotify(path !== undefined && (path.startsWith('/') || path.startsWith('@')) ? path : undefined);
  }

  get enabled(): boolean {
    return this.socket !== undefined;
  }

  ready(status: string, log?: Logger): void {
    this.send(`READY=1\nSTATUS=${status}\nMAINPID=${process.pid}`, log);
  }

  stopping(log?: Logger): void {
    this.send('STOPPING=1\nSTATUS=stopping', log);
  }

  /** A failure to notify is logged once: systemd would then time the start out, say why. */
  private send(message: string, log?: Logger): void {
    if (this.socket === undefined) return;
    try {
      notifyDatagram(this.socket, message);
    } catch (e) {
      if (!this.warned) log?.warn('sd_notify failed', { socket: this.socket, error: (e as Error).message });
      this.warned = true;
    }
  }
}

let current: SdNotify | undefined;

/** This process's notifier ($NOTIFY_SOCKET read and removed on the first call). */
export function sdNotify(): SdNotify {
  current ??= SdNotify.fromEnv();
  return current;
}
