// Statement parser for `match [criteria] action NAME | reject`: each criterion once, optional `!`
// and `regex`, literal or table operands checked for the lookup they serve; defaults `from local`
// and `for local`. The named action must already be declared (no forward references).
import type { Cursor, StmtPos } from './cursor.js';
import type { Token } from './lexer.js';
import type { Criterion, ForCriterion, FromCriterion, MatchRule } from './model.js';
import { parseTables, tableCanServe, tableName, type Draft, type Service } from './state.js';

const startsTable = (t: Token): boolean => t.t === 'str' || (t.t === 'punct' && (t.v === '<' || t.v === '{'));

interface Operand { regex: boolean; value: Criterion['value'] }

/** `auth <t>` serves user names (string) or credentials lookups. */
const AUTH_SERVICES: readonly Service[] = ['string', 'credentials'];

/**
 * Reads `[regex] tables`, checking the table can serve `service` (or regex) lookups. As 6.8,
 * the entries themselves (patterns, networks) are not checked here.
 */
function operand(cur: Cursor, d: Draft, pos: StmtPos, service: Service | readonly Service[], what: string): Operand {
  const regex = cur.acceptKw('regex');
  const item = parseTables(cur, d, pos);
  if (!tableCanServe(item.info, 'list', regex ? 'regex' : service)) {
    cur.fail(item.tok, `table "${tableName(item)}" may not be used for ${what} lookups`);
  }
  return { regex, value: item.value };
}

/** Reads an optional `[regex] tables` (for `auth`, `from rdns`, `from auth`). */
function optOperand(cur: Cursor, d: Draft, pos: StmtPos, service: Service | readonly Service[], what: string): Operand | undefined {
  return cur.isKw('regex') || startsTable(cur.peek()) ? operand(cur, d, pos, service, what) : undefined;
}

function crit(negate: boolean, op?: Operand): Criterion {
  return op === undefined ? { negate, regex: false } : { negate, regex: op.regex, value: op.value };
}

interface RuleDraft {
  from?: FromCriterion; for?: ForCriterion; auth?: Criterion; helo?: Criterion;
  mailFrom?: Criterion; rcptTo?: Criterion; tag?: Criterion; tls?: Criterion;
}

/** `match ...`. */
export function parseMatch(cur: Cursor, d: Draft, pos: StmtPos): void {
  cur.expectKw('match');
  const r: RuleDraft = {};
  for (;;) {
    const negate = cur.acceptPunct('!');
    const tok = cur.peek();
    if (tok.t !== 'kw') cur.fail(tok);
    if (!negate && (tok.v === 'action' || tok.v === 'reject')) break;
    cur.next();
    const once = (key: keyof RuleDraft, what: string): void => {
      if (r[key] !== undefined) cur.fail(tok, `${what} already specified for this rule`);
    };
    switch (tok.v) {
      case 'tag': once('tag', 'tag'); r.tag = crit(negate, operand(cur, d, pos, 'string', 'tag')); break;
      case 'helo': once('helo', 'helo'); r.helo = crit(negate, operand(cur, d, pos, 'domain', 'helo')); break;
      case 'tls': once('tls', 'tls'); r.tls = crit(negate); break;
      // As 6.8: `auth` after `from auth` (and the like for mail-from, rcpt-to) is refused, but
      // not the other order (`from auth` overrides an earlier `auth`).
      case 'auth':
        once('auth', 'auth');
        if (r.from?.kind === 'auth') cur.fail(tok, 'auth already specified for this rule');
        r.auth = crit(negate, optOperand(cur, d, pos, AUTH_SERVICES, 'auth')); break;
      case 'mail-from':
        once('mailFrom', 'mail-from');
        if (r.from?.kind === 'mail-from') cur.fail(tok, 'mail-from already specified for this rule');
        r.mailFrom = crit(negate, operand(cur, d, pos, 'mailaddr', 'mail-from')); break;
      case 'rcpt-to':
        once('rcptTo', 'rcpt-to');
        if (r.for?.kind === 'rcpt-to') cur.fail(tok, 'rcpt-to already specified for this rule');
        r.rcptTo = crit(negate, operand(cur, d, pos, 'mailaddr', 'rcpt-to')); break;
      case 'from': once('from', 'from'); r.from = parseFrom(cur, d, pos, negate, r, tok); break;
      case 'for': once('for', 'for'); r.for = parseFor(cur, d, pos, negate, r, tok); break;
      default: cur.fail(tok);
    }
  }
  const rule: MatchRule = {
    from: r.from ?? { kind: 'local', negate: false, regex: false },
    for: r.for ?? { kind: 'local', negate: false, regex: false },
    reject: false, file: pos.file, line: pos.line,
  };
  for (const k of ['auth', 'helo', 'mailFrom', 'rcptTo', 'tag', 'tls'] as const) {
    const c = r[k];
    if (c) rule[k] = c;
  }
  if (cur.acceptKw('reject')) rule.reject = true;
  else {
    cur.expectKw('action');
    const name = cur.expectString();
    if (!d.actions.has(name.v)) cur.fail(name, `no such dispatcher: ${name.v}`);
    rule.action = name.v;
  }
  d.matches.push(rule);
}

function parseFrom(cur: Cursor, d: Draft, pos: StmtPos, negate: boolean, r: RuleDraft, at: Token): FromCriterion {
  const k = cur.next();
  if (k.t !== 'kw') cur.fail(k);
  switch (k.v) {
    case 'any': case 'local': case 'socket': return { kind: k.v, negate, regex: false };
    case 'src': return { kind: 'src', ...crit(negate, operand(cur, d, pos, 'netaddr', 'from')) };
    case 'rdns': return { kind: 'rdns', ...crit(negate, optOperand(cur, d, pos, 'domain', 'rdns')) };
    case 'auth': {
      const c = { kind: 'auth' as const, ...crit(negate, optOperand(cur, d, pos, AUTH_SERVICES, 'from')) };
      delete r.auth;
      return c;
    }
    case 'mail-from': {
      const c = { kind: 'mail-from' as const, ...crit(negate, operand(cur, d, pos, 'mailaddr', 'from')) };
      delete r.mailFrom;
      return c;
    }
    default: return cur.fail(k);
  }
}

function parseFor(cur: Cursor, d: Draft, pos: StmtPos, negate: boolean, r: RuleDraft, at: Token): ForCriterion {
  const k = cur.next();
  if (k.t !== 'kw') cur.fail(k);
  switch (k.v) {
    case 'any': case 'local': return { kind: k.v, negate, regex: false };
    case 'domain': return { kind: 'domain', ...crit(negate, operand(cur, d, pos, 'domain', "'for'")) };
    case 'rcpt-to': {
      const c = { kind: 'rcpt-to' as const, ...crit(negate, operand(cur, d, pos, 'mailaddr', 'for')) };
      delete r.rcptTo;
      return c;
    }
    default: return cur.fail(k);
  }
}
