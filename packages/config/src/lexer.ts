// smtpd.conf lexer: characters to tokens, one file at a time, with OpenSMTPD's rules: `#` comments,
// `\` line continuation, '...'/"..." strings, `$macro` expansion (textual, re-lexed, not inside
// quotes), numbers, reserved words. Pull-based: the parser asks for the next token, so macros
// defined on earlier lines are visible. Used by parser.ts only.

/** Reserved words of the modern grammar (6.8): unquoted, these are keywords, never strings. */
export const KEYWORDS: ReadonlySet<string> = new Set([
  'action', 'admd', 'alias', 'any', 'auth', 'auth-optional', 'backup', 'bounce', 'bypass',
  'ca', 'cert', 'chain', 'chroot', 'ciphers', 'commit', 'compression', 'connect',
  'data', 'data-line', 'dhe', 'disconnect', 'domain', 'ehlo', 'encryption', 'expand-only',
  'fcrdns', 'filter', 'for', 'forward-only', 'from', 'group', 'helo', 'helo-src', 'host',
  'hostname', 'hostnames', 'include', 'inet4', 'inet6', 'junk', 'key', 'limit', 'listen',
  'lmtp', 'local', 'mail-from', 'maildir', 'mask-src', 'masquerade', 'match', 'max-deferred',
  'max-message-size', 'mbox', 'mda', 'metrics', 'mta', 'mx', 'no-dsn', 'no-verify', 'noop', 'on', 'phase',
  'pki', 'port', 'proc', 'proc-exec', 'protocols', 'proxy-v2', 'queue', 'quit', 'rcpt-to',
  'rdns', 'received-auth', 'recipient', 'regex', 'reject', 'relay', 'report', 'rewrite', 'rset',
  'scheduler', 'senders', 'smtp', 'smtp-in', 'smtp-out', 'smtps', 'socket', 'src', 'srs',
  'sub-addr-delim', 'table', 'tag', 'tagged', 'tls', 'tls-require', 'ttl', 'user', 'userbase',
  'verify', 'virtual', 'warn-interval', 'wrapper',
]);

/**
 * A token. `str` = quoted string or unquoted non-keyword word; `num` = unquoted integer;
 * `kw` = reserved word; `punct` = one of `{ } < > ! = , =>` or any other stray character
 * (`\r` included: OpenSMTPD does not treat it as white space); `nl` = end of line (statement
 * separator); `eof` = end of the top-level input; `err` = what follows a lexical error (the
 * lexer has skipped to the end of that line, so the parser's recovery swallows the next line,
 * as yacc does with OpenSMTPD's ERROR token).
 */
export interface Token {
  readonly t: 'str' | 'num' | 'kw' | 'punct' | 'nl' | 'eof' | 'err';
  readonly v: string;
  readonly file: string;
  readonly line: number;
  readonly quoted?: boolean;
}

/** A lexical error (reported as `file:line: message`, the lexer then skips to end of line). */
export interface LexError { readonly file: string; readonly line: number; readonly message: string }

/** OpenSMTPD's lexer buffer (8096 bytes): the longest quoted string and word it takes. */
const MAX_QUOTED = 8095;
const MAX_WORD = 8096;

const START_EXPAND = '\u0001';
const DONE_EXPAND = '\u0002';
const EOF = '';

const isSpace = (c: string): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';
const isDigit = (c: string): boolean => c >= '0' && c <= '9';
const isAlnum = (c: string): boolean => isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
const isPunct = (c: string): boolean => c.length === 1 && c > ' ' && c < '\u007f' && !isAlnum(c);
const endsNumber = (c: string): boolean => c === EOF || isSpace(c) || c === ')' || c === ',' || c === '/' || c === '}' || c === '=';
const inWord = (c: string): boolean =>
  c !== EOF && (isAlnum(c) || (isPunct(c) && !'(){}<>!=#,'.includes(c)));

/** Lexes one file's text. `macro(name)` returns a macro's value or undefined. */
export class Lexer {
  private pos = 0;
  private line: number;
  private readonly unget: string[] = [];
  private expanding = false;
  private eofSeen = false;
  private tokLine: number;

  constructor(
    private readonly text: string,
    readonly file: string,
    private readonly macro: (name: string) => string | undefined,
    private readonly onError: (e: LexError) => void,
    firstLine = 1,
  ) {
    this.line = firstLine;
    this.tokLine = firstLine;
  }

  private igetc(): string {
    for (;;) {
      let c: string;
      if (this.unget.length > 0) c = this.unget.pop() ?? EOF;
      else if (this.pos < this.text.length) c = this.text[this.pos++] ?? EOF;
      else c = EOF;
      if (c === START_EXPAND) this.expanding = true;
      else if (c === DONE_EXPAND) this.expanding = false;
      else return c;
    }
  }

