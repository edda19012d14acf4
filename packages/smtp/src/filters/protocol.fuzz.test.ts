// Property-based fuzzing (fast-check, FUZZ_MS per property, default 2 s) of the filter protocol
// 0.7 lines: whatever a session says, a line we send to a filter stays one line with its fields
// in place; whatever a filter writes, the parser answers a value (never throws), and a reject
// reply it would accept carries no control character.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FILTER_PHASES, REPORT_EVENTS, filterLine, parseProcLine, reportLine, validRejectReply } from './protocol.js';

const FUZZ_MS = Number(process.env['FUZZ_MS'] ?? 2000);
const params = { numRuns: 10_000_000, interruptAfterTimeLimit: FUZZ_MS, markInterruptAsFailure: false } as const;
const hostile = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'|\r\n\0\t\x7f\x1b aZ9.:<>@\u00e9'), maxLength: 60 }),
  fc.string({ unit: 'binary', maxLength: 60 }),
);
const SID = '0123456789abcdef';

test('fuzz: report and filter lines stay one line, with their leading fields in place', () => {
  fc.assert(
    fc.property(fc.constantFrom(...REPORT_EVENTS), fc.constantFrom(...FILTER_PHASES.filter((p) => p !== 'data-line')), fc.array(hostile, { maxLength: 4 }), (event, phase, ps) => {
      for (const line of [reportLine(event, SID, ps), filterLine(phase, SID, SID, ps)]) {
        assert.ok(!/[\r\n\0]/.test(line), `a line break reached a filter: ${JSON.stringify(line)}`);
      }
      const r = reportLine(event, SID, ps).split('|');
      assert.deepEqual([r[0], r[3], r[4], r[5]], ['report', 'smtp-in', event, SID]);
      const f = filterLine(phase, SID, SID, ps).split('|');
      assert.deepEqual([f[0], f[3], f[4], f[5], f[6]], ['filter', 'smtp-in', phase, SID, SID]);
    }),
    params,
  );
});

test('fuzz: data-line content loses only CR and NUL', () => {
  fc.assert(
    fc.property(hostile.filter((s) => !s.includes('\n')), (s) => {
      const line = filterLine('data-line', SID, SID, [s]);
      assert.ok(!/[\r\n\0]/.test(line));
      assert.equal(line.split('|').slice(7).join('|'), s.replace(/[\r\0]/g, ''));
    }),
    params,
  );
});

test('fuzz: any line a filter writes parses to a value; accepted reject replies are clean', () => {
  const token = fc.constantFrom(SID, 'ffff', '', 'xyz', '0'.repeat(20));
  const verb = fc.constantFrom('proceed', 'junk', 'reject', 'disconnect', 'rewrite', 'report', 'bogus');
  const built = fc.tuple(fc.constantFrom('filter-result', 'filter-dataline', 'register', 'report'), token, token, verb, hostile).map((p) => p.join('|'));
  fc.assert(
    fc.property(fc.oneof(hostile, built), (line) => {
      const r = parseProcLine(line);
      assert.ok(typeof r.kind === 'string');
      if (r.kind === 'result' && (r.result.kind === 'reject' || r.result.kind === 'disconnect') && validRejectReply(r.result.reply)) {
        assert.ok(!/[\x00-\x1f\x7f]/.test(r.result.reply), JSON.stringify(r.result.reply));
      }
    }),
    params,
  );
});
