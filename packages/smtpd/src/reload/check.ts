// Reload, the checking half (run where the configuration is read: the privileged process of a
// root daemon, else the daemon itself): re-read and check the file, keep the running values of
// what cannot change without a restart (with a warning naming it), re-read the TLS material,
// and say what changed for the reload's log line.
import { legacyWarning, loadConfig, type SmtpdConfig } from '@tsmtpd/config';
import type { TlsMaterial } from '@tsmtpd/proto';
import { unimplementedFeatures } from '../features.js';
import { addRelayTlsMaterial, readListenerTlsMaterial } from '../tls-material.js';

export interface ReloadSource {
  configFile: string;
  macros: Record<string, string>;
  legacy: boolean;
  /** The pre-6.4 grammar was read: its modern form, a line each, as the start logs it. */
  onLegacy?: (line: string) => void;
}

export type Checked = { ok: true; config: SmtpdConfig; tls: TlsMaterial; warnings: string[] } | { ok: false; errors: string[] };

/** The configuration without its source positions: what "unchanged" compares. */
export function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a, stripPos) === JSON.stringify(b, stripPos);
}

function stripPos(key: string, value: unknown): unknown {
  return key === 'file' || key === 'line' ? undefined : value;
}

/** The queue's options as the file says them (a key read from stdin or a terminal is not the file's). */
function queueAsWritten(q: SmtpdConfig['queue']): unknown {
  const enc = q.encryption;
  return { ...q, ttl: 0, encryption: enc && { keySource: enc.keySource, key: enc.keySource === 'inline' ? enc.key : undefined } };
}

/**
 * Sections only read at start: the running value stays, a warning names the change. The queue
 * ttl is the lka's (new envelopes), so it is reloaded.
 */
export function keepUnreloadable(current: SmtpdConfig, next: SmtpdConfig): { config: SmtpdConfig; warnings: string[] } {
  const warnings: string[] = [];
  const out: SmtpdConfig = { ...next };
  const cq = current.queue, nq = next.queue;
  if (!sameValue(cq.backend, nq.backend)) warnings.push('queue backend change needs a restart');
  if (!sameValue(queueAsWritten({ ...cq, backend: undefined }), queueAsWritten({ ...nq, backend: undefined }))) warnings.push('queue encryption/compression change needs a restart');
  out.queue = { ...cq, ttl: nq.ttl };
  const keep = <K extends 'scheduler' | 'srs'>(k: K, what: string): void => {
    if (!sameValue(current[k], next[k])) warnings.push(`${what} change needs a restart`);
    out[k] = current[k];
  };
  keep('scheduler', 'scheduler limit');
  keep('srs', 'srs key');
  if (!sameValue(current.metrics, next.metrics)) warnings.push('metrics listener change needs a restart');
  if (current.metrics) out.metrics = current.metrics;
  else delete out.metrics;
  if (!sameValue(current.mta.limits, next.mta.limits)) warnings.push('mta limit change needs a restart');
  out.mta = { ...next.mta, limits: current.mta.limits };
  return { config: out, warnings };
}

/** Read and check the file again; on success the configuration to apply and its TLS material. */
export async function checkReload(current: SmtpdConfig, src: ReloadSource): Promise<Checked> {
  const r = await loadConfig(src.configFile, { macros: src.macros, legacy: src.legacy, readsStdinKey: true });
  if (!r.ok) return { ok: false, errors: r.errors };
  if (r.legacyRead && src.onLegacy) for (const l of legacyWarning(r.legacyRead)) if (l !== '') src.onLegacy(l);
  const missing = unimplementedFeatures(r.config);
  if (missing.length > 0) return { ok: false, errors: missing };
  const { config, warnings } = keepUnreloadable(current, r.config);
  const tls = readListenerTlsMaterial(config);
  if (!tls.ok) return { ok: false, errors: tls.errors };
  const relayErrors = addRelayTlsMaterial(config, tls.material);
  if (relayErrors.length > 0) return { ok: false, errors: relayErrors };
  return { ok: true, config, tls: tls.material, warnings };
}

/** "address|port" of every inet listening address, "socket" for the enqueue socket. */
export function listenerKeys(config: SmtpdConfig): Set<string> {
  const keys = new Set<string>();
  for (const l of config.listeners) {
    if (l.kind === 'socket') keys.add('socket');
    else for (const a of l.addresses) keys.add(`${a.address}|${l.port}`);
  }
  return keys;
}

/** The new configuration's listeners reduced to the addresses the running one does not have. */
export function addedListeners(current: SmtpdConfig, next: SmtpdConfig): SmtpdConfig {
  const had = listenerKeys(current);
  const listeners = next.listeners
    .filter((l) => l.kind !== 'socket')
    .map((l) => ({ ...l, addresses: l.addresses.filter((a) => !had.has(`${a.address}|${l.port}`)) }))
    .filter((l) => l.addresses.length > 0);
  return { ...next, listeners };
}

/** The changes worth a log line: listeners added and removed, rules, tables reloaded. */
export function describeChange(current: SmtpdConfig, next: SmtpdConfig): Record<string, string | number> {
  const before = listenerKeys(current), after = listenerKeys(next);
  const show = (k: string) => (k === 'socket' ? 'socket' : k.replace('|', ':'));
  const added = [...after].filter((k) => !before.has(k)).map(show);
  const removed = [...before].filter((k) => !after.has(k)).map(show);
  const tables = Object.keys(next.tables).filter((n) => !sameValue(current.tables[n], next.tables[n]));
  const actions = Object.keys(current.actions).filter((n) => !(n in next.actions));
  return {
    'listeners-added': added.join(',') || 'none',
    'listeners-removed': removed.join(',') || 'none',
    rules: next.matches.length,
    'tables-reloaded': tables.join(',') || 'none',
    ...(actions.length > 0 ? { 'actions-removed': actions.join(',') } : {}),
  };
}
