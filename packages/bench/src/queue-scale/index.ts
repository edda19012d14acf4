// `npm run bench -- --queue-scale [N]` (default 1,000,000): restart with N stored envelopes against
// the real daemon — time to the banner, to the first 250, to the first delivery of a stored
// envelope that is due, the load's duration (the log), RSS of all the daemon's processes and each
// worker's heap after a GC (inspector): scheduler bytes per envelope = its heap minus an empty
// daemon's, over N. Then a burst of M messages by smtp-source into a one-second delivery command,
// sampling RSS and heaps every 3 s. Temp dirs removed unless --keep; daemons stopped by PID.
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { smtpSourceBin } from '../load/smtp-source.js';
import { rssSampler, treeRss } from '../measure/proc.js';
import { mdTable } from '../table.js';
import { benchUser, freePort, makeSharedDir, makeTempDir, removeDir, sleep } from '../util.js';
import { countMaildir } from '../servers/types.js';
import { bannerAt, sendOne, startScaleDaemon, stopScaleDaemon, waitLine, writeConf, type ScaleDaemon } from './daemon.js';
import { buildSpool, type BuiltSpool } from './spool.js';

export interface QueueScaleOptions {
  count: number;
  burst: number;
  load: boolean;
  keep: boolean;
}

const MB = (n: number | undefined): string => (n === undefined ? '-' : (n / 2 ** 20).toFixed(1));
const FAIL = 'cat >/dev/null; exit 75';
const PER_MESSAGE = 4;
const DUE = 100;

async function withDaemon<T>(name: string, o: QueueScaleOptions, prepare: (dir: string) => void, failCommand: string, fn: (d: ScaleDaemon, dir: string) => Promise<T>): Promise<T> {
  const dir = makeTempDir(`scale-${name}`);
  makeSharedDir(path.join(dir, 'mail'));
  let d: ScaleDaemon | undefined;
  try {
    prepare(dir);
    const port = await freePort();
    d = await startScaleDaemon(writeConf(dir, port, failCommand), path.join(dir, 'spool'), port);
    return await fn(d, dir);
  } finally {
    if (d) await stopScaleDaemon(d);
    removeDir(dir, o.keep);
  }
}

interface Baseline {
  bannerMs: number;
  heaps: Record<string, number>;
  rss: number;
}

function baseline(o: QueueScaleOptions): Promise<Baseline> {
  return withDaemon('empty', o, () => {}, FAIL, async (d) => {
    const bannerMs = await bannerAt(d, 60_000);
    await waitLine(d, /queue loaded/, 60_000);
    await sleep(1000);
    return { bannerMs, heaps: await d.inspector!.heaps(true), rss: treeRss(d.pid) };
  });
}

interface LoadResult {
  built: BuiltSpool & { syncMs: number };
  bannerMs: number;
  acceptedMs: number;
  firstDeliveryMs: number | undefined;
  dueDelivered: number;
  loadedAtMs: number;
  loadedCount: number;
  loadDurationMs: number;
  heaps: Record<string, number>;
  rss: number;
  peakRss: number;
  stopMs: number;
}

