import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lexer, type LexError, type Token } from './lexer.js';

function lex(text: string, macros: Record<string, string> = {}): { toks: string[]; errors: LexError[] } {
  const errors: LexError[] = [];
  const lx = new Lexer(text, 'f', (n) => macros[n], (e) => errors.push(e));
  const toks: string[] = [];
  for (let t: Token = lx.next(); t.t !== 'eof'; t = lx.next()) toks.push(`${t.t}:${t.v === '\n' ? '\\n' : t.v}@${t.line}`);
  // the lexer ends the input with one extra end of line (so a last line without one ends too)
  if (text.endsWith('\n') && toks.at(-1)?.startsWith('nl:')) toks.pop();
  return { toks, errors };
}

test('lexer: keywords, words, numbers, punctuation, comments', () => {
  const { toks } = lex('listen on lo port 587 # comment\nmatch !from src { 10.0.0.0/8, ::1 } action "x"\n');
  assert.deepEqual(toks, [
    'kw:listen@1', 'kw:on@1', 'str:lo@1', 'kw:port@1', 'num:587@1', 'nl:\\n@1',
    'kw:match@2', 'punct:!@2', 'kw:from@2', 'kw:src@2', 'punct:{@2', 'str:10.0.0.0/8@2', 'punct:,@2',
    'str:::1@2', 'punct:}@2', 'kw:action@2', 'str:x@2', 'nl:\\n@2',
  ]);
});

test('lexer: quoted strings are never keywords; words stop at special characters', () => {
  const { toks } = lex('"local" \'relay\' 35M smtp+tls://l@h:587 a=b =>\n');
  assert.deepEqual(toks, ['str:local@1', 'str:relay@1', 'str:35M@1', 'str:smtp+tls://l@h:587@1', 'str:a@1', 'punct:=@1', 'str:b@1', 'punct:=>@1', 'nl:\\n@1']);
});

test('lexer: a word cannot start with / or @ (must be quoted)', () => {
  assert.deepEqual(lex('/etc @x\n').toks, ['punct:/@1', 'str:etc@1', 'punct:@@1', 'str:x@1', 'nl:\\n@1']);
});

test('lexer: backslash continues a line; line numbers count it', () => {
  assert.deepEqual(lex('a \\\n b\nc\n').toks, ['str:a@1', 'str:b@2', 'nl:\\n@2', 'str:c@3', 'nl:\\n@3']);
});

test('lexer: macros expand textually, not inside quotes', () => {
  const { toks } = lex('$m "$m" $dom.org\n', { m: 'local', dom: 'example' });
  assert.deepEqual(toks, ['kw:local@1', 'str:$m@1', 'str:example.org@1', 'nl:\\n@1']);
});

test('lexer: undefined macro is an error', () => {
  const { errors } = lex('a $nope b\nc\n');
  assert.deepEqual(errors, [{ file: 'f', line: 1, message: "macro 'nope' not defined" }]);
});

test('lexer: unterminated quoted string', () => {
  assert.deepEqual(lex('"abc').errors, [{ file: 'f', line: 1, message: 'reached end of file while parsing quoted string' }]);
});

test('lexer: escapes inside quotes, last line without newline', () => {
  assert.deepEqual(lex('"a\\"b\\ c" x').toks, ['str:a"b c@1', 'str:x@1', 'nl:\\n@1']);
});

test('lexer: outside quotes a backslash takes the next character and is dropped (6.8)', () => {
  assert.deepEqual(lex('a\\b \\ c\n').toks, ['str:ab@1', 'str:c@1', 'nl:\\n@1']);
  // `\ ` then `\` + line end: a space, then a continued line
  assert.deepEqual(lex('a \\ \\\nb\n').toks, ['str:a@1', 'str:b@2', 'nl:\\n@2']);
});

test('lexer: a line end inside quotes is dropped, and counted', () => {
  assert.deepEqual(lex('"a\nb" c\n').toks, ['str:ab@1', 'str:c@2', 'nl:\\n@2']);
});

test('lexer: carriage return is a token of its own (6.8 rejects CRLF files)', () => {
  assert.deepEqual(lex('a\r\n').toks, ['str:a@1', 'punct:\r@1', 'nl:\\n@1']);
});

test('lexer: OpenSMTPD\'s buffer: quoted strings up to 8094 characters, words up to 8095', () => {
  assert.deepEqual(lex(`"${'a'.repeat(8094)}"\n`).errors, []);
  assert.deepEqual(lex(`"${'a'.repeat(8095)}"\n`).errors, [{ file: 'f', line: 1, message: 'string too long' }]);
  assert.deepEqual(lex(`${'a'.repeat(8095)}\n`).errors, []);
  assert.deepEqual(lex(`${'a'.repeat(8096)}\n`).errors, [{ file: 'f', line: 1, message: 'string too long' }]);
});

test('lexer: after a lexical error the rest of the line is skipped and an error token returned', () => {
  assert.deepEqual(lex('a $nope b\nc\n').toks, ['str:a@1', 'err:@1', 'str:c@2', 'nl:\\n@2']);
});
