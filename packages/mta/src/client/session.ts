// The ClientSession (types.ts): one connection to one address and the transactions on it. Holds
// the state between transactions (is an RSET owed, is a transaction running) and the bounded
// QUIT. The protocol steps live in handshake.ts and transaction.ts. Created by the mta actor
// through createClientSession (index.ts).
import { handshake } from './handshake.js';
import { localLine, type Link } from './link.js';
import { transaction } from './transaction.js';
import type { ClientOptions, ClientSession, ConnectResult, Transaction, TxResult } from './types.js';

/** The longest QUIT may wait for the server's 221 and its close. */
const QUIT_WAIT_MS = 5000;

export class SmtpClientSession implements ClientSession {
  private link: Link | null = null;
  private connecting = false;
  private busy = false;
  private needsReset = false;

  constructor(private readonly opts: ClientOptions) {}

  get usable(): boolean {
    return this.link !== null && this.link.alive && !this.busy;
  }

  async connect(): Promise<ConnectResult> {
    if (this.link !== null || this.connecting) return { ok: false, status: 'tempfail', reply: localLine('4.3.0', 'session already connected') };
    this.connecting = true;
    try {
      const h = await handshake(this.opts);
      this.link = h.link;
      return h.result;
    } finally {
      this.connecting = false;
    }
  }

  async send(tx: Transaction): Promise<TxResult> {
    const link = this.link;
    if (link === null || !link.alive || this.busy) {
      return { ok: false, status: 'tempfail', reply: localLine('4.4.2', 'session not usable'), connectionLost: link === null || !link.alive };
    }
    this.busy = true;
    try {
      const run = await transaction(link, tx, this.needsReset);
      this.needsReset = run.needsReset;
      return run.result;
    } finally {
      this.busy = false;
    }
  }

  async quit(): Promise<void> {
    const link = this.link;
    if (link === null) return;
    const sock = link.wire.socket;
    if (link.alive && !this.busy) {
      const closed = new Promise<void>((resolve) => {
        if (sock.destroyed) resolve();
        else sock.once('close', () => resolve());
      });
      const wait = Math.min(QUIT_WAIT_MS, this.opts.commandTimeoutMs);
      const bye = link.command('QUIT').then(() => sock.end());
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, wait)));
      await Promise.race([bye.then(() => closed), timeout]);
      clearTimeout(timer);
    }
    link.wire.destroy('quit');
  }

  close(): void {
    this.link?.wire.destroy('closed');
  }
}
