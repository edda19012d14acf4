// Statement parser for `filter NAME ...` (builtin phase filters, `proc`, `proc-exec`, `chain`) and
// the `{ f1, f2 }` filter lists also written inline after `listen ... filter` and `relay filter`.
import type { Cursor, StmtPos } from './cursor.js';
import type { Filter, FilterCondition, FilterDecision, FilterPhase } from './model.js';
import { parseProcParams } from './parse-globals.js';
import { parseTables, type Draft } from './state.js';

type CondKind = FilterCondition['kind'];

const BASE: readonly CondKind[] = ['fcrdns', 'rdns', 'src'];
const WITH_HELO: readonly CondKind[] = [...BASE, 'helo'];
const WITH_AUTH: readonly CondKind[] = [...WITH_HELO, 'auth'];
const WITH_MAIL: readonly CondKind[] = [...WITH_AUTH, 'mail-from'];

/** Conditions each phase accepts (only data already seen in the session is available). */
const PHASE_CONDITIONS: Readonly<Record<FilterPhase, readonly CondKind[]>> = {
  connect: BASE, helo: WITH_HELO, ehlo: WITH_HELO, auth: WITH_AUTH, 'mail-from': WITH_MAIL,
  'rcpt-to': [...WITH_MAIL, 'rcpt-to'], data: WITH_MAIL, commit: WITH_MAIL,
};

const PHASES: readonly FilterPhase[] = ['connect', 'helo', 'ehlo', 'auth', 'mail-from', 'rcpt-to', 'data', 'commit'];

/** `filter NAME proc P` / `proc-exec "cmd" [user][group][chroot]` / `phase ...` / `chain { ... }`. */
export function parseFilter(cur: Cursor, d: Draft, pos: StmtPos): void {
  cur.expectKw('filter');
  const nameTok = cur.expectString();
  const name = nameTok.v;
  const at = { file: pos.file, line: pos.line };
  const dup = (): void => { if (d.filters.has(name)) cur.fail(nameTok, `filter already exists with that name: ${name}`); };
  if (cur.acceptKw('proc')) {
    const proc = cur.expectString();
    dup();
    if (!d.procs.has(proc.v)) cur.fail(proc, `no processor exist with that name: ${proc.v}`);
    d.filters.set(name, { kind: 'proc', name, proc: proc.v, ...at });
    return;
  }
  if (cur.acceptKw('proc-exec')) {
    const cmd = cur.expectString();
    dup();
    const opts: { user?: string; group?: string; chroot?: string } = {};
    parseProcParams(cur, opts, 'processor');
    d.filters.set(name, { kind: 'proc-exec', name, command: cmd.v, ...opts, ...at });
    return;
  }
  if (cur.acceptKw('chain')) {
    dup();
    const filters = parseFilterList(cur, d);
    d.filters.set(name, { kind: 'chain', name, filters, ...at });
    return;
  }
  cur.expectKw('phase');
  dup();
  d.filters.set(name, parseBuiltin(cur, d, name, pos));
}

function parseBuiltin(cur: Cursor, d: Draft, name: string, pos: StmtPos): Filter {
  const ph = cur.peek();
  const phase = PHASES.find((p) => ph.t === 'kw' && ph.v === p);
  if (!phase) cur.fail(ph);
  cur.next();
  cur.expectKw('match');
  // OpenSMTPD 6.8: exactly one condition per builtin filter.
  const cond = parseCondition(cur, d, phase, pos);
  if (!cond) cur.fail(cur.peek());
  const conditions: FilterCondition[] = [cond];
  const dec = cur.peek();
  const decisions: readonly FilterDecision[] = phase === 'commit'
    ? ['reject', 'disconnect', 'rewrite', 'report']
    : ['bypass', 'junk', 'reject', 'disconnect', 'rewrite', 'report'];
  const decision = decisions.find((x) => dec.t === 'kw' && dec.v === x);
  if (!decision) cur.fail(dec);
  cur.next();
  const base = { kind: 'builtin' as const, name, phase, conditions, decision, file: pos.file, line: pos.line };
  if (decision === 'bypass' || decision === 'junk') return base;
  return { ...base, message: cur.expectString().v };
}

function parseCondition(cur: Cursor, d: Draft, phase: FilterPhase, pos: StmtPos): FilterCondition | undefined {
  const negate = cur.acceptPunct('!');
  const tok = cur.peek();
  const kind = (['fcrdns', 'rdns', 'src', 'helo', 'auth', 'mail-from', 'rcpt-to'] as const)
    .find((k) => tok.t === 'kw' && tok.v === k);
  if (!kind || !(PHASE_CONDITIONS[phase]).includes(kind)) {
    if (negate) cur.fail(tok);
    return undefined;
  }
  cur.next();
  if (kind === 'fcrdns') return { kind, negate, regex: false };
  const optional = kind === 'rdns' || kind === 'auth';
  const regex = cur.acceptKw('regex');
  const next = cur.peek();
  const hasValue = regex || next.t === 'str' || (next.t === 'punct' && (next.v === '<' || next.v === '{'));
  if (!hasValue) {
    if (!optional) cur.fail(next);
    return { kind, negate, regex: false };
  }
  const item = parseTables(cur, d, pos);
  return { kind, negate, regex, value: item.value };
}

/**
 * `{ f1, f2, ... }`: names of declared non-chain filters, each once, no proc twice (a chain is
 * one pipeline through each proc); separators as in `{ }` tables (`Cursor.listSeparator`).
 */
export function parseFilterList(cur: Cursor, d: Draft): string[] {
  cur.expectPunct('{');
  const names: string[] = [];
  const procs = new Set<string>();
  for (;;) {
    const tok = cur.expectString();
    const f = d.filters.get(tok.v);
    if (!f) cur.fail(tok, `no filter exist with that name: ${tok.v}`);
    if (f.kind === 'chain') cur.fail(tok, `no filter chain allowed within a filter chain: ${tok.v}`);
    if (names.includes(tok.v)) cur.fail(tok, `no filter allowed twice within a filter chain: ${tok.v}`);
    const proc = f.kind === 'proc' ? f.proc : f.kind === 'proc-exec' ? f.name : undefined;
    if (proc !== undefined) {
      if (procs.has(proc)) cur.fail(tok, `no proc allowed twice within a filter chain: ${proc}`);
      procs.add(proc);
    }
    names.push(tok.v);
    if (cur.acceptPunct('}')) return names;
    cur.listSeparator();
  }
}

/**
 * `filter NAME` or `filter { ... }` after `listen` / `relay`: returns the filter name, creating
 * an anonymous chain `<dynchain:N>` for an inline list.
 */
export function parseFilterRef(cur: Cursor, d: Draft, pos: StmtPos): string {
  if (cur.isPunct('{')) {
    const filters = parseFilterList(cur, d);
    const name = `<dynchain:${(++d.dynchain).toString(16).padStart(8, '0')}>`;
    d.filters.set(name, { kind: 'chain', name, filters, file: pos.file, line: pos.line });
    return name;
  }
  const tok = cur.expectString();
  if (!d.filters.has(tok.v)) cur.fail(tok, `no filter exist with that name: ${tok.v}`);
  return tok.v;
}
