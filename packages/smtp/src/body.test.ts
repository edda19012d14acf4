// Unit tests of the body pipeline pieces: CRLF → LF at any chunk boundary, and the header
// filter (Bcc, loop count, cap, added fields, messages without a header section).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderFilter, LfNormalizer, type HeaderFilterOptions } from './body.js';

/** Feed `input` split at every position pair into a fresh normaliser. */
function normalizeSplit(input: string, cuts: number[]): string {
  const n = new LfNormalizer();
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...cuts, input.length]) {
    out.push(n.push(Buffer.from(input.slice(prev, c), 'latin1')));
    prev = c;
  }
  out.push(n.end());
  return Buffer.concat(out).toString('latin1');
}

test('LfNormalizer: CRLF becomes LF wherever the chunks are cut; bare CR and LF stay', () => {
  const input = 'a\r\nb\rc\nd\r\r\ne\r';
  const want = 'a\nb\rc\nd\r\ne\r';
  for (let i = 0; i <= input.length; i++) {
    for (let j = i; j <= input.length; j++) assert.equal(normalizeSplit(input, [i, j]), want, `cuts ${i},${j}`);
  }
});

test('LfNormalizer: any byte (8-bit, NUL) passes unchanged but for CRLF, over random cuts', () => {
  let x = 12345;
  const rnd = (n: number): number => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x % n;
  };
  for (let round = 0; round < 200; round++) {
    const bytes = Buffer.from(Array.from({ length: 1 + rnd(300) }, () => [0x0d, 0x0a, 0x00, 0xff, 0x80, 0x41][rnd(6)]!));
    const want: number[] = [];
    for (let i = 0; i < bytes.length; i++) if (!(bytes[i] === 0x0d && bytes[i + 1] === 0x0a)) want.push(bytes[i]!);
    const cuts = [rnd(bytes.length + 1), rnd(bytes.length + 1), rnd(bytes.length + 1)].sort((a, b) => a - b);
    assert.deepEqual([...Buffer.from(normalizeSplit(bytes.toString('latin1'), cuts), 'latin1')], want, `round ${round}`);
  }
});

test('LfNormalizer: a chunk is normalised in place (no copy per line), held CR and all', () => {
  const n = new LfNormalizer();
  const a = Buffer.from('one\r\ntwo\r\nthree\r', 'latin1');
  const outA = n.push(a);
  assert.equal(outA.toString('latin1'), 'one\ntwo\nthree');
  assert.equal(outA.buffer, a.buffer, 'the output is a view of the input chunk');
  assert.equal(outA.byteOffset, a.byteOffset);
  const b = Buffer.from('x\r\n', 'latin1');
  assert.equal(n.push(b).toString('latin1'), '\rx\n', 'the held CR was content');
  assert.equal(n.end().length, 0);
});

function run(opts: Partial<HeaderFilterOptions>, ...chunks: string[]): { out: string; f: HeaderFilter } {
  const f = new HeaderFilter({ maxHeaderBytes: 1000, maxReceived: 3, ...opts });
  const parts: Buffer[] = [];
  for (const c of chunks) parts.push(...f.push(Buffer.from(c)));
  parts.push(...f.end());
  return { out: Buffer.concat(parts).toString(), f };
}

test('HeaderFilter: Bcc (any case, folded) removed, body untouched, any chunking', () => {
  const msg = 'To: a\nbcc: x,\n y\n\tz\nSubject: s\nBCC:\n\n\nBcc: body\n';
  const want = 'To: a\nSubject: s\n\n\nBcc: body\n';
  for (let i = 0; i <= msg.length; i++) assert.equal(run({}, msg.slice(0, i), msg.slice(i)).out, want, `cut at ${i}`);
});

test('HeaderFilter: a first line that is not a field means no header section', () => {
  assert.equal(run({}, 'hello world\nBcc: stays\n').out, 'hello world\nBcc: stays\n');
  assert.equal(run({}, ' indented\nBcc: stays\n').out, ' indented\nBcc: stays\n');
  assert.equal(run({}, 'From me\nBcc: x\n').out, 'From me\nBcc: x\n');
});

test('HeaderFilter: a non-field line ends the section (no blank line needed)', () => {
  assert.equal(run({}, 'Subject: a\nBcc: b\nnot a header\nBcc: c\n').out, 'Subject: a\nnot a header\nBcc: c\n');
});

test('HeaderFilter: a message that is all header, or empty', () => {
  assert.equal(run({}, 'Subject: a\nBcc: b\n').out, 'Subject: a\n');
  assert.equal(run({}, '').out, '');
});

test('HeaderFilter: Received fields counted; the limit makes a loop verdict and no output', () => {
  const two = run({}, 'Received: a\nReceived: b\n\nx\n');
  assert.equal(two.f.verdict, 'ok');
  assert.equal(two.f.received, 2);
  const three = run({}, 'Received: a\n\tfolded\nreceived: b\nRECEIVED: c\n\nx\n');
  assert.equal(three.f.verdict, 'loop');
  assert.equal(three.out, '');
});

test('HeaderFilter: over the cap is too-big, also without any newline', () => {
  const long = run({ maxHeaderBytes: 50 }, 'X: ' + 'a'.repeat(30) + '\n', 'Y: ' + 'b'.repeat(30) + '\n\nbody\n');
  assert.equal(long.f.verdict, 'too-big');
  assert.equal(long.out, '');
  const noNl = run({ maxHeaderBytes: 50 }, 'X: ' + 'a'.repeat(100));
  assert.equal(noNl.f.verdict, 'too-big');
  // A big body after a small header is fine.
  assert.equal(run({ maxHeaderBytes: 50 }, 'X: a\n\n' + 'b'.repeat(500)).f.verdict, 'ok');
});

test('HeaderFilter: Message-ID and Date added only when missing', () => {
  const add = { addIfMissing: { messageId: '<id@h>', date: 'Mon, 1 Jan 2024 00:00:00 +0000' } };
  assert.equal(run(add, 'Subject: s\n\nbody\n').out, 'Subject: s\nMessage-ID: <id@h>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\nbody\n');
  assert.equal(run(add, 'message-id: <a@b>\nDATE: x\n\nbody\n').out, 'message-id: <a@b>\nDATE: x\n\nbody\n');
  assert.equal(run(add, 'no header here\n').out, 'Message-ID: <id@h>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\nno header here\n');
  assert.equal(run(add, '\nbody\n').out, 'Message-ID: <id@h>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\nbody\n');
});
