// The actor test kit: start one real actor in a real worker, with fake peers served
// from the test's thread, and drive its mailbox. Fakes are plain objects implementing
// (part of) a peer's mailbox; a call to a method a fake lacks fails the caller.
import { UNPRIVILEGED } from './privileged.js';
import * as Comlink from 'comlink';
import { MessageChannel } from 'node:worker_threads';
import type { MailboxOf, Role } from '@tsmtpd/proto';
import { PortMux } from './mux.js';
import { serve } from './notify.js';
import { spawnActor, type ActorHandle } from './spawn.js';
import type { Remote } from './remote.js';

export type Fakes = { [K in Role]?: Partial<MailboxOf[K]> };

export interface TestActorOptions<R extends Role> {
  role: R;
  entry: URL;
  init: unknown;
  fakes?: Fakes;
  /** Call deadline inside and towards the actor, ms. */
  deadlineMs?: number;
  verbose?: boolean;
  /** Default true: keep test output clean. */
  quiet?: boolean;
  /** Call start() after wiring (default true). */
  start?: boolean;
}

export interface TestActor<R extends Role> {
  mailbox: Remote<MailboxOf[R]>;
  handle: ActorHandle<R>;
  /** Reasons passed to the parent's onFatal by the actor. */
  fatals: string[];
  /** Resolves once the notifications sent to the actor so far were handled. */
  drain(): Promise<void>;
  /** stop() then terminate the worker. */
  stop(): Promise<void>;
}

export async function startTestActor<R extends Role>(opts: TestActorOptions<R>): Promise<TestActor<R>> {
  const fatals: string[] = [];
  const handle = await spawnActor(opts.role, opts.entry, {
    init: opts.init,
    parent: { ...UNPRIVILEGED, onFatal: (_role, reason) => void fatals.push(reason), reloadConfig: async () => ({ ok: false, errors: ['no reload in the test kit'] }) },
    quiet: opts.quiet ?? true,
    verbose: opts.verbose ?? false,
    ...(opts.deadlineMs !== undefined ? { deadlineMs: opts.deadlineMs } : {}),
  });
  const muxes: PortMux[] = [];
  for (const [peer, impl] of Object.entries(opts.fakes ?? {}) as [Role, object][]) {
    const { port1, port2 } = new MessageChannel();
    const mux = new PortMux(port1);
    muxes.push(mux);
    serve(impl, mux.lane(peer));
    port1.start();
    await handle.ctl.connect(peer, Comlink.transfer(port2, [port2]));
  }
  if (opts.start !== false) await handle.ctl.start();
  return {
    mailbox: handle.mailbox,
    handle,
    fatals,
    drain: () => handle.drain(),
    async stop() {
      try {
        await handle.ctl.stop();
      } finally {
        for (const m of muxes) m.close();
        await handle.terminate();
      }
    },
  };
}