function loadRun(o: QueueScaleOptions, user: string): Promise<LoadResult> {
  let built: (BuiltSpool & { syncMs: number }) | undefined;
  const prepare = (dir: string): void => {
    process.stderr.write(`bench: building a spool of ${o.count} envelopes in ${dir} ...\n`);
    const b = buildSpool(path.join(dir, 'spool'), o.count, PER_MESSAGE, DUE, user);
    // A restart finds its spool on disk, not in writeback: the daemon's first fsync would wait for it.
    const t = performance.now();
    spawnSync('sync');
    built = { ...b, syncMs: performance.now() - t };
    process.stderr.write(`bench: built in ${(b.ms / 1000).toFixed(1)} s (${MB(b.dbBytes)} MB); starting the daemon\n`);
  };
  return withDaemon('load', o, prepare, FAIL, async (d, dir) => {
    const rss = rssSampler(d.pid);
    const maildir = path.join(dir, 'mail', user, 'Maildir');
    let firstDeliveryMs: number | undefined;
    const watch = (async () => {
      for (let i = 0; i < 30 * 60 * 50 && firstDeliveryMs === undefined && d.child.exitCode === null; i++) {
        if (countMaildir(maildir) > 0) firstDeliveryMs = performance.now() - d.t0;
        else await sleep(20);
      }
    })();
    const bannerMs = await bannerAt(d, 120_000);
    const acceptedMs = await sendOne(d, `${user}@localhost`);
    const loaded = await waitLine(d, /queue loaded .*envelopes=(\d+).*durationMs=(\d+)/, 30 * 60_000);
    await sleep(1000); // the last load batches reach the scheduler
    for (let i = 0; i < 300 && firstDeliveryMs === undefined; i++) await sleep(100);
    firstDeliveryMs ??= -1;
    await watch;
    const heaps = await d.inspector!.heaps(true);
    const now = treeRss(d.pid);
    const peakRss = await rss.stop();
    const dueDelivered = countMaildir(maildir);
    const stopMs = await stopScaleDaemon(d);
    return {
      built: built!, bannerMs, acceptedMs, firstDeliveryMs: firstDeliveryMs < 0 ? undefined : firstDeliveryMs, dueDelivered,
      loadedAtMs: loaded.at, loadedCount: Number(loaded.match[1]), loadDurationMs: Number(loaded.match[2]), heaps, rss: now, peakRss, stopMs,
    };
  });
}

interface BurstResult {
  code: number | null;
  sourceS: number;
  peakRss: number;
  peakHeaps: Record<string, number>;
  endHeaps: Record<string, number>;
  delivered: number;
}

function burstRun(o: QueueScaleOptions, user: string): Promise<BurstResult> {
  // Slow but successful: one second per delivery to one user (mda max-session-per-user: 7 at a time).
  return withDaemon('burst', o, () => {}, 'cat >/dev/null; sleep 1', async (d) => {
    await bannerAt(d, 60_000);
    const t0 = performance.now();
    const src = spawn(smtpSourceBin, ['-s', '20', '-l', '1024', '-m', String(o.burst), '-M', 'client.test', '-f', 'a@client.test', '-t', `${user}@localhost`, `127.0.0.1:${d.port}`], { stdio: 'ignore' });
    const done = new Promise<number | null>((r) => src.once('exit', (code) => r(code)));
    const killer = setTimeout(() => src.kill('SIGKILL'), 30 * 60_000);
    const peakHeaps: Record<string, number> = {};
    let peakRss = 0;
    let code: number | null | undefined;
    while ((code = await Promise.race([done, sleep(3000).then(() => undefined)])) === undefined) {
      peakRss = Math.max(peakRss, treeRss(d.pid));
      for (const [k, v] of Object.entries(await d.inspector!.heaps(false))) peakHeaps[k] = Math.max(peakHeaps[k] ?? 0, v);
    }
    clearTimeout(killer);
    const sourceS = (performance.now() - t0) / 1000;
    const endHeaps = await d.inspector!.heaps(true);
    const delivered = d.lines.filter((l) => /result=Ok/.test(l.line)).length;
    return { code, sourceS, peakRss, peakHeaps, endHeaps, delivered };
  });
}

function kv(rows: [string, string][]): string {
  return mdTable(['measure', 'value'], rows);
}

