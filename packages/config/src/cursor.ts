// Token cursor over a stack of lexers (the main file and the files it includes), the macro table,
// and the error list. Statement parsers (parse-*.ts) read tokens through it and throw `Fail` on an
// error; the driver (parser.ts) records it and resumes at the next statement.
import { readFileSync } from 'node:fs';
import { Lexer, type Token } from './lexer.js';

/** One diagnostic: printed as `file:line: message`; `ord` orders it in the source. */
export interface Diag { readonly file: string; readonly line: number; readonly message: string; readonly ord: number }

/** Thrown by statement parsers: abandons the statement (like yacc's YYERROR). */
export class Fail {
  constructor(readonly tok: Pick<Token, 'file' | 'line'>, readonly message: string) {}
}

/** Source position of a statement, with its order in the whole (included) input. */
export interface StmtPos { readonly file: string; readonly line: number; readonly ord: number }

interface Macro { value: string; persist: boolean }

export class Cursor {
  private readonly lexers: Lexer[] = [];
  private la: Token | undefined;
  private ord = 0;
  readonly errors: Diag[] = [];
  private readonly macros = new Map<string, Macro>();
  /** Lines seen in the top file (for errors about the whole configuration). */
  lastTopLine = 1;

  /** `sources`: the text to read for an included path instead of the file (a translation). */
  constructor(text: string, readonly topFile: string, cmdMacros: Readonly<Record<string, string>> = {},
    private readonly sources: ReadonlyMap<string, string> = new Map()) {
    for (const [k, v] of Object.entries(cmdMacros)) this.macros.set(k, { value: v, persist: true });
    this.lexers.push(this.lexer(text, topFile, 1));
  }

  private lexer(text: string, file: string, firstLine: number): Lexer {
    return new Lexer(text, file, (n) => this.macros.get(n)?.value,
      (e) => this.errors.push({ ...e, ord: this.ord }), firstLine);
  }

  /** Defines a macro; `-D` macros (persist) win over definitions in the file. */
  setMacro(name: string, value: string): void {
    if (this.macros.get(name)?.persist) return;
    this.macros.set(name, { value, persist: false });
  }

  /** Starts reading an included file (its tokens come before the rest of the current file). */
  include(path: string, maxDepth: number): boolean {
    if (this.lexers.length > maxDepth) return false;
    let text: string;
    try { text = this.sources.get(path) ?? readFileSync(path, 'utf8'); } catch { return false; }
    this.la = undefined;
    this.lexers.push(this.lexer(text, path, 1));
    return true;
  }

  private pull(): Token {
    for (;;) {
      const lx = this.lexers[this.lexers.length - 1];
      if (!lx) return { t: 'eof', v: '', file: this.topFile, line: this.lastTopLine };
      const tok = lx.next();
      if (tok.t === 'eof' && this.lexers.length > 1) { this.lexers.pop(); continue; }
      if (tok.file === this.topFile && tok.t !== 'nl' && tok.t !== 'eof') this.lastTopLine = tok.line;
      return tok;
    }
  }

  peek(): Token {
    this.la ??= this.pull();
    return this.la;
  }

  next(): Token {
    const tok = this.peek();
    this.la = undefined;
    return tok;
  }

  /** Starts a statement: returns its position. */
  begin(): StmtPos {
    const tok = this.peek();
    return { file: tok.file, line: tok.line, ord: ++this.ord };
  }

  /**
   * Records the error that abandoned a statement. Every one is reported: OpenSMTPD's yacc parser
   * stays quiet about a syntax error within three tokens of the previous error (e.g. on the
   * first or second word of the very next line); we do not, so we may list more errors than it
   * does, never fewer, and always its first.
   */
  statementError(e: Fail): void {
    this.error(e.tok, e.message);
  }

  /**
   * Skips the rest of a failed statement, up to and including its end of line (yacc's
   * `error '\n'` rule; `{ }` lists give no shelter, as there).
   */
  recover(): void {
    for (;;) {
      const tok = this.peek();
      if (tok.t === 'eof') return;
      this.la = undefined;
      if (tok.t === 'nl') return;
    }
  }

  error(at: Pick<Token, 'file' | 'line'>, message: string, ord = this.ord): void {
    this.errors.push({ file: at.file, line: at.line, message, ord });
  }

  // ---- helpers for statement parsers -------------------------------------------------------

  fail(tok: Pick<Token, 'file' | 'line'>, message = 'syntax error'): never { throw new Fail(tok, message); }

  /** True (and consumed) when the next token is keyword `kw`. */
  acceptKw(kw: string): boolean {
    const tok = this.peek();
    if (tok.t === 'kw' && tok.v === kw) { this.next(); return true; }
    return false;
  }

  isKw(kw: string): boolean { const t = this.peek(); return t.t === 'kw' && t.v === kw; }

  isPunct(p: string): boolean { const t = this.peek(); return t.t === 'punct' && t.v === p; }

  acceptPunct(p: string): boolean {
    if (this.isPunct(p)) { this.next(); return true; }
    return false;
  }

  expectKw(kw: string): Token {
    const tok = this.peek();
    if (tok.t !== 'kw' || tok.v !== kw) this.fail(tok);
    return this.next();
  }

  expectPunct(p: string): Token {
    const tok = this.peek();
    if (tok.t !== 'punct' || tok.v !== p) this.fail(tok);
    return this.next();
  }

  /** A STRING token (quoted, or an unquoted non-keyword word that is not a bare number). */
  expectString(): Token {
    const tok = this.peek();
    if (tok.t !== 'str') this.fail(tok);
    return this.next();
  }

  expectNumber(): { tok: Token; n: number } {
    const tok = this.peek();
    if (tok.t !== 'num') this.fail(tok);
    this.next();
    return { tok, n: Number(tok.v) };
  }

  /** Ends a statement: the next token must be the end of line (or of input). */
  end(): void {
    const tok = this.peek();
    if (tok.t === 'eof') return;
    if (tok.t !== 'nl') this.fail(tok);
    this.next();
  }

  /**
   * The separator between two elements of a `{ }` list (OpenSMTPD 6.8's `comma`): a `,`, one or
   * more line ends, or nothing. Never a `,` followed by a line end; never before `}`.
   */
  listSeparator(): void {
    if (this.acceptPunct(',')) return;
    while (this.peek().t === 'nl') this.next();
  }
}
