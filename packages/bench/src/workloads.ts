// The runs a bench invocation measures: workload x size x connection mode x session count x load
// client, and the whole list (`--matrix`). A run's label is how the table and the log name it.
import type { ClientKind } from './load/types.js';
import { sizeLabel } from './measure/stats.js';
import type { Workload } from './servers/types.js';

export type Mode = 'per-message' | 'reused';
export const MODES: readonly Mode[] = ['per-message', 'reused'];

export interface Run {
  workload: Workload;
  size: number;
  mode: Mode;
  sessions: number;
  client: ClientKind;
  /** Also measure each server paced at half its peak rate (built-in client rows only: p50/p99 latency). */
  halfRate: boolean;
}

export interface Selection {
  workloads: readonly Workload[];
  sizes: readonly number[];
  modes: readonly Mode[];
  sessions: readonly number[];
  clients: readonly ClientKind[];
  halfRate: boolean;
}

/** Every combination of a selection, grouped by workload (the servers restart per workload). */
export function expand(sel: Selection): Run[] {
  const runs: Run[] = [];
  for (const workload of sel.workloads) for (const size of sel.sizes) for (const mode of sel.modes)
    for (const sessions of sel.sessions) for (const client of sel.clients) runs.push({ workload, size, mode, sessions, client, halfRate: sel.halfRate && client === 'builtin' });
  return runs;
}

/**
 * Issue 10's list: accept only, accept + maildir, relay to smtp-sink; 1 KiB and 100 KiB; 1, 20 and
 * 100 sessions; a connection per message and reused, all with smtp-source; then the built-in client
 * on accept + maildir 1 KiB at 20 sessions, with the half-peak-rate latency rows.
 */
export function matrix(): Run[] {
  const all = expand({ workloads: ['accept', 'maildir', 'relay'], sizes: [1024, 102400], modes: MODES, sessions: [1, 20, 100], clients: ['smtp-source'], halfRate: false });
  const latency = expand({ workloads: ['maildir'], sizes: [1024], modes: MODES, sessions: [20], clients: ['builtin'], halfRate: true });
  const byWorkload = (w: Workload): Run[] => [...all, ...latency].filter((r) => r.workload === w);
  return [...byWorkload('accept'), ...byWorkload('maildir'), ...byWorkload('relay')];
}

export function label(run: Pick<Run, 'workload' | 'size' | 'mode' | 'sessions'>): string {
  return `${run.workload} ${sizeLabel(run.size)} ${run.mode} s=${run.sessions}`;
}
