// The privileged process's side of a reload (SIGHUP here, or `smtpctl reload` asked by the actor
// process): re-read and check the file as root, bind only the listeners whose address and port
// are new (a kept one keeps its socket in the actor process), send each new socket as a handle,
// then the checked configuration and TLS material; or the errors, logged as `file:line: ...`.
import type { ChildProcess } from 'node:child_process';
import type net from 'node:net';
import type { Logger } from '@tsmtpd/actor';
import type { SmtpdConfig } from '@tsmtpd/config';
import type { PrivAnswer } from '@tsmtpd/proto';
import { addedListeners, type Checked } from '../reload/check.js';
import { logRefused } from '../reload/apply.js';

type Bind = (config: SmtpdConfig) => Promise<{ servers: net.Server[]; map: { address: string; port: number; fd: number }[] }>;

export interface PrivReloaderOptions {
  config: SmtpdConfig;
  child: ChildProcess;
  log: Logger;
  check: (current: SmtpdConfig) => Promise<Checked>;
  /** privileged.ts bindListeners, called with only the added listeners. */
  bind: Bind;
}

export class PrivReloader {
  private config: SmtpdConfig;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: PrivReloaderOptions) {
    this.config = o.config;
  }

  /** One reload at a time; `id` 0 when this side started it (SIGHUP). */
  reload(id: number): Promise<void> {
    const run = this.chain.then(() => this.run(id));
    this.chain = run.catch((e: unknown) => this.o.log.warn('reload failed', { error: (e as Error).message }));
    return run;
  }

  private async run(id: number): Promise<void> {
    const c = await this.o.check(this.config);
    if (!c.ok) {
      logRefused(c.errors, this.o.log);
      return this.send({ t: 'reload', id, errors: c.errors, warnings: [] });
    }
    const errors = await this.bindNew(c.config);
    if (errors.length > 0) {
      logRefused(errors, this.o.log);
      return this.send({ t: 'reload', id, errors, warnings: [] });
    }
    this.config = c.config;
    return this.send({ t: 'reload', id, errors: [], config: c.config, tls: c.tls, warnings: c.warnings });
  }

  /**
   * Bind each new address (one at a time, so a failure names its `listen on` line) and send its
   * socket to the actor process; any failure undoes the others: the reload is refused whole.
   */
  private async bindNew(next: SmtpdConfig): Promise<string[]> {
    const added = addedListeners(this.config, next);
    const bound: { server: net.Server; address: string; port: number }[] = [];
    const release = () => bound.forEach((b) => b.server.close());
    for (const l of added.listeners) {
      for (const a of l.addresses) {
        try {
          const r = await this.o.bind({ ...added, listeners: [{ ...l, addresses: [a] }] });
          bound.push(...r.servers.map((server) => ({ server, address: a.address, port: l.port })));
        } catch (e) {
          release();
          return [`${l.file}:${l.line}: listen on ${a.address} port ${l.port}: ${(e as Error).message}`];
        }
      }
    }
    try {
      for (const b of bound) await this.sendHandle({ t: 'listen', address: b.address, port: b.port }, b.server);
    } finally {
      // The actor process has its copies (or the reload failed): ours must not accept anything.
      release();
    }
    return [];
  }

  private send(m: PrivAnswer): void {
    if (this.o.child.connected) this.o.child.send(m);
  }

  /** The server's raw handle (node sends it as a descriptor, not as a listening server). */
  private sendHandle(m: PrivAnswer, server: net.Server): Promise<void> {
    const raw = (server as unknown as { _handle: unknown })._handle;
    return new Promise((resolve, reject) => {
      if (!this.o.child.connected) return reject(new Error('the actor process is gone'));
      this.o.child.send(m, raw as net.Server, (err) => (err ? reject(err) : resolve()));
    });
  }
}
