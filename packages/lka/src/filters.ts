// Builtin filters (`filter NAME phase PHASE match CONDITION DECISION`, REFERENCE 1.7): each
// condition compiled once against the tables, evaluated for the smtp actor on the facts a
// session has gathered. Semantics of OpenSMTPD's lka_filter.c: `rdns` matches a client WITH a
// reverse name, `fcrdns` one whose name resolves back to it, `!` negates; a table failure is
// 'error' and the smtp side fails closed.
import type { Filter, FilterCondition, SmtpdConfig } from '@tsmtpd/config';
import type { FilterFacts } from '@tsmtpd/proto';
import type { TableSet } from './tables/registry.js';
import type { CheckService, MatchOutcome, Table } from './tables/table.js';

/** Table checks may be asynchronous (db, proc tables); in-memory ones answer at once. */
type Outcome = MatchOutcome | Promise<MatchOutcome>;
type Check = (f: FilterFacts) => Outcome;

function negateNow(r: MatchOutcome, negate: boolean): MatchOutcome {
  return r === 'error' ? r : negate ? !r : r;
}

function negated(r: Outcome, negate: boolean): Outcome {
  return typeof r === 'object' ? r.then((v) => negateNow(v, negate), () => 'error' as const) : negateNow(r, negate);
}

function keyed(c: FilterCondition, t: Table, service: CheckService, key: (f: FilterFacts) => string | null): Check {
  const svc: CheckService = c.regex ? 'regex' : service;
  // A key the session does not have yet (no AUTH, no MAIL) matches nothing, as in OpenSMTPD.
  return (f) => {
    const k = key(f);
    return negated(k === null ? false : t.match(svc, k), c.negate);
  };
}

export function compileCondition(c: FilterCondition, tables: TableSet): Check {
  switch (c.kind) {
    case 'fcrdns':
      return (f) => negated(f.fcrdns === 'pass', c.negate);
    case 'rdns':
      if (c.value === undefined) return (f) => negated(f.rdns !== null, c.negate);
      return keyed(c, tables.forValue(c.value), 'domain', (f) => f.rdns ?? '<unknown>');
    case 'auth': {
      if (c.value === undefined) return (f) => negated(f.authUser !== null, c.negate);
      const t = tables.forValue(c.value);
      return keyed(c, t, 'string', (f) => f.authUser);
    }
    case 'src':
    case 'helo':
    case 'mail-from':
    case 'rcpt-to': {
      if (c.value === undefined) throw new Error(`${c.kind} needs a table or a value`);
      const t = tables.forValue(c.value);
      if (c.kind === 'src') return keyed(c, t, 'netaddr', (f) => f.src);
      if (c.kind === 'helo') return keyed(c, t, 'domain', (f) => f.helo);
      if (c.kind === 'mail-from') return keyed(c, t, 'mailaddr', (f) => f.mailFrom);
      return keyed(c, t, 'mailaddr', (f) => f.rcptTo);
    }
  }
}

/** The compiled conditions of every builtin filter of a configuration. */
export class BuiltinFilters {
  private readonly checks = new Map<string, Check[]>();

  constructor(config: SmtpdConfig, tables: TableSet) {
    for (const f of Object.values(config.filters) as Filter[]) {
      if (f.kind !== 'builtin') continue;
      try {
        this.checks.set(f.name, f.conditions.map((c) => compileCondition(c, tables)));
      } catch (e) {
        throw new Error(`${f.file}:${f.line}: filter "${f.name}": ${(e as Error).message}`);
      }
    }
  }

  /** All conditions of `name` hold (a builtin has one in OpenSMTPD 6.8 grammar). */
  async match(name: string, facts: FilterFacts): Promise<MatchOutcome | undefined> {
    const checks = this.checks.get(name);
    if (!checks) return undefined;
    for (const check of checks) {
      const r = await check(facts);
      if (r !== true) return r;
    }
    return true;
  }
}
