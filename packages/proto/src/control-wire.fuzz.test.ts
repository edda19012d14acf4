// Property-based fuzzing (fast-check, FUZZ_MS per property, default 2 s) of the control
// protocol's request schema: any JSON value a local client sends is accepted or refused by the
// schema without throwing, and what it accepts is one of the known commands.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ControlRequestSchema } from './control-wire.js';

const FUZZ_MS = Number(process.env['FUZZ_MS'] ?? 2000);
const params = { numRuns: 10_000_000, interruptAfterTimeLimit: FUZZ_MS, markInterruptAsFailure: false } as const;

test('fuzz: control requests: any JSON value is parsed or refused, never thrown on', () => {
  const cmd = fc.constantFrom('show.queue', 'show.envelope', 'show.message', 'envelopes', 'agent', 'trace', 'log', 'update.table', 'bogus');
  const shaped = fc.record({
    v: fc.oneof(fc.constant(1), fc.integer()), cmd,
    target: fc.oneof(fc.string(), fc.constant('all'), fc.stringMatching(/^[0-9a-f]{8,16}$/)),
    op: fc.constantFrom('schedule', 'remove', 'x'), evpid: fc.stringMatching(/^[0-9a-f]{14,17}$/), name: fc.string(), msgid: fc.string(),
  }, { requiredKeys: [] });
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue(), shaped), (value) => {
      const r = ControlRequestSchema.safeParse(value);
      if (!r.success) return;
      assert.ok(['show.queue', 'show.envelope', 'show.message', 'envelopes', 'agent', 'trace', 'log', 'update.table', 'show.stats', 'show.status', 'show.mta', 'digest'].includes(r.data.cmd));
      if (r.data.cmd === 'update.table') assert.ok(!/[\r\n\0|]/.test(r.data.name));
    }),
    params,
  );
});
