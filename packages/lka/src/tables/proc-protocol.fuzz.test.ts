// Property-based fuzzing (fast-check, FUZZ_MS per property, default 2 s) of the table protocol
// 0.1: a request carrying CR, LF or NUL is never written (null), any other stays one line ending
// with the key; any answer line parses to a value or null, never throws, and a found value keeps
// every byte after its field, `|` included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseAnswer, requestLine } from './proc-protocol.js';

const FUZZ_MS = Number(process.env['FUZZ_MS'] ?? 2000);
const params = { numRuns: 10_000_000, interruptAfterTimeLimit: FUZZ_MS, markInterruptAsFailure: false } as const;
const hostile = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'|\r\n\0\t aZ9.:@-'), maxLength: 60 }),
  fc.string({ unit: 'binary', maxLength: 60 }),
);

test('fuzz: request lines: unsafe keys refused, safe ones one line with the key last', () => {
  fc.assert(
    fc.property(fc.constantFrom('lookup', 'check') as fc.Arbitrary<'lookup' | 'check'>, hostile, (kind, key) => {
      const line = requestLine({ table: 't', kind, id: 'abcd', service: 'alias', key, now: 1 });
      if (/[\r\n\0]/.test(key)) return assert.equal(line, null);
      assert.ok(line !== null && !/[\r\n\0]/.test(line));
      assert.equal(line.split('|').slice(7).join('|'), key);
    }),
    params,
  );
});

test('fuzz: answer lines never throw; a found value is kept whole', () => {
  const built = fc.tuple(fc.constantFrom('lookup-result', 'check-result', 'fetch-result', 'update-result', 'register'), fc.constantFrom('id1', '', 'x|y'), fc.constantFrom('found', 'not-found', 'ok', 'error', 'maybe'), hostile)
    .map(([t, id, st, v]) => `${t}|${id}|${st}|${v}`);
  fc.assert(
    fc.property(fc.oneof(hostile, built), (line) => {
      const a = parseAnswer(line);
      if (a === null || a.kind !== 'result') return;
      if (a.status === 'found' && a.value !== undefined && (a.type === 'lookup' || a.type === 'fetch')) {
        assert.ok(line.endsWith(`|found|${a.value}`));
      }
    }),
    params,
  );
});
