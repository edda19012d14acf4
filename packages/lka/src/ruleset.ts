// The ruleset (REFERENCE 1.6): `match` rules compiled once against the tables into a list of
// checks per rule, then evaluated per recipient in file order; the first rule whose checks all
// pass wins. A check answers true, false or 'error' (a table failure: the recipient gets a
// temporary failure, never a guess). Semantics follow OpenSMTPD's ruleset.c, including
// expanded addresses ("internal" envelopes) being matched with a local origin.
import type { Criterion, FromCriterion, ForCriterion, MatchRule } from '@tsmtpd/config';
import type { MailAddress, SessionInfo } from '@tsmtpd/proto';
import { LOCALHOST, LOCALNAMES, type TableSet } from './tables/registry.js';
import type { CheckService, MatchOutcome, Table } from './tables/table.js';

/** What a rule is matched against. */
export interface RuleEnvelope {
  session: SessionInfo;
  /** Produced by alias/virtual expansion: the origin counts as local (OpenSMTPD EF_INTERNAL). */
  internal: boolean;
  /** Reverse path, '' for <>. */
  sender: string;
  /** The address being routed: the RCPT, or an address an expansion produced. */
  dest: MailAddress;
}

export type RuleDecision =
  | { kind: 'match'; rule: MatchRule; index: number }
  | { kind: 'none' }
  | { kind: 'error'; index: number };

/** In-memory tables answer at once; sqlite and proc tables may answer with a promise. */
type Outcome = MatchOutcome | Promise<MatchOutcome>;
type Check = (e: RuleEnvelope) => Outcome;

interface CompiledRule {
  rule: MatchRule;
  checks: Check[];
}

function negateNow(r: MatchOutcome, negate: boolean): MatchOutcome {
  return r === 'error' ? r : negate ? !r : r;
}

function negated(r: Outcome, negate: boolean): Outcome {
  return typeof r === 'object' ? r.then((v) => negateNow(v, negate), () => 'error' as const) : negateNow(r, negate);
}

function tableOf(c: Criterion, tables: TableSet, what: string): Table {
  if (c.value === undefined) throw new Error(`${what} needs a value or a table`);
  return tables.forValue(c.value);
}

function builtin(tables: TableSet, name: string): Table {
  const t = tables.get(name);
  if (!t) throw new Error(`built-in table ${name} missing`);
  return t;
}

/** Table criterion over one key of the envelope (`helo`, `tag`, `mail-from`, `rcpt-to`, ...). */
function keyCheck(c: Criterion, tables: TableSet, what: string, service: CheckService, key: (e: RuleEnvelope) => string): Check {
  const t = tableOf(c, tables, what);
  const svc: CheckService = c.regex ? 'regex' : service;
  return (e) => negated(t.match(svc, key(e)), c.negate);
}

/** `auth` / `from auth`: authenticated at all, or as a user matched by the value. */
function authCheck(c: Criterion, tables: TableSet): Check {
  if (c.value === undefined) return (e) => negated(e.session.authUser !== null, c.negate);
  const t = tableOf(c, tables, 'auth');
  return (e) => {
    const user = e.session.authUser;
    if (user === null) return negated(false, c.negate);
    const svc: CheckService = c.regex ? 'regex' : user.includes('@') ? 'mailaddr' : 'string';
    return negated(t.match(svc, user), c.negate);
  };
}

const senderKey = (e: RuleEnvelope): string => e.sender;
const destKey = (e: RuleEnvelope): string => `${e.dest.local}@${e.dest.domain}`;

/** `from rdns [V]`: no table and an expanded address never match (OpenSMTPD). */
function rdnsCheck(c: FromCriterion, tables: TableSet): Check {
  if (c.value === undefined) return (e) => (e.internal ? false : negated(Boolean(e.session.rdns), c.negate));
  const t = tableOf(c, tables, 'from rdns');
  const svc: CheckService = c.regex ? 'regex' : 'domain';
  return (e) => {
    if (e.internal) return negated(t.match(svc, 'local'), c.negate);
    const rdns = e.session.rdns;
    if (!rdns) return false;
    return negated(t.match(svc, rdns), c.negate);
  };
}