function loadReport(r: LoadResult, base: Baseline, count: number): string {
  const sched = (r.heaps['scheduler'] ?? 0) - (base.heaps['scheduler'] ?? 0);
  return kv([
    ['spool built (then sync)', `${(r.built.ms / 1000).toFixed(1)} s (${(r.built.syncMs / 1000).toFixed(1)} s), ${MB(r.built.dbBytes)} MB`],
    ['banner after start', `${r.bannerMs.toFixed(0)} ms`],
    ['first message accepted (250) after start', `${r.acceptedMs.toFixed(0)} ms${r.loadedAtMs < r.acceptedMs ? ' (load already done)' : ' (while loading)'}`],
    [`first delivery of a stored envelope (${r.built.due} due now) after start`, r.firstDeliveryMs === undefined ? 'none in time' : `${(r.firstDeliveryMs / 1000).toFixed(2)} s`],
    ['stored due envelopes delivered by the end', String(r.dueDelivered)],
    ['load done after start (log)', `${(r.loadedAtMs / 1000).toFixed(1)} s`],
    ['load duration (durationMs in the log)', `${(r.loadDurationMs / 1000).toFixed(1)} s, ${Math.round(r.loadedCount / (r.loadDurationMs / 1000))} envelopes/s`],
    ['RSS of all the daemon\'s processes after load / peak', `${MB(r.rss)} / ${MB(r.peakRss)} MB (empty: ${MB(base.rss)} MB)`],
    ['scheduler heap after load (after GC)', `${MB(r.heaps['scheduler'])} MB (empty: ${MB(base.heaps['scheduler'])} MB)`],
    ['scheduler bytes per envelope (minus empty)', `${(sched / count).toFixed(0)} B`],
    ['queue heap after load (after GC)', `${MB(r.heaps['queue'])} MB`],
    ['RSS per envelope (minus empty)', `${((r.rss - base.rss) / count).toFixed(0)} B`],
    ['stop (SIGTERM to exit)', `${(r.stopMs / 1000).toFixed(1)} s`],
  ]);
}

function burstReport(r: BurstResult, base: Baseline, burst: number): string {
  const roles = ['scheduler', 'queue', 'smtp', 'mda'];
  return kv([
    ['injection time', `${r.sourceS.toFixed(1)} s (${Math.round(burst / r.sourceS)} msg/s accepted)${r.code === 0 ? '' : `, smtp-source exit ${r.code}`}`],
    ['delivered during the burst', `${r.delivered}`],
    ['peak RSS of all processes during burst', `${MB(r.peakRss)} MB`],
    ...roles.map((k): [string, string] => [`peak heap ${k} (no GC) / after burst (GC)`, `${MB(r.peakHeaps[k])} / ${MB(r.endHeaps[k])} MB`]),
    ['scheduler bytes per queued envelope after burst', `${(((r.endHeaps['scheduler'] ?? 0) - (base.heaps['scheduler'] ?? 0)) / burst).toFixed(0)} B`],
  ]);
}

export async function queueScaleMain(o: QueueScaleOptions): Promise<number> {
  if (typeof (globalThis as { WebSocket?: unknown }).WebSocket === 'undefined') {
    // Node 20 has a WebSocket client (for the inspector) only behind a flag: re-run with it.
    const r = spawnSync(process.execPath, ['--experimental-websocket', '--no-warnings', ...process.argv.slice(1)], { stdio: 'inherit' });
    return r.status ?? 1;
  }
  const user = benchUser();
  const base = await baseline(o);
  const out = [`queue scale, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`, '', 'empty spool (baseline)', '',
    kv([['banner after start', `${base.bannerMs.toFixed(0)} ms`], ['RSS of all processes', `${MB(base.rss)} MB`], ...Object.entries(base.heaps).map(([k, v]): [string, string] => [`heap ${k}`, `${MB(v)} MB`])])];
  process.stdout.write(out.join('\n') + '\n');
  if (o.load) {
    const r = await loadRun(o, user);
    process.stdout.write(`\nrestart with ${r.loadedCount} stored envelopes (${PER_MESSAGE} per message)\n\n${loadReport(r, base, o.count)}\n`);
  }
  if (o.burst > 0) {
    const r = await burstRun(o, user);
    process.stdout.write(`\nburst: ${o.burst} messages by smtp-source -s 20 -l 1024 (a connection per message), delivery 1 s each\n\n${burstReport(r, base, o.burst)}\n`);
  }
  return 0;
}
