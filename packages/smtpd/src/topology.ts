// The daemon's topology (DESIGN.md section 2): which actors may talk to each other. The
// parent creates one MessageChannel per edge and no other; topology.test.ts checks that
// every peer an actor's code calls is listed here.
import type { Role } from '@tsmtpd/proto';
import type { Topology } from '@tsmtpd/actor';

export const TOPOLOGY: Topology = [
  ['smtp', 'lka'],
  ['smtp', 'queue'],
  ['smtp', 'control'],
  ['queue', 'scheduler'],
  ['queue', 'mda'],
  ['queue', 'mta'],
  ['queue', 'control'],
  ['queue', 'lka'],
  ['scheduler', 'control'],
  ['mda', 'lka'],
  ['mda', 'control'],
  ['mta', 'lka'],
  ['mta', 'control'],
  ['lka', 'control'],
];

/** Start order: whoever others depend on first; smtp last, so nothing is accepted early. */
export const START_ORDER: readonly Role[] = ['control', 'lka', 'scheduler', 'mda', 'mta', 'queue', 'smtp'];

/**
 * Stop order: stop intake first, then scheduling, then deliveries (whose results still
 * reach the queue), control (which takes every other actor's last counters and saves them),
 * and the queue — the only writer — last.
 */
export const STOP_ORDER: readonly Role[] = ['smtp', 'scheduler', 'mta', 'mda', 'lka', 'control', 'queue'];

export function hasEdge(a: Role, b: Role): boolean {
  return TOPOLOGY.some(([x, y]) => (x === a && y === b) || (x === b && y === a));
}
