// The per-uid delivery helper: a process started with the recipient's uid/gid (it never holds
// root) that serves file deliveries (maildir, the mbox append) over the socket on fd 3, framed
// as frame.ts says: OPEN + DATA* + END per delivery, one DONE back. File calls are synchronous
// (sync-jobs.ts); the deliveries ended by one read are committed together (one fsync of new/),
// their fsyncs on this thread when one ended, in libuv's pool when several did (they overlap);
// the answers of a read (or of a turn of the event loop) go out in one write.
// With privilege separation it also runs mda commands as the uid (the mda cannot switch uid),
// and fd 3 is a listening socket (`--peer UID:PID`): the first connection from that process
// (SO_PEERCRED) is the mda worker's, any other is closed unread. Exits when the socket closes.
import net from 'node:net';
import { peerCredentials } from '@tsmtpd/peercred';
import { FrameReader, FrameType, jsonFrame, type Frame } from './frame.js';
import { HelperJobSchema, parseJson, type CommandHelperJob, type MethodOutcome } from './protocol.js';
import { openCommand } from '../methods/command.js';
import type { Sink } from '../sink.js';
import { fsyncHere, fsyncPool, openFileJobSync, syncDirs, type Committed, type SyncSink } from './sync-jobs.js';
import { fsFailure, tempfail } from '../sink.js';

/** Deliveries open here; null: already answered (a failed open), its remaining frames are ignored. */
const open = new Map<number, SyncSink | CommandRun | null>();
const reader = new FrameReader();
process.title = `tsmtpd: delivery helper uid=${process.getuid?.() ?? '?'}`;
/** Longest wait for the actor process to connect to a listening helper. */
const ACCEPT_MS = 30_000;

function warn(text: string): void {
  process.stderr.write(`tsmtpd delivery helper: ${text}\n`);
}

let replies: Buffer[] = [];
let sock: net.Socket | null = null;
/** File deliveries whose END arrived in the read being handled: committed together after it. */
let ending: { id: number; sink: SyncSink }[] = [];

/** Set while a read is handled: its answers are flushed at its end (no setImmediate). */
let reading = false;

/** Queue an answer; the answers of one read (or one turn of the event loop) leave in one write. */
function answer(id: number, o: MethodOutcome): void {
  replies.push(jsonFrame(FrameType.done, id, o));
  if (replies.length === 1 && !reading) setImmediate(flush);
}

function flush(): void {
  const out = replies;
  replies = [];
  if (out.length > 0 && sock && !sock.destroyed) sock.write(out.length === 1 ? out[0]! : Buffer.concat(out));
}

/**
 * Commit the deliveries ended by one read: each file fsynced and published, then one fsync
 * per directory they were published into; only then is any of them answered `ok`.
 */
function commitEnded(): void {
  const batch = ending;
  ending = [];
  // A lone delivery fsyncs here (a pool hop costs more CPU than it saves); several overlap
  // theirs in the pool (one after another they cost 2-3x the wall time per delivery).
  const sync = batch.length === 1 ? fsyncHere : fsyncPool;
  const done: { id: number; c: Committed }[] = [];
  const answerAll = (): void => {
    const dirs = done.flatMap(({ c }) => (c.outcome.status === 'ok' && c.syncDir !== undefined ? [c.syncDir] : []));
    syncDirs(dirs, sync, (failed) => {
      for (const { id, c } of done) {
        const err = c.syncDir !== undefined ? failed.get(c.syncDir) : undefined;
        answer(id, err ? fsFailure('maildir commit', err) : c.outcome);
      }
    });
  };
  for (const { id, sink } of batch) sink.commit(sync, (c) => void (done.push({ id, c }) === batch.length && answerAll()));
}

/** A command delivery: its sink is asynchronous, so its frames are chained in order. */
class CommandRun {
  private chain: Promise<Sink | null>;

  constructor(
    private readonly id: number,
    job: CommandHelperJob,
  ) {
    this.chain = openCommand({ command: job.command, env: job.env, cwd: job.cwd, timeoutMs: job.timeoutMs }).then((r) => {
      if (r.ok) return r.sink;
      answer(id, r.outcome);
      return null;
    });
  }

