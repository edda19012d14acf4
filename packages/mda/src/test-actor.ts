// Test support for actor tests: start the mda in a real worker with a fake queue (bodies in
// 64 KiB chunks, 2 a page; results recorded) and a fake lka (users from a table).
import assert from 'node:assert/strict';
import { startTestActor } from '@tsmtpd/actor';
import type { Action, SmtpdConfig } from '@tsmtpd/config';
import { DEFAULT_SETTINGS, fail, ok, type DeliveryResult, type Envelope, type ReloadReport, type UserInfo, type UserLookup } from '@tsmtpd/proto';
import { workerUrl } from './index.js';

export function action(name: string, method: Action['method'], extra: Partial<Action> = {}): Action {
  return { file: 'test', line: 0, name, method, ...extra };
}

export function envelope(id: string, extra: Partial<Envelope> = {}): Envelope {
  return {
    id, msgid: id.slice(0, 8), type: 'mda', dispatcher: 'local', smtpname: 'mx.test', helo: 'client', hostname: '', sockaddr: 'local',
    sender: 'bob@x.org', rcpt: 'alice@y.org', dest: 'alice@y.org', mdaUser: 'alice',
    ctime: Math.floor(Date.now() / 1000), lastTry: 0, lastBounce: 0, ttl: 3600, retry: 0, flags: [], dsnNotify: 0, ...extra,
  };
}

export interface Harness {
  results: DeliveryResult[];
  bodyReads: { msgid: string; from: number }[];
  waitResults(n: number, ms?: number): Promise<DeliveryResult[]>;
  deliver(envs: Envelope[], bodies?: Record<string, ArrayBuffer[]>): Promise<void>;
  /** The mailbox's reload (a ReloadOrder). */
  reload(order: unknown): Promise<ReloadReport>;
  stats(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/** Start the mda with fake peers. Bodies are served in 64 KiB chunks, 2 chunks a page. */
export async function startMda(config: SmtpdConfig, bodies: Map<string, string | Buffer>, users: Record<string, UserInfo>, settings: Record<string, unknown> = {}): Promise<Harness> {
  const results: DeliveryResult[] = [];
  const bodyReads: { msgid: string; from: number }[] = [];
  const CHUNK = 64 * 1024;
  const actor = await startTestActor({
    role: 'mda',
    entry: workerUrl,
    init: { config, spool: '/nonexistent', settings: { ...DEFAULT_SETTINGS, ...settings } },
    fakes: {
      queue: {
        async bodyRead(msgid: string, from: number) {
          bodyReads.push({ msgid, from });
          const b = bodies.get(msgid);
          if (b === undefined) return fail('ERR_NO_MESSAGE', 'temp', `no message ${msgid}`);
          const buf = Buffer.from(b);
          const chunks: ArrayBuffer[] = [];
          let i = from;
          for (; i < from + 2 && i * CHUNK < buf.length; i++) chunks.push(new Uint8Array(buf.subarray(i * CHUNK, (i + 1) * CHUNK)).buffer);
          return ok({ chunks, next: i * CHUNK < buf.length ? i : null });
        },
        onDeliveryResults(r: DeliveryResult[]) {
          results.push(...r);
        },
      },
      lka: {
        async userLookup(name: string): Promise<UserLookup> {
          const u = users[name];
          return u ? { ok: true, user: u } : { ok: false, kind: 'perm', message: `no such user ${name}` };
        },
      },
    },
  });
  return {
    results,
    bodyReads,
    async waitResults(n, ms = 15_000) {
      const until = Date.now() + ms;
      while (results.length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      assert.ok(results.length >= n, `expected ${n} results, got ${JSON.stringify(results)}`);
      return results;
    },
    deliver: async (envs, bodies) => {
      actor.mailbox.onDeliver(envs, bodies);
      await actor.drain();
    },
    reload: (order) => actor.mailbox.reload(order),
    stats: () => actor.handle.ctl.stats(),
    stop: () => actor.stop(),
  };
}
