// control: the smtpctl socket, statistics and monitor. Served to the parent (socketPath) and to
// every actor, which pushes its counters here (onStats) and, when metrics are configured, its
// timing samples (onTimings). Both are one-way and batched; nothing reads counters back.
import { z } from 'zod';

/** An actor's counters as of now: every key it keeps (REFERENCE 12 names), numbers only. */
export const StatsPushSchema = z.object({
  role: z.string().regex(/^[a-z]{2,12}$/),
  counters: z.record(z.string().regex(/^[A-Za-z0-9._-]{1,96}$/), z.number().finite()),
});
export type StatsPush = z.infer<typeof StatsPushSchema>;

/** Names of the timing series control turns into Prometheus histograms. */
export const TIMING_NAMES = ['smtp.data.latency', 'delivery.delay'] as const;
export type TimingName = (typeof TIMING_NAMES)[number];

/** Samples in seconds, per series; an actor sends at most MAX_TIMING_SAMPLES per push. */
export const MAX_TIMING_SAMPLES = 4096;
export const TimingPushSchema = z.partialRecord(z.enum(TIMING_NAMES), z.array(z.number().finite().nonnegative()).max(MAX_TIMING_SAMPLES));
export type TimingPush = z.infer<typeof TimingPushSchema>;

export interface ControlMailbox {
  /** Path of the control socket, or null while it is not listening. */
  socketPath(): Promise<string | null>;
  /** An actor's current counters (sent about once a second while they change). */
  onStats(push: StatsPush): void;
  /** Latency samples gathered since the last push (only sent when metrics are configured). */
  onTimings(push: TimingPush): void;
}
