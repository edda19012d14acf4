// Which grammar a configuration is written in (DESIGN 6): the file set (the file and the files it
// includes, in the order the parser reads them) is read statement by statement, and its rules
// decide. legacy.ts translates a set found legacy; load.ts picks the reading. Talks to no actor.
import { readFileSync } from 'node:fs';
import { Lexer, type Token } from './lexer.js';

/** As the parser's: deeper includes are not followed. */
export const MAX_INCLUDE_DEPTH = 16;

/** One statement: a line, with `\` continuations and unbalanced `{ }` joined. */
export interface RawStmt { readonly start: number; readonly lines: readonly string[] }

/** A statement of the file set; `toks` undefined when it does not lex (e.g. an unknown macro). */
export interface Stmt extends RawStmt { readonly file: string; readonly toks: readonly Token[] | undefined }

/** The statements of a file set, in reading order (an included file's come at its `include`). */
export interface FileSet { readonly top: string; readonly stmts: readonly Stmt[] }

/** Splits text into statements: a line, joined with `\` continuations and unbalanced `{ }`. */
export function splitStatements(text: string): RawStmt[] {
  const lines = text.split('\n');
  const out: RawStmt[] = [];
  let i = 0;
  while (i < lines.length) {
    const start = i;
    let depth = 0;
    for (;;) {
      const line = lines[i++] ?? '';
      let quote = '';
      for (const c of line) {
        if (quote) { if (c === quote) quote = ''; continue; }
        if (c === '#') break;
        if (c === '"' || c === "'") quote = c;
        else if (c === '{') depth++;
        else if (c === '}') depth--;
      }
      if (i >= lines.length || (!line.endsWith('\\') && depth <= 0)) break;
    }
    out.push({ start: start + 1, lines: lines.slice(start, i) });
  }
  return out;
}

/**
 * Reads the file set of `text` (as `file`): its statements, macros expanded as defined so far
 * (`-D` ones win), and those of every file an `include "path"` names, opened as the parser opens
 * it (path as written). A file is read once; one that cannot be opened is left to the parser.
 * `includes: false` reads `text` alone.
 */
export function readFileSet(text: string, file: string, cmdMacros: Readonly<Record<string, string>> = {}, includes = true): FileSet {
  const fixed = new Map(Object.entries(cmdMacros));
  const macros = new Map(fixed);
  const stmts: Stmt[] = [];
  const seen = new Set<string>([file]);
  const walk = (src: string, name: string, depth: number): void => {
    for (const raw of splitStatements(src)) {
      const toks = tokenize(raw, name, macros);
      stmts.push({ ...raw, file: name, toks });
      const [a, b, c] = toks ?? [];
      if (toks?.length === 3 && a?.t === 'str' && b?.v === '=' && c && !fixed.has(a.v)) macros.set(a.v, c.v);
      if (!includes || a?.t !== 'kw' || a.v !== 'include' || b?.t !== 'str' || seen.has(b.v) || depth >= MAX_INCLUDE_DEPTH) continue;
      let inc: string;
      try { inc = readFileSync(b.v, 'utf8'); } catch { continue; }
      seen.add(b.v);
      walk(inc, b.v, depth + 1);
    }
  };
  walk(text, file, 0);
  return { top: file, stmts };
}

function tokenize(s: RawStmt, file: string, macros: ReadonlyMap<string, string>): Token[] | undefined {
  let bad = false;
  const lx = new Lexer(s.lines.join('\n'), file, (n) => macros.get(n), () => { bad = true; }, s.start);
  const toks: Token[] = [];
  for (let t = lx.next(); t.t !== 'eof'; t = lx.next()) if (t.t !== 'nl') toks.push(t);
  return bad ? undefined : toks;
}

/** `accept ...` / `reject ...`: a rule of the pre-6.4 grammar (`accept = x` is a macro). */
export function isLegacyRule(toks: readonly Token[] | undefined): boolean {
  const [a, b] = toks ?? [];
  return (a?.t === 'str' && a.v === 'accept' && b?.v !== '=') || (a?.t === 'kw' && a.v === 'reject');
}

/** `action ...` / `match ...`: a rule of the modern grammar. */
export function isModernRule(toks: readonly Token[] | undefined): boolean {
  const a = toks?.[0];
  return a?.t === 'kw' && (a.v === 'action' || a.v === 'match');
}

/**
 * The grammar of a file set, decided by its rules alone (`table`, `listen`, `pki`, macros and
 * the global options are common to both, or old spellings that 6.8 refuses in a modern file):
 * - `legacy`: at least one `accept`/`reject` statement and no `action`/`match` statement;
 * - `mixed`: both kinds (in one file or across included files);
 * - `modern`: every other set, an empty or comment-only file and a file without rules included.
 */
export type Grammar = 'modern' | 'legacy' | 'mixed';

export interface GrammarScan {
  readonly grammar: Grammar;
  /** The `accept`/`reject` statements, in reading order. */
  readonly legacyRules: readonly Stmt[];
  /** The `action`/`match` statements, in reading order. */
  readonly modernRules: readonly Stmt[];
}

export function scanGrammar(set: FileSet): GrammarScan {
  const legacyRules = set.stmts.filter((s) => isLegacyRule(s.toks));
  const modernRules = set.stmts.filter((s) => isModernRule(s.toks));
  const grammar: Grammar = legacyRules.length === 0 ? 'modern' : modernRules.length === 0 ? 'legacy' : 'mixed';
  return { grammar, legacyRules, modernRules };
}

/** The error of an `accept`/`reject` statement in a mixed set (read in the modern grammar). */
export function mixedRuleMessage(firstModern: Stmt): string {
  return `mixed grammars: a pre-6.4 rule (accept/reject) in a configuration that also has modern rules ` +
    `(action/match, first at ${firstModern.file}:${firstModern.start}), so it is read in the modern grammar; ` +
    'rewrite this rule as action/match (smtpd -n --old-grammar prints a translation)';
}
