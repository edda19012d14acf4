// Builders for the lka's tests: configuration model objects (rules, actions, tables), a
// session, and a fixed machine identity, so tests state only what they are about.
import { SmtpdConfigSchema, socketListener, type Action, type ActionMethod, type Criterion, type ForCriterion, type FromCriterion, type MatchRule, type SmtpdConfig, type TableDef, type Value } from '@tsmtpd/config';
import type { SessionInfo } from '@tsmtpd/proto';
import type { MachineIdentity } from './localnames.js';

const pos = { file: 'test.conf', line: 1 };

export const TEST_IDENTITY: MachineIdentity = { hostnames: ['testhost'], addresses: ['127.0.0.1', '10.1.2.3', '::1', '2001:db8::5'] };

/** A criterion: `c('x.org')`, `c({table:'t'}, {negate:true, regex:true})`. */
export function c(value?: Value, o: { negate?: boolean; regex?: boolean } = {}): Criterion {
  return { negate: o.negate ?? false, regex: o.regex ?? false, ...(value !== undefined ? { value } : {}) };
}

export function from(kind: FromCriterion['kind'], value?: Value, o: { negate?: boolean; regex?: boolean } = {}): FromCriterion {
  return { kind, ...c(value, o) };
}

export function forr(kind: ForCriterion['kind'], value?: Value, o: { negate?: boolean; regex?: boolean } = {}): ForCriterion {
  return { kind, ...c(value, o) };
}

/** A match rule; `from`/`for` default to `local` as in smtpd.conf. */
export function rule(r: Partial<Omit<MatchRule, 'file' | 'line'>> & { action?: string }): MatchRule {
  return {
    ...pos, from: from('local'), for: forr('local'), ...r,
    reject: r.reject ?? false,
  } as MatchRule;
}

export function action(name: string, method: ActionMethod, o: Partial<Omit<Action, 'name' | 'method' | 'file' | 'line'>> = {}): Action {
  return { ...pos, name, method, ...o };
}

export const mbox: ActionMethod = { kind: 'mbox' };
export const relay: ActionMethod = { kind: 'relay', backup: false, srs: false };

export function listTable(name: string, list: string[]): TableDef {
  return { ...pos, name, type: 'static', list };
}

export function mapTable(name: string, map: Record<string, string>): TableDef {
  return { ...pos, name, type: 'static', map };
}

/** A validated configuration with the given tables, actions and rules. */
export function config(o: { tables?: TableDef[]; actions?: Action[]; matches?: MatchRule[]; serverName?: string; delim?: string; ttl?: number }): SmtpdConfig {
  return SmtpdConfigSchema.parse({
    serverName: o.serverName ?? 'mx.example.org',
    listeners: [socketListener()],
    tables: Object.fromEntries((o.tables ?? []).map((t) => [t.name, t])),
    actions: Object.fromEntries((o.actions ?? []).map((a) => [a.name, a])),
    matches: o.matches ?? [],
    smtp: { subAddrDelim: o.delim ?? '+' },
    ...(o.ttl !== undefined ? { queue: { ttl: o.ttl } } : {}),
  });
}

/** A remote, unauthenticated, plain-text session unless overridden. */
export function session(o: Partial<SessionInfo> = {}): SessionInfo {
  return {
    id: 's1', socket: false, remoteAddress: '203.0.113.9', localAddress: '10.1.2.3', rdns: null,
    helo: 'client.example.net', authUser: null, tls: false, tag: null, smtpname: 'mx.example.org', ...o,
  };
}
