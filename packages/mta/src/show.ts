// smtpctl show hosts|relays|routes: the mta's state as display lines, in the spirit of
// OpenSMTPD's (one object a line, key=value counters). Reads the engine's state, changes nothing.
import type { MtaShowKind } from '@tsmtpd/proto';
import type { ConnPool } from './pool.js';
import type { Relay } from './relay.js';

function ago(ms: number, now: number): string {
  return ms === 0 ? '-' : `${Math.max(0, Math.round((now - ms) / 1000))}s`;
}

export function showLines(kind: MtaShowKind, relays: Iterable<Relay>, pool: ConnPool, now = Date.now()): string[] {
  const list = [...relays];
  if (kind === 'relays') {
    return list.map((r) => {
      const envelopes = r.tasks.reduce((n, t) => n + t.envelopes.length, 0);
      const err = r.lastError ? ` error=${JSON.stringify(r.lastError)}` : '';
      return `${r.name} action=${r.action} ntask=${r.tasks.length} nenvelope=${envelopes} nconn=${r.sessions} held=${r.held} lastconn=${ago(r.lastConnect, now)}${err}`;
    });
  }
  if (kind === 'hosts') {
    const hosts = new Map<string, { name: string; refcount: number }>();
    for (const r of list) for (const c of r.candidates ?? []) {
      const h = hosts.get(c.ip);
      if (h) h.refcount++;
      else hosts.set(c.ip, { name: c.host, refcount: 1 });
    }
    return [...hosts.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([ip, h]) => {
      const info = pool.hostInfo(ip);
      return `${ip} ${h.name} refcount=${h.refcount} nconn=${info.nconn} lastconn=${ago(info.lastConnect, now)}`;
    });
  }
  return pool.routes(now).map((r, i) => {
    const flags = `${r.disabledFor > 0 ? 'D' : '-'}${r.penalty === 0 && r.nconn === 0 ? 'N' : '-'}`;
    return `${i + 1}. ${r.route} ${flags} nconn=${r.nconn} penalty=${r.penalty} timeout=${Math.ceil(r.disabledFor / 1000)}s`;
  });
}
