// Helpers shared by the scheduler's tests: schedule entries and a fake clock.
import type { EnvelopeType, ScheduleEntry } from '@tsmtpd/proto';

let counter = 0;

/** A fresh msgid that is unique within the test process (hex of a counter). */
export function testMsgid(): string {
  counter += 1;
  return (0x10000000 + counter).toString(16);
}

export function entry(msgid: string, n: number, over: Partial<ScheduleEntry> = {}): ScheduleEntry {
  const type: EnvelopeType = over.type ?? 'mda';
  return {
    evpid: msgid + (0x10000000 + n).toString(16),
    type,
    ctime: 1_700_000_000,
    ttl: 345_600,
    retry: 0,
    lastTry: 0,
    ...over,
  };
}

/** A settable clock in epoch seconds. */
export class FakeClock {
  constructor(public t = 1_700_000_000) {}
  readonly now = (): number => this.t;
  advance(s: number): void {
    this.t += s;
  }
}
