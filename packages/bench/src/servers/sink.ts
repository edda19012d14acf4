// Postfix's smtp-sink on a free loopback port: the no-queue ceiling among the servers, and the
// relay workload's receiver. It discards (no -d, so its own disk writes do not compete with the
// server under test) and counts with -c; the bench reads that counter to know what arrived.
// A backlog of 1024 so no SYN is lost. Started and stopped (SIGTERM, then SIGKILL) by its PID.
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { ensurePostfixTools, smtpSinkBin } from '../load/smtp-source.js';
import { Child, freePort, isRoot, sleep } from '../util.js';
import type { Server } from './types.js';

export interface Sink extends Server {
  messages(): number;
  /** Connections open to the sink right now (/proc/net/tcp), undefined when unreadable. */
  connections(): number | undefined;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** Established TCP connections whose local end is 127.0.0.1:port. */
function established(port: number): number | undefined {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let text: string;
  try {
    text = readFileSync('/proc/net/tcp', 'latin1');
  } catch {
    return undefined;
  }
  return text.split('\n').filter((l) => {
    const f = l.trim().split(/\s+/);
    return f[1] === local && f[3] === '01';
  }).length;
}

export async function startSink(): Promise<Sink> {
  ensurePostfixTools();
  if (!existsSync(smtpSinkBin)) throw new Error(`${smtpSinkBin} missing: run scripts/peers-install.sh`);
  const port = await freePort();
  // As root smtp-sink insists on dropping privileges (-u).
  const child = new Child(smtpSinkBin, ['-c', ...(isRoot() ? ['-u', 'nobody'] : []), `127.0.0.1:${port}`, '1024'], {}, 4000);
  // smtp-sink -c rewrites one status line "sess=N quit=N mesg=N" as counters move.
  const messages = (): number => {
    const all = [...child.output().matchAll(/mesg=(\d+)/g)];
    return Number(all[all.length - 1]?.[1] ?? 0);
  };
  const sink: Sink = {
    name: 'sink',
    port,
    pid: child.pid,
    rcpt: 'bench@localhost',
    delivers: true, // it discards: a message counted is a message done
    arrivals: messages,
    reset: () => {},
    messages,
    connections: () => established(port),
    describe: () => `smtp-sink pid ${child.pid} port ${port}: ${child.tail(3)}`,
    stop: async () => void (await child.stop(3000)),
  };
  for (let i = 0; i < 50 && child.running(); i++) {
    if (await listening(port)) return sink; // this probe counts as a session, never as a message
    await sleep(100);
  }
  await sink.stop();
  throw new Error(`smtp-sink did not listen on 127.0.0.1:${port}\n${sink.describe()}`);
}
