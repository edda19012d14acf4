// The runner under the `scheduler limit` keys, on the real event loop with a RAM backend:
// max-schedule per tick, max-evp-batch-size per message, max-inflight, and that a small
// max-schedule neither blocks the event loop nor cuts throughput.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DispatchItem } from '@tsmtpd/proto';
import { RamSchedulerBackend } from './ram-backend.js';
import { Runner, type RunnerLimits } from './runner.js';
import { entry, testMsgid } from './test-helpers.js';

interface Run {
  b: RamSchedulerBackend;
  runner: Runner;
  batches: DispatchItem[][];
  expired: string[][];
}

function setup(limits: RunnerLimits, n: number): Run {
  const b = new RamSchedulerBackend();
  const now = Math.floor(Date.now() / 1000);
  const batches: DispatchItem[][] = [];
  const expired: string[][] = [];
  const runner = new Runner(b, limits, { dispatch: (items) => void batches.push(items), expire: (e) => void expired.push(e) });
  for (let done = 0; done < n; ) {
    const m = testMsgid();
    const es = Array.from({ length: Math.min(100, n - done) }, (_, i) => entry(m, i + 1, { ctime: now }));
    b.load(es);
    done += es.length;
  }
  return { b, runner, batches, expired };
}

async function drained(r: Run, total: number, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (r.batches.reduce((s, x) => s + x.length, 0) < total) {
    if (Date.now() > end) throw new Error('not drained in time');
    await new Promise((res) => setTimeout(res, 2));
  }
}

test('max-schedule bounds a tick, max-evp-batch-size a message: 1000 due -> ticks of 10, messages of 256', async () => {
  const r = setup({ maxInflight: 5000, maxEvpBatchSize: 256, maxSchedule: 10 }, 1000);
  r.runner.wake();
  await drained(r, 1000);
  r.runner.stop();
  assert.deepEqual(r.batches.map((x) => x.length), [256, 256, 256, 232]);
  assert.ok(r.runner.ticks >= 100, `ticks ${r.runner.ticks}`);
  assert.ok(r.runner.ticks <= 102, `ticks ${r.runner.ticks}`);
  assert.equal(new Set(r.batches.flat().map((d) => d.evpid)).size, 1000);
});

test('max-inflight stops the ticks; outcomes resume them', async () => {
  const r = setup({ maxInflight: 35, maxEvpBatchSize: 16, maxSchedule: 10 }, 100);
  r.runner.wake();
  await drained(r, 35);
  await new Promise((res) => setTimeout(res, 30));
  assert.equal(r.batches.flat().length, 35, 'strictly no more than max-inflight');
  assert.ok(r.batches.every((x) => x.length <= 16));
  assert.equal(r.runner.timerPending, false, 'idle at the limit');
  r.b.outcomes(r.batches.flat().slice(0, 5).map((d) => ({ evpid: d.evpid, outcome: 'ok' as const })));
  r.runner.wake();
  await drained(r, 40);
  r.runner.stop();
  assert.equal(r.b.inflight, 35);
});

test('a long backlog does not hold the event loop: other callbacks run between ticks', async () => {
  const r = setup({ maxInflight: 1_000_000, maxEvpBatchSize: 256, maxSchedule: 10 }, 20_000);
  let seenAt = -1;
  r.runner.wake();
  setImmediate(() => setImmediate(() => (seenAt = r.batches.flat().length)));
  await drained(r, 20_000);
  r.runner.stop();
  assert.ok(seenAt >= 0 && seenAt < 20_000, `other work ran only after the backlog (${seenAt})`);
});

test('throughput with the defaults: 200k envelopes handed out in well under a second each 100k', async (t) => {
  const N = 200_000;
  const r = setup({ maxInflight: 1_000_000, maxEvpBatchSize: 256, maxSchedule: 10 }, N);
  const t0 = performance.now();
  r.runner.wake();
  await drained(r, N, 20_000);
  const ms = performance.now() - t0;
  r.runner.stop();
  t.diagnostic(`${N} envelopes in ${ms.toFixed(0)} ms (${Math.round(N / (ms / 1000))}/s), ${r.runner.ticks} ticks, ${r.batches.length} messages`);
  assert.equal(r.batches.length, Math.ceil(N / 256));
  // Loose: the runner alone must not be what limits delivery (measured ~1-2M/s here).
  assert.ok(ms < 8000, `too slow: ${ms} ms`);
});

test('expired envelopes travel in their own batches', async () => {
  const b = new RamSchedulerBackend();
  const expired: string[][] = [];
  const runner = new Runner(b, { maxInflight: 100, maxEvpBatchSize: 4, maxSchedule: 3 }, { dispatch: () => {}, expire: (e) => void expired.push(e) });
  const m = testMsgid();
  b.load(Array.from({ length: 10 }, (_, i) => entry(m, i + 1, { ctime: 1000, ttl: 10 })));
  runner.wake();
  const end = Date.now() + 3000;
  while (expired.flat().length < 10 && Date.now() < end) await new Promise((res) => setTimeout(res, 2));
  runner.stop();
  assert.deepEqual(expired.map((x) => x.length), [4, 4, 2]);
});