  private lgetc(quoted: boolean): string {
    if (quoted) return this.igetc();
    let c = this.igetc();
    while (c === '\\') {
      const next = this.igetc();
      // As OpenSMTPD: outside quotes a backslash takes the next character as it is (and is dropped).
      if (next !== '\n') { c = next; break; }
      this.line++;
      c = this.igetc();
    }
    if (c === EOF && !this.eofSeen) { this.eofSeen = true; return '\n'; }
    return c;
  }

  private ungetc(c: string): void { if (c !== EOF) this.unget.push(c); }

  private error(message: string): void { this.onError({ file: this.file, line: this.tokLine, message }); }

  /** Skips to the end of the line after a lexical error (consuming it) and returns `err`. */
  private findEol(): Token {
    const tok = this.tok('err', '');
    for (;;) {
      const c = this.lgetc(false);
      if (c === '\n') { this.line++; return tok; }
      if (c === EOF) return tok;
    }
  }

  private tok(t: Token['t'], v: string, quoted = false): Token {
    return quoted ? { t, v, file: this.file, line: this.tokLine, quoted } : { t, v, file: this.file, line: this.tokLine };
  }

  /** The next token; `eof` forever once the text is exhausted. */
  next(): Token {
    for (;;) {
      let c = this.lgetc(false);
      while (c === ' ' || c === '\t') c = this.lgetc(false);
      this.tokLine = this.line;
      if (c === '#') while (c !== '\n' && c !== EOF) c = this.lgetc(false);
      if (c === '$' && !this.expanding) {
        if (this.expandMacro()) continue;
        return this.findEol();
      }
      if (c === "'" || c === '"') return this.quoted(c);
      if (c === '-' || isDigit(c)) {
        const num = this.number(c);
        if (num) return num;
        c = this.lgetc(false);
      }
      if (c === '=') {
        const n = this.lgetc(false);
        if (n === '>') return this.tok('punct', '=>');
        this.ungetc(n);
      }
      if (isAlnum(c) || c === ':' || c === '_') return this.word(c);
      if (c === '\n') { const tok = this.tok('nl', '\n'); this.line++; return tok; }
      if (c === EOF) return this.tok('eof', '');
      return this.tok('punct', c);
    }
  }

  private expandMacro(): boolean {
    let name = '';
    for (;;) {
      const c = this.lgetc(false);
      if (isAlnum(c) || c === '_') { name += c; continue; }
      this.ungetc(c);
      break;
    }
    const val = this.macro(name);
    if (val === undefined) { this.error(`macro '${name}' not defined`); return false; }
    this.unget.push(DONE_EXPAND);
    for (let i = val.length - 1; i >= 0; i--) this.unget.push(val[i] ?? '');
    this.unget.push(START_EXPAND);
    return true;
  }

  private quoted(q: string): Token {
    let buf = '';
    for (;;) {
      let c = this.lgetc(true);
      if (c === EOF) {
        this.error('reached end of file while parsing quoted string');
        return this.tok('eof', '');
      }
      if (c === '\n') { this.line++; continue; } // (OpenSMTPD drops it)
      if (c === '\\') {
        const next = this.lgetc(true);
        if (next === q || next === ' ' || next === '\t') c = next;
        else if (next === '\n') { this.line++; continue; }
        else this.ungetc(next);
      } else if (c === q) {
        return this.tok('str', buf, true);
      } else if (c === '\0') {
        this.error('syntax error');
        return this.findEol();
      }
      if (buf.length + 1 >= MAX_QUOTED) { this.error('string too long'); return this.findEol(); }
      buf += c;
    }
  }

  /** Tries to read an integer; on failure pushes everything back except the first char. */
  private number(first: string): Token | undefined {
    let buf = first;
    let c = this.lgetc(false);
    while (isDigit(c)) { buf += c; c = this.lgetc(false); }
    this.ungetc(c);
    if (!(buf === '-') && endsNumber(c)) {
      const n = Number(buf);
      if (!Number.isSafeInteger(n)) { this.error(`"${buf}" invalid number: too large`); return this.findEol(); }
      return this.tok('num', buf);
    }
    for (let i = buf.length - 1; i >= 1; i--) this.ungetc(buf[i] ?? '');
    this.ungetc(first);
    return undefined;
  }

  private word(first: string): Token {
    let buf = first;
    let c = this.lgetc(false);
    while (inWord(c)) {
      buf += c;
      if (buf.length >= MAX_WORD) { this.error('string too long'); return this.findEol(); }
      c = this.lgetc(false);
    }
    this.ungetc(c);
    return this.tok(KEYWORDS.has(buf) ? 'kw' : 'str', buf);
  }
}
