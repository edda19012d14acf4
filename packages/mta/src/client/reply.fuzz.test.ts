// Property-based fuzzing (fast-check) of the mta client's reply parser, bounded in time (FUZZ_MS,
// default 2 s per property), beside reply.test.ts's fixed-seed run: any bytes in any chunking
// give the same verdict, never an exception; every reply accepted is stored as one line without
// CR, LF or NUL (CVE-2020-8794: server text injected envelope fields), and well-formed multi-line
// replies round-trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ReplyParser, replyLine, type ParseOutput } from './reply.js';

const FUZZ_MS = Number(process.env['FUZZ_MS'] ?? 2000);
const params = { numRuns: 10_000_000, interruptAfterTimeLimit: FUZZ_MS, markInterruptAsFailure: false } as const;

const piece = fc.oneof(
  fc.constantFrom('250-', '250 ', '550 ', '421 ', '25', '-', ' ', '\r\n', '\n', '\r', '\0', 'type: mda\n', 'mda-exec: /bin/sh\r\n', '5.1.1 ', '\xff', 'é'),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.integer({ min: 4000, max: 5000 }).map((n) => 'x'.repeat(n)),
);

function feed(bytes: Buffer, cuts: number[]): ParseOutput {
  const p = new ReplyParser();
  const outs: ParseOutput[] = [];
  let pos = 0;
  for (const c of cuts) {
    if (pos >= bytes.length) break;
    outs.push(p.push(bytes.subarray(pos, pos + c)));
    pos += c;
  }
  if (pos < bytes.length) outs.push(p.push(bytes.subarray(pos)));
  return { replies: outs.flatMap((o) => o.replies), error: outs.find((o) => o.error !== null)?.error ?? null };
}

test('fuzz: reply parser — any bytes, any chunking: same verdict, no throw, stored lines clean', () => {
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 30 }), fc.array(fc.integer({ min: 1, max: 9 }), { maxLength: 400 }), (parts, cuts) => {
      const bytes = Buffer.from(parts.join(''), 'latin1');
      const whole = new ReplyParser().push(bytes);
      const chunked = feed(bytes, cuts);
      assert.deepEqual(chunked.replies, whole.replies);
      assert.equal(chunked.error === null, whole.error === null);
      for (const r of whole.replies) {
        const line = replyLine(r);
        assert.doesNotMatch(line, /[\r\n\0]/);
        assert.match(line, /^[2-5][0-9][0-9]( |$)/);
        assert.equal(r.code, Number(line.slice(0, 3)));
      }
    }),
    params,
  );
});

const text = fc.string({ unit: fc.constantFrom(...'abc XYZ 0.9-_:;<>@'), maxLength: 60 });

test('fuzz: reply parser — a well-formed multi-line reply comes back with its code and lines', () => {
  fc.assert(
    fc.property(fc.integer({ min: 200, max: 599 }), fc.array(text, { minLength: 1, maxLength: 10 }), (code, lines) => {
      const wire = lines.map((l, i) => `${code}${i < lines.length - 1 ? '-' : ' '}${l}\r\n`).join('');
      const out = new ReplyParser().push(Buffer.from(wire, 'latin1'));
      assert.equal(out.error, null);
      assert.deepEqual(out.replies, [{ code, lines }]);
    }),
    params,
  );
});