function fromCheck(c: FromCriterion, tables: TableSet): Check {
  const origin = (e: RuleEnvelope): string => (e.internal || e.session.socket ? 'local' : e.session.remoteAddress);
  switch (c.kind) {
    case 'any':
      return () => !c.negate;
    case 'local': {
      const t = builtin(tables, LOCALHOST);
      return (e) => negated(t.match('netaddr', origin(e)), c.negate);
    }
    case 'socket':
      return (e) => (e.internal ? false : negated(e.session.socket, c.negate));
    case 'src': {
      const t = tableOf(c, tables, 'from src');
      const svc: CheckService = c.regex ? 'regex' : 'netaddr';
      return (e) => negated(t.match(svc, origin(e)), c.negate);
    }
    case 'rdns':
      return rdnsCheck(c, tables);
    case 'auth':
      return authCheck(c, tables);
    case 'mail-from':
      return keyCheck(c, tables, 'from mail-from', 'mailaddr', senderKey);
  }
}

function forCheck(c: ForCriterion, tables: TableSet): Check {
  switch (c.kind) {
    case 'any':
      return () => !c.negate;
    case 'local': {
      const t = builtin(tables, LOCALNAMES);
      return (e) => negated(t.match('domain', e.dest.domain), c.negate);
    }
    case 'domain':
      return keyCheck(c, tables, 'for domain', 'domain', (e) => e.dest.domain);
    case 'rcpt-to':
      return keyCheck(c, tables, 'for rcpt-to', 'mailaddr', destKey);
  }
}

/** The checks of one rule in OpenSMTPD's order: tag, from, for, helo, auth, tls, mail-from, rcpt-to. */
export function compileRule(rule: MatchRule, tables: TableSet): Check[] {
  const checks: Check[] = [];
  if (rule.tag) checks.push(keyCheck(rule.tag, tables, 'tag', 'string', (e) => e.session.tag ?? ''));
  checks.push(fromCheck(rule.from, tables));
  checks.push(forCheck(rule.for, tables));
  if (rule.helo) checks.push(keyCheck(rule.helo, tables, 'helo', 'domain', (e) => e.session.helo));
  if (rule.auth) checks.push(authCheck(rule.auth, tables));
  const tls = rule.tls;
  if (tls) checks.push((e) => negated(e.session.tls, tls.negate));
  if (rule.mailFrom) checks.push(keyCheck(rule.mailFrom, tables, 'mail-from', 'mailaddr', senderKey));
  if (rule.rcptTo) checks.push(keyCheck(rule.rcptTo, tables, 'rcpt-to', 'mailaddr', destKey));
  return checks;
}

/** The compiled rules of a configuration. */
export class Ruleset {
  private readonly rules: CompiledRule[];

  /** Throws when a rule names an undeclared table (the config checker should have refused it). */
  constructor(rules: readonly MatchRule[], tables: TableSet) {
    this.rules = rules.map((rule, i) => {
      try {
        return { rule, checks: compileRule(rule, tables) };
      } catch (e) {
        throw new Error(`match rule #${i + 1} (${rule.file}:${rule.line}): ${(e as Error).message}`);
      }
    });
  }

  /**
   * First matching rule; 'error' as soon as a check cannot be decided. Synchronous while every
   * table answers at once; from the first check that answers with a promise it goes on async.
   */
  match(e: RuleEnvelope): RuleDecision | Promise<RuleDecision> {
    return this.matchFrom(e, 0, 0, undefined);
  }

  private matchFrom(e: RuleEnvelope, rule: number, check: number, pending: MatchOutcome | undefined): RuleDecision | Promise<RuleDecision> {
    for (let i = rule; i < this.rules.length; i++) {
      const r = this.rules[i];
      if (!r) continue;
      let all = true;
      for (let j = i === rule ? check : 0; j < r.checks.length; j++) {
        let res: Outcome;
        if (pending !== undefined) {
          res = pending;
          pending = undefined;
        } else {
          res = (r.checks[j] as Check)(e);
        }
        if (typeof res === 'object') return res.then((v) => this.matchFrom(e, i, j, v), () => this.matchFrom(e, i, j, 'error'));
        if (res === 'error') return { kind: 'error', index: i };
        if (!res) {
          all = false;
          break;
        }
      }
      if (all) return { kind: 'match', rule: r.rule, index: i };
    }
    return { kind: 'none' };
  }
}