  write(chunk: Uint8Array): void {
    const copy = Buffer.from(chunk); // the frame's bytes are a view of a read buffer
    this.chain = this.chain.then(async (s) => (s ? (await s.write(copy), s) : null));
  }

  abort(): void {
    this.finish('abort');
  }

  finish(how: 'end' | 'abort'): void {
    void this.chain.then(async (s) => {
      if (s === null) return;
      if (how === 'abort') {
        await s.abort('aborted by the mda');
        return answer(this.id, tempfail('delivery aborted'));
      }
      answer(this.id, await s.end());
    });
  }
}

function handle(f: Frame): void {
  if (f.type === FrameType.open) {
    const job = parseJson(HelperJobSchema, f.payload);
    if (job === null || open.has(f.id)) {
      open.set(f.id, null);
      return answer(f.id, { status: 'permfail', errorline: 'helper: invalid delivery request' });
    }
    if (job.kind === 'command') return void open.set(f.id, new CommandRun(f.id, job));
    const r = openFileJobSync(job);
    open.set(f.id, r.ok ? r.sink : null);
    if (!r.ok) answer(f.id, r.outcome);
    return;
  }
  const sink = open.get(f.id);
  if (f.type === FrameType.data) return sink?.write(f.payload);
  if (f.type !== FrameType.end && f.type !== FrameType.abort) return warn(`unknown frame type ${f.type}`);
  open.delete(f.id);
  if (sink === null) return; // answered at open
  if (sink === undefined) return answer(f.id, tempfail('helper: unknown delivery'));
  if (sink instanceof CommandRun) return sink.finish(f.type === FrameType.end ? 'end' : 'abort');
  if (f.type === FrameType.end) return void ending.push({ id: f.id, sink });
  sink.abort();
  answer(f.id, tempfail('delivery aborted'));
}

const quit = (): void => {
  for (const s of open.values()) s?.abort();
  process.exit(0);
};

function serve(s: net.Socket): void {
  sock = s;
  s.on('data', (chunk: Buffer) => {
    reading = true;
    try {
      for (const f of reader.push(chunk)) handle(f);
      if (ending.length > 0) commitEnded();
    } catch (e) {
      warn(`protocol error: ${(e as Error).message}`);
      s.destroy();
    } finally {
      reading = false;
    }
    flush(); // the answers of this read leave now, in one write
  });
  s.on('end', quit);
  s.on('close', quit);
  s.on('error', (e) => warn(`socket: ${e.message}`));
}

/** `--peer UID:PID`: whom the listening socket on fd 3 may serve; null: fd 3 is our connection. */
function expectedPeer(argv: string[]): { uid: number; pid: number } | null {
  const i = argv.indexOf('--peer');
  if (i < 0) return null;
  const m = /^(\d+):(\d+)$/.exec(argv[i + 1] ?? '');
  if (!m) {
    warn('invalid --peer');
    process.exit(2);
  }
  return { uid: Number(m[1]), pid: Number(m[2]) };
}

const peer = expectedPeer(process.argv);
if (peer === null) serve(new net.Socket({ fd: 3, readable: true, writable: true }));
else {
  const server = net.createServer({ pauseOnConnect: true });
  const timer = setTimeout(() => {
    warn('no connection from the actor process');
    process.exit(0);
  }, ACCEPT_MS);
  server.on('connection', (s) => {
    let cred;
    try {
      cred = peerCredentials(s);
    } catch {
      cred = null;
    }
    if (sock !== null || cred === null || cred.uid !== peer.uid || cred.pid !== peer.pid) {
      if (sock === null) warn(`connection refused from ${cred ? `pid ${cred.pid} uid ${cred.uid}` : 'an unknown peer'}`);
      return void s.destroy();
    }
    clearTimeout(timer);
    server.close(); // one connection: nobody else is let in
    serve(s);
    s.resume();
  });
  server.on('error', (e) => {
    warn(`listening socket: ${e.message}`);
    process.exit(1);
  });
  server.listen({ fd: 3 });
}
