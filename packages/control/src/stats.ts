// The statistics book: every actor's latest counters (pushed to control, DESIGN 2), merged for
// `smtpctl show stats`, the monitor digest and the metrics endpoint; and their persistence in
// <spool>/stats.db (SQLite, control's own: never the queue's database) so that counters that only
// grow survive a restart. Levels (sessions open, envelopes queued) are not saved: they are what
// the running daemon reports. Nothing here is read back by the mail logic.
import Database from 'better-sqlite3';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import type { Digest, StatsPush } from '@tsmtpd/proto';

export const STATS_DB = 'stats.db';
const SAVE_EVERY_MS = 10_000;

/** Counters that only grow (saved across restarts); every other key is a level. */
const COUNTER_KEYS = new Set(['smtp.session', 'smtp.session.local', 'smtp.session.inet4', 'smtp.session.inet6', 'smtp.message', 'smtp.rcpt', 'smtp.rollback']);
const COUNTER_SUFFIX = /\.(delivery\.[a-z]+|ok|tempfail|permfail|loop|expired|removed|updated|dispatched|enqueued|committed|rollback|chunks|corrupt|released|hold-overflow|hold-timeout|ticks|messages|connect|connect\.fail|refused|refused\.[a-z]+|sent|skipped|txn|ops|lazy|failed|resolved|recipients|holdq\.release)$/;

export function isCounter(key: string): boolean {
  return COUNTER_KEYS.has(key) || COUNTER_SUFFIX.test(key);
}

/** OpenSMTPD's duration_to_text: 1d2h3m4s, parts that are zero left out; 0s for zero. */
export function durationText(sec: number): string {
  if (sec === 0) return '0s';
  let t = Math.abs(Math.floor(sec));
  const s = t % 60; t = Math.floor(t / 60);
  const m = t % 60; t = Math.floor(t / 60);
  const h = t % 24; const d = Math.floor(t / 24);
  return `${sec < 0 ? '-' : ''}${d ? `${d}d` : ''}${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
}

export class StatsBook {
  readonly startedAt = Date.now();
  private readonly live = new Map<string, Record<string, number>>();
  private base = new Map<string, number>();
  private db: Database.Database | null = null;
  private timer: NodeJS.Timeout | null = null;
  private dirty = false;

  constructor(private readonly warn: (event: string, fields: Record<string, unknown>) => void) {}

  /** Open <spool>/stats.db and take the totals saved by earlier runs (a broken file is warned about and set aside). */
  open(spool: string): void {
    const file = join(spool, STATS_DB);
    try {
      const db = new Database(file, { timeout: 1000 });
      chmodSync(file, 0o600);
      db.pragma('journal_mode = WAL');
      db.exec('CREATE TABLE IF NOT EXISTS counter (key TEXT PRIMARY KEY, value REAL NOT NULL)');
      for (const row of db.prepare('SELECT key, value FROM counter').all() as { key: string; value: number }[]) {
        if (typeof row.key === 'string' && Number.isFinite(row.value) && isCounter(row.key)) this.base.set(row.key, row.value);
      }
      this.db = db;
    } catch (e) {
      this.warn('statistics database unusable, counters start from zero', { file, error: (e as Error).message });
      this.db = null;
    }
    this.timer = setInterval(() => this.save(), SAVE_EVERY_MS);
    this.timer.unref();
  }

  /** An actor's counters; keys without the actor's prefix get it (lka's `resolved`: lka.resolved). */
  push(p: StatsPush): void {
    const c: Record<string, number> = {};
    for (const [k, v] of Object.entries(p.counters)) c[k.startsWith(`${p.role}.`) || k.includes('.') ? k : `${p.role}.${k}`] = v;
    this.live.set(p.role, c);
    this.dirty = true;
  }

  /** This run's value of a key (0 when never pushed). */
  current(key: string): number {
    let n = 0;
    for (const c of this.live.values()) n += c[key] ?? 0;
    return n;
  }

  /** Every key with its value: counters include earlier runs' totals. Sorted by key. */
  all(): [string, number][] {
    const m = new Map<string, number>();
    for (const c of this.live.values()) for (const [k, v] of Object.entries(c)) m.set(k, (m.get(k) ?? 0) + v);
    for (const [k, v] of this.base) m.set(k, (m.get(k) ?? 0) + v);
    return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** The monitor's digest, from this run's counters (deltas are what the monitor shows). */
  digest(): Digest {
    const c = (k: string) => this.current(k);
    const connect = c('smtp.session');
    const removed = c('scheduler.envelope.removed');
    const expired = c('scheduler.envelope.expired');
    const ok = c('scheduler.delivery.ok');
    const permfail = c('scheduler.delivery.permfail');
    const loop = c('scheduler.delivery.loop');
    return {
      clt_connect: connect,
      clt_disconnect: Math.max(0, connect - c('smtp.session.active')),
      evp_enqueued: c('scheduler.envelope.enqueued'),
      evp_dequeued: ok + permfail + loop + expired + removed,
      evp_expired: expired,
      evp_removed: removed,
      evp_bounce: c('queue.bounce.sent'),
      dlv_ok: ok,
      dlv_tempfail: c('scheduler.delivery.tempfail'),
      dlv_permfail: permfail,
      dlv_loop: loop,
    };
  }

  /** Write the counters' totals (earlier runs + this one) to the database. */
  save(): void {
    if (!this.db || !this.dirty) return;
    this.dirty = false;
    try {
      const put = this.db.prepare('INSERT INTO counter (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
      const rows = this.all().filter(([k]) => isCounter(k));
      this.db.transaction(() => {
        for (const [k, v] of rows) put.run(k, v);
      })();
    } catch (e) {
      this.warn('statistics not saved', { error: (e as Error).message });
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.dirty = true;
    this.save();
    this.db?.close();
    this.db = null;
  }
}
