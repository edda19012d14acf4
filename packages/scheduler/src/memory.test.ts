// Memory per schedule record (DESIGN 5: target below 300 bytes). Reported, loosely bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { RamSchedulerBackend } from './ram-backend.js';
import type { ScheduleEntry } from '@tsmtpd/proto';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

test('100k envelopes in the run queue: bytes per record', (t) => {
  const N = 100_000;
  // Build the entries first: they stand for the messages arriving and are not the scheduler's.
  const batches: ScheduleEntry[][] = [];
  for (let m = 0; m < N / 4; m++) {
    const msgid = (0x10000000 + m).toString(16);
    const batch: ScheduleEntry[] = [];
    for (let i = 0; i < 4; i++) {
      batch.push({ evpid: msgid + (0x20000000 + i).toString(16), type: i % 2 ? 'mta' : 'mda', ctime: 1_700_000_000 + m, ttl: 345_600, retry: 0, lastTry: 0 });
    }
    batches.push(batch);
  }
  gc();
  const before = process.memoryUsage().heapUsed;
  const b = new RamSchedulerBackend({ now: () => 1_600_000_000 });
  for (const batch of batches) b.insert(batch);
  for (let m = 0; m < N / 4; m++) b.commit((0x10000000 + m).toString(16));
  gc();
  const after = process.memoryUsage().heapUsed;
  // Only the evpid strings are shared with the entries; count them in, as they stay alive.
  const perRecord = (after - before) / N + 32;
  t.diagnostic(`scheduler record: ~${perRecord.toFixed(0)} bytes per envelope (incl. the 16-char evpid string)`);
  assert.equal(b.stats()['scheduler.ramqueue.envelope'], N);
  assert.equal(batches.length, N / 4); // keeps the entries alive across both measurements
  assert.ok(perRecord < 300, `record too large: ${perRecord}`);
});
