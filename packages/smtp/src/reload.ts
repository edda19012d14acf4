// The smtp actor's side of a reload: check the order, build the new generation's environment
// (filters restarted only when their declarations changed), hand the listeners the new
// configuration, and let an old generation go (its filter processes, the lka's ruleset and
// tables of it) once its last session has ended.
import { parseReloadOrder } from '@tsmtpd/config/reload-order.js';
import type { LkaMailbox, ReloadReport } from '@tsmtpd/proto';
import { errorInfo, type Logger, type Remote } from '@tsmtpd/actor';
import type { Listeners } from './listeners.js';
import type { SmtpEnv } from './session.js';
import { TlsMaterialSchema } from './tls.js';
import { FilterEngine } from './filters/engine.js';
import { FILTER_TIMEOUT_MS } from './filter-timeout.js';

/** Generations still served: the current one, and older ones' filter engines to stop later. */
export interface Generations {
  current: number;
  /** Older generation -> its filter engine when the next one has another (null: shared). */
  filters: Map<number, FilterEngine | null>;
  /** A session of generation `gen` ended (set by the first reload). */
  ended?: (gen: number) => void;
}

export interface ReloadDeps {
  env: SmtpEnv;
  listeners: Listeners;
  gens: Generations;
  log: Logger;
  lka(): Remote<LkaMailbox>;
}

function samePart(a: unknown, b: unknown): boolean {
  const strip = (k: string, v: unknown) => (k === 'file' || k === 'line' ? undefined : v);
  return JSON.stringify(a, strip) === JSON.stringify(b, strip);
}

const show = (k: string) => k.replace('|', ':');

export async function reloadSmtp(raw: unknown, d: ReloadDeps): Promise<{ report: ReloadReport; env?: SmtpEnv }> {
  const p = parseReloadOrder(raw);
  if (!p.ok) return { report: p };
  const o = { data: p.order };
  const tls = o.data.tls !== undefined ? TlsMaterialSchema.safeParse(o.data.tls) : null;
  if (tls !== null && !tls.success) return { report: { ok: false, error: 'invalid TLS material in the reload order' } };
  const config = p.config;
  const old = d.env;
  let filters = old.filters;
  const filtersChanged = !samePart([old.config.filters, old.config.procs, old.config.admd], [config.filters, config.procs, config.admd]);
  if (filtersChanged) {
    filters = Object.keys(config.filters).length > 0 ? new FilterEngine({ config, log: d.log, lka: d.lka, timeoutMs: old.settings.filterTimeoutMs ?? FILTER_TIMEOUT_MS }) : null;
    try {
      await filters?.start();
    } catch (e) {
      await filters?.stop();
      return { report: { ok: false, error: `filters: ${errorInfo(e).message}` } };
    }
  }
  const env: SmtpEnv = { ...old, config, gen: o.data.gen, filters };
  const change = await d.listeners.reload(env, tls?.success ? tls.data : undefined, o.data.listenFds ?? []);
  const gens = d.gens;
  gens.filters.set(old.gen, filtersChanged ? old.filters : null);
  gens.current = env.gen;
  gens.ended = (gen) => {
    if (gen === gens.current || !gens.filters.has(gen)) return;
    for (const s of env.sessions.values()) if (s.env.gen === gen) return;
    retire(gens, gen, d);
  };
  // Generations without a session left go at once (the last ones may have ended before).
  for (const g of [...gens.filters.keys()]) gens.ended(g);
  const notes = [`listeners ${change.added.length > 0 ? `+${change.added.map(show).join(',')}` : '+0'} ${change.removed.length > 0 ? `-${change.removed.map(show).join(',')}` : '-0'}`];
  if (filtersChanged) notes.push('filters restarted');
  if (change.errors.length > 0) return { report: { ok: false, error: change.errors.join('; ') }, env };
  return { report: { ok: true, notes }, env };
}

function retire(gens: Generations, gen: number, d: ReloadDeps): void {
  const f = gens.filters.get(gen);
  gens.filters.delete(gen);
  void f?.stop().catch((e: unknown) => d.log.warn('filter stop failed', { error: errorInfo(e).message }));
  try {
    void d.lka().releaseGeneration(gen);
  } catch {
    // lka gone: the daemon is stopping
  }
  d.log.debug('configuration generation released', { generation: gen });
}
