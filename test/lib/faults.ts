// Harness of the fault tests (test/faults-*.test.ts): the crash-tolerant load client
// (py/fault_load.py) started in the background and stopped by a stop file, a seeded random
// source so that a failing run can be repeated (TSMTPD_FAULT_SEED), and small file counters.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describeRun, run } from './proc.js';
import { pyDir, python3 } from './paths.js';

export interface FaultLoadResult {
  /** 250 at the end of DATA: must be delivered. */
  acked: string[];
  /** [tag, stage, code, text]: a definite refusal, never delivered. */
  refused: [string, string, number, string][];
  /** [tag, error]: body sent, no reply (the server died): delivered or not. */
  unknown: [string, string][];
  /** [tag, stage, error]: broke before the body left: never delivered. */
  unsent: [string, string, string][];
  connects: number;
  connect_failures: number;
  seconds: number;
}

export interface FaultLoad {
  /** Ask the client to stop (after the message each session is sending) and wait for its report. */
  stop(): Promise<FaultLoadResult>;
}

export interface FaultLoadOptions {
  sessions: number;
  rcpts: string[];
  /** Pause between two messages of one session, ms. */
  pauseMs: number;
  /** The client stops by itself after this long, whatever happens. */
  maxSeconds: number;
  seed: number;
  /** Directory for the stop file. */
  dir: string;
  /** Envelope sender, `%s` replaced by the message's tag (default load@client.test). */
  sender?: string;
}

/** Starts the load at once; it reconnects through every crash until stop(). */
export function startFaultLoad(port: number, o: FaultLoadOptions): FaultLoad {
  const stopFile = path.join(o.dir, `load-${port}-${o.seed}.stop`);
  const args = [path.join(pyDir, 'fault_load.py'), '127.0.0.1', String(port), String(o.sessions), stopFile,
    String(o.maxSeconds), String(o.pauseMs), o.rcpts.join(','), String(o.seed), ...(o.sender ? [o.sender] : [])];
  const running = run(python3, args, { timeoutMs: (o.maxSeconds + 30) * 1000 });
  return {
    async stop() {
      writeFileSync(stopFile, '');
      const r = await running;
      if (r.code !== 0) throw new Error(describeRun('python3 fault_load.py', r));
      return JSON.parse(r.stdout) as FaultLoadResult;
    },
  };
}

/** A small seeded generator (mulberry32): the same seed, the same kill times. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** TSMTPD_FAULT_SEED when set (to repeat a run), else a new one; tests print it. */
export function faultSeed(): number {
  const env = Number(process.env['TSMTPD_FAULT_SEED']);
  return Number.isSafeInteger(env) && env > 0 ? env : 1 + Math.floor(Math.random() * 2 ** 31);
}

/** The X-Tsmtpd-Tag of every message in a maildir, read by Python's mailbox module. */
export async function maildirTags(dir: string): Promise<string[]> {
  const r = await run(python3, [path.join(pyDir, 'fault_tags.py'), dir], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(describeRun('python3 fault_tags.py', r));
  return JSON.parse(r.stdout) as string[];
}

/** Lines of a text file (missing: none), without the empty last one. */
export function fileLines(p: string): string[] {
  if (!existsSync(p)) return [];
  return readFileSync(p, 'utf8').split('\n').filter((l) => l !== '');
}

/** How often each key occurs. */
export function tally(keys: Iterable<string>): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}
