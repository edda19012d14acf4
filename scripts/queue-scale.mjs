#!/usr/bin/env node
// Queue scale measurement (not a test): restart with N stored envelopes (default 1,000,000) and
// a burst of M messages (default 100,000) into a slow delivery agent, against the real daemon
// (node packages/smtpd/bin/smtpd.js -d). Memory per worker comes from the daemon's inspector
// (--inspect on loopback, Runtime.getHeapUsage in each worker), RSS from /proc. Prints tables.
// Usage: node scripts/queue-scale.mjs [--count N] [--per-message K] [--burst M] [--sessions S]
//        [--no-load] [--no-burst] [--keep]          (needs `npx tsc -b` first)
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

// Node 20 has a WebSocket client (for the inspector) only behind a flag: re-run with it.
if (typeof WebSocket === 'undefined') {
  const r = spawnSync(process.execPath, ['--experimental-websocket', '--no-warnings', ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const ROOT = new URL('..', import.meta.url).pathname;
const { SqliteQueueBackend } = await import(path.join(ROOT, 'packages/queue/dist/sqlite-backend.js'));
const { EnvelopeSchema, newEvpid, newMsgid } = await import(path.join(ROOT, 'packages/proto/dist/index.js'));
const SMTP_SOURCE = path.join(ROOT, '.peers/postfix/bin/smtp-source');

const { values: opt } = parseArgs({
  options: {
    count: { type: 'string', default: '1000000' },
    'per-message': { type: 'string', default: '4' },
    burst: { type: 'string', default: '100000' },
    sessions: { type: 'string', default: '20' },
    'no-load': { type: 'boolean', default: false },
    'no-burst': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const COUNT = Number(opt.count);
const PER_MSG = Number(opt['per-message']);
const BURST = Number(opt.burst);
const MB = (n) => (n / 2 ** 20).toFixed(1);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- spool --------------------------------------------------------------------------------

/**
 * `count` committed envelopes, `perMsg` per message, written with the queue's own storage code
 * (schema, codec): a mda action whose command fails, each envelope past 25 tries so its next
 * attempt is ~45 min away. Every envelope is checked against EnvelopeSchema before it is stored.
 */
function buildSpool(spool, count, perMsg) {
  const t0 = performance.now();
  const b = new SqliteQueueBackend(spool);
  const now = Math.floor(Date.now() / 1000);
  const body = Buffer.from('Subject: queue-scale\r\nFrom: <a@client.test>\r\n\r\nbody\r\n');
  let made = 0;
  const used = new Set(); // msgids are 32 random bits: 250k of them collide now and then
  while (made < count) {
    b.batch(() => {
      for (let m = 0; m < 2000 && made < count; m++) {
        let msgid = newMsgid();
        while (used.has(msgid)) msgid = newMsgid();
        used.add(msgid);
        const envs = [];
        for (let i = 0; i < perMsg && made < count; i++, made++) {
          envs.push(EnvelopeSchema.parse({
            id: newEvpid(msgid), msgid, type: 'mda', dispatcher: 'fail', smtpname: 'mx.scale.test',
            helo: 'client.test', hostname: '', sockaddr: '127.0.0.1', sender: 'a@client.test',
            rcpt: `u${made}@localhost`, dest: `u${made}@localhost`, mdaUser: 'root', ctime: now - 3600,
            lastTry: now - 60, lastBounce: 0, ttl: 7 * 86400, retry: 25, flags: [], dsnNotify: 0,
          }));
        }
        b.chunkAppend(msgid, 0, now - 3600, body);
        b.messageCommit(msgid, now - 3600, body.byteLength, 1, envs);
      }
    }, false);
  }
  b.close();
  const dbBytes = statSync(path.join(spool, 'queue.db')).size;
  return { ms: performance.now() - t0, dbBytes };
}

// ---- daemon -------------------------------------------------------------------------------

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function writeConf(dir, port, command) {
  const file = path.join(dir, 'smtpd.conf');
  writeFileSync(file, [`listen on 127.0.0.1 port ${port}`, `action "fail" mda "${command}"`, 'match from any for local action "fail"', ''].join('\n'));
  return file;
}

/** Starts the daemon with the inspector on loopback; log lines are kept (and written to a file). */
async function startDaemon(dir, spool, conf, port) {
  const t0 = performance.now();
  const child = spawn(process.execPath, ['--inspect=127.0.0.1:0', path.join(ROOT, 'packages/smtpd/bin/smtpd.js'), '-d', '-f', conf, '--spool', spool], { stdio: ['ignore', 'ignore', 'pipe'] });
  const lines = [];
  let buf = '';
  child.stderr.on('data', (d) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const l of parts) lines.push({ at: performance.now() - t0, line: l });
  });
  const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
  const d = { child, pid: child.pid, t0, port, lines, exited, dir };
  const ws = await waitLine(d, /Debugger listening on (ws:\S+)/, 30_000);
  d.inspector = await Cdp.connect(ws.match[1]);
  return d;
}

async function waitLine(d, re, ms) {
  const end = Date.now() + ms;
  for (;;) {
    for (const l of d.lines) {
      const match = re.exec(l.line);
      if (match) return { ...l, match };
    }
    if (Date.now() > end) throw new Error(`no log line ${re} in ${ms} ms`);
    await sleep(20);
  }
}

/** Time from spawn until the SMTP banner (220) is read, polling the port. */
async function waitBanner(d, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const got = await new Promise((resolve) => {
      const s = net.connect(d.port, '127.0.0.1');
      s.setTimeout(2000, () => s.destroy());
      s.once('data', (b) => {
        s.end('QUIT\r\n');
        resolve(b.toString().startsWith('220'));
      });
      s.once('error', () => resolve(false));
      s.once('close', () => resolve(false));
    });
    if (got) return performance.now() - d.t0;
    await sleep(20);
  }
  throw new Error('no banner');
}

/** One message over SMTP; resolves the time from spawn at which DATA got its 250. */
function sendOne(d) {
  const steps = ['EHLO client.test', 'MAIL FROM:<a@client.test>', 'RCPT TO:<root@localhost>', 'DATA', 'Subject: during load\r\n\r\nhello\r\n.', 'QUIT'];
  return new Promise((resolve, reject) => {
    const s = net.connect(d.port, '127.0.0.1');
    let i = 0;
    let at = null;
    let acc = '';
    s.setTimeout(60_000, () => s.destroy(new Error('timeout')));
    s.on('data', (b) => {
      acc += b.toString();
      for (let nl = acc.indexOf('\r\n'); nl >= 0; nl = acc.indexOf('\r\n')) {
        const line = acc.slice(0, nl);
        acc = acc.slice(nl + 2);
        if (line[3] === '-') continue;
        if (i === 5 && line.startsWith('250')) at = performance.now() - d.t0;
        if (!/^[23]/.test(line)) return s.destroy(new Error(`refused: ${line}`));
        if (i < steps.length) s.write(steps[i++] + '\r\n');
      }
    });
    s.on('error', reject);
    s.on('close', () => (at === null ? reject(new Error('no 250 for DATA')) : resolve(at)));
  });
}

/** SIGTERM by PID, wait (bounded), SIGKILL if need be; resolves the time it took. */
async function stopDaemon(d) {
  const t = performance.now();
  d.inspector?.close();
  process.kill(d.pid, 'SIGTERM');
  const r = await Promise.race([d.exited, sleep(120_000).then(() => null)]);
  if (r === null) {
    process.kill(d.pid, 'SIGKILL');
    await d.exited;
  }
  return performance.now() - t;
}

function procMem(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

// ---- inspector (Chrome DevTools Protocol over the inspector's WebSocket) ------------------

class Cdp {
  static connect(url) {
    return new Promise((resolve, reject) => {
      const c = new Cdp(new WebSocket(url));
      c.ws.onopen = async () => {
        await c.call('NodeWorker.enable', { waitForDebuggerOnStart: false });
        resolve(c);
      };
      c.ws.onerror = () => reject(new Error('inspector connection failed'));
    });
  }

  constructor(ws) {
    this.ws = ws;
    this.id = 0;
    this.pending = new Map();
    /** worker title (its role) -> inspector session */
    this.workers = new Map();
    ws.onmessage = (ev) => this.onMessage(JSON.parse(ev.data));
  }

  onMessage(m) {
    if (m.method === 'NodeWorker.attachedToWorker') {
      this.workers.set(m.params.workerInfo.title.replace(/^\[worker \d+\] /, ''), m.params.sessionId);
    } else if (m.method === 'NodeWorker.receivedMessageFromWorker') {
      this.onMessage(JSON.parse(m.params.message));
    } else if (m.id !== undefined && this.pending.has(m.id)) {
      this.pending.get(m.id)(m.result ?? {});
      this.pending.delete(m.id);
    }
  }

  call(method, params = {}, session = null) {
    const id = ++this.id;
    const msg = JSON.stringify({ id, method, params });
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      if (session === null) this.ws.send(msg);
      else this.ws.send(JSON.stringify({ id: ++this.id, method: 'NodeWorker.sendMessageToWorker', params: { sessionId: session, message: msg } }));
    });
  }

  /** Heap in use per thread ('main' and each actor), after a full GC when `gc`. */
  async heaps(gc) {
    const out = {};
    for (const [name, session] of [['main', null], ...this.workers]) {
      if (gc) await this.call('HeapProfiler.collectGarbage', {}, session);
      out[name] = (await this.call('Runtime.getHeapUsage', {}, session)).usedSize ?? 0;
    }
    return out;
  }

  close() {
    this.ws.close();
  }
}

// ---- runs ---------------------------------------------------------------------------------

function newDir(name) {
  return mkdtempSync(path.join(tmpdir(), `tsmtpd-scale-${name}-`));
}

async function baseline() {
  const dir = newDir('empty');
  const port = await freePort();
  const d = await startDaemon(dir, path.join(dir, 'spool'), writeConf(dir, port, 'cat >/dev/null; exit 75'), port);
  try {
    const bannerMs = await waitBanner(d, 60_000);
    await waitLine(d, /queue loaded/, 60_000);
    return { bannerMs, heaps: await d.inspector.heaps(true), mem: procMem(d.pid) };
  } finally {
    await stopDaemon(d);
    if (!opt.keep) rmSync(dir, { recursive: true, force: true });
  }
}

async function loadRun(base) {
  const dir = newDir('load');
  const spool = path.join(dir, 'spool');
  process.stderr.write(`building a spool of ${COUNT} envelopes in ${dir} ...\n`);
  const built = buildSpool(spool, COUNT, PER_MSG);
  process.stderr.write(`built in ${(built.ms / 1000).toFixed(1)} s (${MB(built.dbBytes)} MB); starting the daemon\n`);
  if (opt.keep) spawnSync('cp', ['-a', spool, `${spool}.orig`]); // a copy before the daemon touches it
  // A restart finds its spool on disk, not in the middle of writeback: the daemon's first fsync
  // would otherwise wait for the whole freshly written file.
  const syncT = performance.now();
  spawnSync('sync');
  built.syncMs = performance.now() - syncT;
  const port = await freePort();
  const d = await startDaemon(dir, spool, writeConf(dir, port, 'cat >/dev/null; exit 75'), port);
  try {
    const bannerMs = await waitBanner(d, 120_000);
    const acceptedMs = await sendOne(d);
    const loadedBeforeAccept = d.lines.some((l) => /queue loaded/.test(l.line) && l.at < acceptedMs);
    const loaded = await waitLine(d, /queue loaded .*envelopes=(\d+).*durationMs=(\d+)/, 30 * 60_000);
    await sleep(1000); // the last load batches reach the scheduler
    const heaps = await d.inspector.heaps(true);
    const mem = procMem(d.pid);
    const stopMs = await stopDaemon(d);
    const sched = heaps.scheduler - base.heaps.scheduler;
    return {
      built, bannerMs, acceptedMs, loadedBeforeAccept, loadedAtMs: loaded.at, loadedCount: Number(loaded.match[1]),
      loadDurationMs: Number(loaded.match[2]), heaps, mem, stopMs, schedPerEnvelope: sched / COUNT,
    };
  } finally {
    if (d.child.exitCode === null && d.child.signalCode === null) await stopDaemon(d);
    if (!opt.keep) rmSync(dir, { recursive: true, force: true });
  }
}

async function burstRun() {
  const dir = newDir('burst');
  const port = await freePort();
  // Slow but successful: one second per delivery, one user (mda max-session-per-user: 7 at a time).
  const d = await startDaemon(dir, path.join(dir, 'spool'), writeConf(dir, port, 'cat >/dev/null; sleep 1'), port);
  const samples = [];
  try {
    await waitBanner(d, 60_000);
    const t0 = performance.now();
    const src = spawn(SMTP_SOURCE, ['-s', opt.sessions, '-l', '1024', '-m', String(BURST), '-M', 'client.test', '-f', 'a@client.test', '-t', 'root@localhost', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let srcErr = '';
    src.stderr.on('data', (b) => (srcErr = (srcErr + b).slice(-4000)));
    const done = new Promise((r) => src.on('exit', (code) => r(code)));
    const killer = setTimeout(() => src.kill('SIGKILL'), 30 * 60_000);
    let code;
    while ((code = await Promise.race([done, sleep(3000).then(() => undefined)])) === undefined) {
      samples.push({ s: (performance.now() - t0) / 1000, heaps: await d.inspector.heaps(false), mem: procMem(d.pid) });
    }
    clearTimeout(killer);
    const sourceS = (performance.now() - t0) / 1000;
    const end = { heaps: await d.inspector.heaps(true), mem: procMem(d.pid) };
    const delivered = d.lines.filter((l) => /result=Ok/.test(l.line)).length;
    await stopDaemon(d);
    return { code, srcErr, sourceS, samples, end, delivered };
  } finally {
    if (d.child.exitCode === null && d.child.signalCode === null) await stopDaemon(d);
    if (!opt.keep) rmSync(dir, { recursive: true, force: true });
  }
}

// ---- report -------------------------------------------------------------------------------

function table(rows) {
  const w = [0, 1].map((i) => Math.max(...rows.map((r) => String(r[i]).length)));
  for (const [k, v] of rows) console.log(`  ${String(k).padEnd(w[0])}  ${String(v).padStart(w[1])}`);
}

const peak = (samples, f) => samples.reduce((m, s) => Math.max(m, f(s)), 0);

async function main() {
  const base = await baseline();
  console.log('\nempty spool (baseline)');
  table([
    ['banner after start', `${base.bannerMs.toFixed(0)} ms`],
    ['RSS', `${MB(base.mem.rss)} MB`],
    ...Object.entries(base.heaps).map(([k, v]) => [`heap ${k}`, `${MB(v)} MB`]),
  ]);
  if (!opt['no-load']) {
    const r = await loadRun(base);
    console.log(`\nrestart with ${r.loadedCount} stored envelopes (${PER_MSG} per message)`);
    table([
      ['spool built (then sync)', `${(r.built.ms / 1000).toFixed(1)} s (${(r.built.syncMs / 1000).toFixed(1)} s), ${MB(r.built.dbBytes)} MB`],
      ['banner after start', `${r.bannerMs.toFixed(0)} ms`],
      ['first message accepted (250) after start', `${r.acceptedMs.toFixed(0)} ms${r.loadedBeforeAccept ? ' (load already done)' : ' (while loading)'}`],
      ['load done after start (log)', `${(r.loadedAtMs / 1000).toFixed(1)} s`],
      ['load duration (durationMs in the log)', `${(r.loadDurationMs / 1000).toFixed(1)} s`],
      ['load rate', `${Math.round(r.loadedCount / (r.loadDurationMs / 1000))} envelopes/s`],
      ['RSS after load / peak', `${MB(r.mem.rss)} / ${MB(r.mem.hwm)} MB`],
      ['scheduler heap after load (after GC)', `${MB(r.heaps.scheduler)} MB`],
      ['scheduler bytes per envelope (minus empty)', `${r.schedPerEnvelope.toFixed(0)} B`],
      ['queue heap after load (after GC)', `${MB(r.heaps.queue)} MB`],
      ['stop (SIGTERM to exit)', `${(r.stopMs / 1000).toFixed(1)} s`],
    ]);
  }
  if (!opt['no-burst']) {
    const r = await burstRun();
    console.log(`\nburst: ${BURST} messages by smtp-source -s ${opt.sessions} -l 1024 (a connection per message), delivery 1 s each (one recipient: mda max-session-per-user 7)`);
    if (r.code !== 0) console.log(`  smtp-source exit ${r.code}: ${r.srcErr.trim().split('\n').slice(-2).join(' | ')}`);
    const roles = ['scheduler', 'queue', 'smtp', 'mda'];
    table([
      ['injection time', `${r.sourceS.toFixed(1)} s (${Math.round(BURST / r.sourceS)} msg/s accepted)`],
      ['delivered during the burst', `${r.delivered}`],
      ['peak RSS during burst', `${MB(peak(r.samples, (s) => s.mem.rss))} MB (VmHWM ${MB(r.end.mem.hwm)} MB)`],
      ...roles.map((k) => [`peak heap ${k} during burst (no GC)`, `${MB(peak(r.samples, (s) => s.heaps[k] ?? 0))} MB`]),
      ...roles.map((k) => [`heap ${k} after burst (after GC)`, `${MB(r.end.heaps[k] ?? 0)} MB`]),
      ['scheduler bytes per queued envelope after burst', `${(((r.end.heaps.scheduler ?? 0) - base.heaps.scheduler) / BURST).toFixed(0)} B`],
    ]);
  }
}

await main();
