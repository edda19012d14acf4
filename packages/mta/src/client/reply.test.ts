// The strict reply parser: the grammar, its limits, and a fuzz run of hostile replies (REFERENCE
// 14.2, CVE-2020-8794): never an exception, every accepted reply stores as one clean line, and
// every line split of the same bytes gives the same result.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_CONTINUATIONS, MAX_REPLY_LINE, ReplyParser, enhancedCode, replyLine, type ParseOutput } from './reply.js';

function parse(s: string | Buffer): ParseOutput {
  return new ReplyParser().push(typeof s === 'string' ? Buffer.from(s, 'latin1') : s);
}

test('single and multi-line replies, several in one chunk (pipelining)', () => {
  const out = parse('250-mx.test\r\n250-PIPELINING\r\n250 DSN\r\n550 5.1.1 <b@y> unknown\r\n354 go\r\n250\r\n');
  assert.equal(out.error, null);
  assert.deepEqual(
    out.replies.map((r) => [r.code, r.lines]),
    [
      [250, ['mx.test', 'PIPELINING', 'DSN']],
      [550, ['5.1.1 <b@y> unknown']],
      [354, ['go']],
      [250, ['']],
    ],
  );
  assert.equal(replyLine(out.replies[1]!), '550 5.1.1 <b@y> unknown');
  assert.equal(enhancedCode(out.replies[1]!), '5.1.1');
});

test('a reply split anywhere across chunks parses the same', () => {
  const bytes = Buffer.from('250-first line\r\n250-second\r\n250 2.0.0 last\r\n');
  for (let cut = 1; cut < bytes.length; cut++) {
    const p = new ReplyParser();
    const a = p.push(bytes.subarray(0, cut));
    const b = p.push(bytes.subarray(cut));
    assert.equal(a.error ?? b.error, null);
    assert.deepEqual([...a.replies, ...b.replies], [{ code: 250, lines: ['first line', 'second', '2.0.0 last'] }]);
  }
});

test('a multi-line error is one line with the enhanced code once', () => {
  const out = parse('550-5.7.1 Service unavailable\r\n550-5.7.1 see https://x.test/why\r\n550 5.7.1 (listed)\r\n');
  assert.equal(replyLine(out.replies[0]!), '550 5.7.1 Service unavailable see https://x.test/why (listed)');
  // A class mismatch is not an enhanced code: `250 5.0.0` stays text.
  assert.equal(enhancedCode(parse('250 5.0.0 odd\r\n').replies[0]!), null);
});

test('protocol errors: short, garbage, mismatched, NUL, CR, too long, too many lines', () => {
  const bad: [string, string | Buffer][] = [
    ['short continuation after 250-', '250-ok\r\n25\r\n'],
    ['two digits', '25\r\n'],
    ['no separator', '250ok\r\n'],
    ['garbage', 'hello world\r\n'],
    ['1xx', '150 go on\r\n'],
    ['mismatched codes', '250-ok\r\n550 5.1.1 no\r\n'],
    ['NUL', Buffer.from('250 ok\0injected\r\n', 'latin1')],
    ['CR inside', '250 ok\rtype: mda\r\n'],
    ['long line', `250 ${'x'.repeat(MAX_REPLY_LINE)}\r\n`],
    ['too many lines', `${'250-x\r\n'.repeat(MAX_CONTINUATIONS + 1)}250 end\r\n`],
  ];
  for (const [name, bytes] of bad) {
    const out = parse(bytes);
    assert.notEqual(out.error, null, name);
    assert.equal(out.replies.length, 0, name);
  }
  // Limits are inclusive: exactly 4096 bytes and exactly 100 continuations pass.
  assert.equal(parse(`250 ${'x'.repeat(MAX_REPLY_LINE - 4)}\r\n`).error, null);
  assert.equal(parse(`${'250-x\r\n'.repeat(MAX_CONTINUATIONS)}250 end\r\n`).error, null);
});

test('an unterminated huge line fails before the LF arrives, and the parser stays failed', () => {
  const p = new ReplyParser();
  let out = p.push(Buffer.from('250 '));
  for (let i = 0; i < 10 && out.error === null; i++) out = p.push(Buffer.alloc(1024, 0x41));
  assert.match(out.error ?? '', /too long/);
  assert.notEqual(p.push(Buffer.from('250 ok\r\n')).error, null);
});

/** Deterministic xorshift, so a failing case can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const PIECES = ['250-', '250 ', '550 ', '25', '2', '-', ' ', '\r\n', '\n', '\r', '\0', 'type: mda\n', 'mda-exec: /bin/sh\r\n', '5.1.1 ', 'é', '\xff', '354 ', '421 ', 'x'];

test('fuzz: hostile replies never throw; accepted replies store as one clean line', () => {
  const rand = rng(8794);
  let accepted = 0;
  let refused = 0;
  for (let n = 0; n < 3000; n++) {
    const parts: string[] = [];
    const len = 1 + Math.floor(rand() * 30);
    for (let i = 0; i < len; i++) parts.push(PIECES[Math.floor(rand() * PIECES.length)]!);
    if (rand() < 0.05) parts.push('x'.repeat(3000 + Math.floor(rand() * 3000)));
    const bytes = Buffer.from(parts.join(''), 'latin1');
    // Same bytes in one chunk and in random chunks: same verdict.
    const whole = new ReplyParser().push(bytes);
    const p = new ReplyParser();
    const pieces: ParseOutput[] = [];
    for (let pos = 0; pos < bytes.length; ) {
      const step = 1 + Math.floor(rand() * 8);
      pieces.push(p.push(bytes.subarray(pos, pos + step)));
      pos += step;
    }
    const chunked = { replies: pieces.flatMap((o) => o.replies), error: pieces.find((o) => o.error !== null)?.error ?? null };
    assert.deepEqual(chunked.replies, whole.replies);
    assert.equal(chunked.error === null, whole.error === null);
    for (const r of whole.replies) {
      accepted++;
      const line = replyLine(r);
      assert.doesNotMatch(line, /[\r\n\0]/);
      assert.match(line, /^[2-5][0-9][0-9]( |$)/);
      assert.ok(line.length <= 512);
      assert.equal(r.code, Number(line.slice(0, 3)));
    }
    if (whole.error !== null) refused++;
  }
  // The generator reaches both sides of the grammar.
  assert.ok(accepted > 100 && refused > 100, `accepted ${accepted}, refused ${refused}`);
});
