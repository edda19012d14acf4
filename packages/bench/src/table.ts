// The results as markdown: one line per run and server (medians of the rounds), the ratio
// tsmtpd/peer against tsmtpd's line of the same run, the idle RSS rows, and a footer with what each
// server does on disk before its 250, how delivery was paused, the machine and its load average.
import type { IdleRow, Row } from './compare.js';
import { fmt, fmtRatio, ratio } from './measure/stats.js';
import { DURABILITY, PAUSE, SETUP, type ServerName } from './servers/types.js';
import { label } from './workloads.js';

export const HEAD = ['run', 'client', 'server', 'msgs', 'acc/s', 'del/s', 'MiB/s', 'p50 ms', 'p99 ms', 'CPU ms/msg', 'machine CPU ms/msg', 'peak RSS MB', 'ratio del', 'ratio CPU'];

export function mdRow(cells: readonly (string | number)[]): string {
  return `| ${cells.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`;
}

export function mdTable(head: readonly string[], lines: readonly (readonly (string | number)[])[]): string {
  return [mdRow(head), mdRow(head.map(() => '---')), ...lines.map(mdRow)].join('\n');
}

/** The rate a row is compared on: delivered, or accepted where nothing is delivered (accept-only, sink). */
export function throughput(r: Row): number | undefined {
  return r.run.workload === 'accept' || r.server === 'sink' ? r.accepted : r.delivered;
}

const key = (r: Row): string => `${label(r.run)}|${r.run.client}|${r.paced === undefined ? '' : 'paced'}`;

/** The cells of one row; `ours` is tsmtpd's row of the same run (for the ratios). */
export function cells(r: Row, ours: Row | undefined): string[] {
  const tput = throughput(r);
  const mine = r.server !== 'tsmtpd' && ours ? ours : undefined;
  const client = r.paced === undefined ? r.run.client : `${r.run.client} paced ${fmt(r.paced)}/s (half peak)`;
  return [
    label(r.run), client, r.server, String(r.count), `${fmt(r.accepted)}${r.ok ? '' : '!'}`,
    r.run.workload === 'accept' && r.server !== 'sink' ? 'paused' : fmt(r.delivered ?? (r.server === 'sink' ? r.accepted : undefined)),
    fmt(tput === undefined ? undefined : (tput * r.run.size) / 1048576, 1), fmt(r.p50, 1), fmt(r.p99, 1),
    fmt(r.cpuPerMsg, 2), fmt(r.machinePerMsg, 2), fmt(r.rssMb),
    mine && r.paced === undefined ? fmtRatio(ratio(throughput(mine), tput)) : '-',
    mine ? fmtRatio(ratio(mine.cpuPerMsg, r.cpuPerMsg)) : '-',
  ];
}

export function resultsTable(rows: readonly Row[]): string {
  const tsmtpd = new Map(rows.filter((r) => r.server === 'tsmtpd').map((r) => [key(r), r]));
  return mdTable(HEAD, rows.map((r) => cells(r, tsmtpd.get(key(r)))));
}

export function idleTable(idle: readonly IdleRow[]): string {
  return mdTable(['idle RSS', 'server', 'processes', 'RSS at start MB', 'RSS after warm-up MB'],
    idle.map((i) => [i.workload, i.server, i.processes, fmt(i.freshMb), fmt(i.warmMb)]));
}

export interface Footer {
  servers: readonly ServerName[];
  rounds: number;
  date: string;
  commit: string;
  load: { before: string; after: string };
  machine: string;
  accept: boolean;
  notes: readonly string[];
}

export function footer(f: Footer): string {
  const out = [
    `${f.date}, commit ${f.commit}; load average ${f.load.before} before, ${f.load.after} after; ${f.machine}.`,
    `Median of ${f.rounds} round(s), servers alternating (order rotated each round), after a warm-up.`,
    'acc/s: messages / client wall time; del/s: until the last one arrived (maildir files; relay: counted by smtp-sink);',
    'MiB/s: of the compared rate; p50/p99: end of DATA ("\\r\\n.\\r\\n" written) to its reply, built-in client only;',
    'CPU ms/msg: user+sys of the server\'s whole process tree (/proc, reaped children included) per delivered message',
    '(accepted, for accept-only); machine CPU ms/msg: /proc/stat of every process, the load generator included;',
    'peak RSS: sum of VmRSS over the tree; ratio: tsmtpd / server (del: higher is better for tsmtpd; CPU: lower is). "!" = failures.',
    '', 'Before its 250 each server:',
    ...f.servers.map((s) => `- ${s}: ${DURABILITY[s]}`),
  ];
  const setup = f.servers.filter((s) => SETUP[s]);
  if (setup.length) out.push('', 'Changed by the bench:', ...setup.map((s) => `- ${s}: ${SETUP[s]!}`));
  if (f.accept) out.push('', 'Accept only (delivery paused):', ...f.servers.map((s) => `- ${s}: ${PAUSE[s]}`));
  if (f.notes.length) out.push('', ...f.notes.map((n) => `Note: ${n}`));
  return out.join('\n');
}
