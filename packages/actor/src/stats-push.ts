// Counters and timings pushed to control (DESIGN 2: control collects them; nothing reads them
// back). Once a second an actor's counters go to control as one one-way notification when any
// changed, and at stop a last time; timing samples (only when metrics are configured) go with
// them, at most MAX_TIMING_SAMPLES per series per push (the rest are dropped, not queued).
import { MAX_TIMING_SAMPLES, type ActorStats, type ControlMailbox, type TimingName, type TimingPush } from '@tsmtpd/proto';
import type { Remote } from './remote.js';

export const PUSH_EVERY_MS = 1000;

export class StatsPusher {
  private timer: NodeJS.Timeout | null = null;
  private last = '';
  private samples = new Map<TimingName, number[]>();

  constructor(
    private readonly role: string,
    private readonly snapshot: () => ActorStats,
    private readonly control: () => Remote<ControlMailbox> | null,
    private readonly timingsOn: boolean,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.push(), PUSH_EVERY_MS);
    this.timer.unref();
  }

  /** A latency sample in seconds (dropped unless metrics are configured). */
  timing(name: TimingName, seconds: number): void {
    if (!this.timingsOn || !(seconds >= 0) || !Number.isFinite(seconds)) return;
    let a = this.samples.get(name);
    if (!a) this.samples.set(name, (a = []));
    if (a.length < MAX_TIMING_SAMPLES) a.push(seconds);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.push();
  }

  push(): void {
    const control = this.control();
    if (!control) return;
    try {
      const counters = this.snapshot();
      const text = JSON.stringify(counters);
      if (text !== this.last) {
        this.last = text;
        control.onStats({ role: this.role, counters });
      }
      if (this.samples.size > 0) {
        const push = Object.fromEntries(this.samples) as TimingPush;
        this.samples = new Map();
        control.onTimings(push);
      }
    } catch {
      // A dead control link: counters are best effort, mail goes on.
    }
  }
}
