// Focused CPU benchmark of the per-uid delivery helper (root only): N maildir deliveries of a
// SIZE-byte message through packages/mda's HelperPool, C at a time, to a user's maildir; prints
// CPU ms per delivery of the helper process (utime+stime from /proc) and of this process.
//   node scripts/bench/helper-cpu.mjs [--user tsmtpd-bench] [-n 2000] [-c 10] [--size 1024]
import { mkdtempSync, readFileSync, rmSync, chmodSync, chownSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
const { HelperPool } = await import(process.env.POOL ?? '../../packages/mda/dist/helper/pool.js');
import { createLogger } from '../../packages/actor/dist/index.js';

const { values: o } = parseArgs({ options: { user: { type: 'string', default: 'tsmtpd-bench' }, n: { type: 'string', short: 'n', default: '2000' }, c: { type: 'string', short: 'c', default: '10' }, size: { type: 'string', default: '1024' } } });
const [, , uid, gid] = execFileSync('getent', ['passwd', o.user], { encoding: 'utf8' }).trim().split(':').map((x, i) => (i === 2 || i === 3 ? Number(x) : x));
const n = Number(o.n), conc = Number(o.c), size = Number(o.size);
const dir = mkdtempSync(join(tmpdir(), 'tsmtpd-helper-bench-'));
chmodSync(dir, 0o755);
chownSync(dir, uid, gid);
const body = Buffer.alloc(size, 'x\n');
const prefix = Buffer.from('Return-Path: <a@b>\nDelivered-To: c@d\n');
const log = createLogger('mda', { quiet: true });
const pool = new HelperPool(log);
const tick = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
const cpuOf = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return [(Number(f[11]) * 1000) / tick, (Number(f[12]) * 1000) / tick];
};
let seq = 0;
async function one(i) {
  const r = await pool.open(uid, gid, { kind: 'maildir', root: join(dir, 'Maildir'), junk: false, extension: null, hostname: 'h', envelope: { ctime: 1, id: (0x10000000 + i).toString(16).padStart(16, '0') } });
  if (!r.ok) throw new Error(r.outcome.errorline);
  await r.sink.write(prefix);
  await r.sink.write(body);
  const out = await r.sink.end();
  if (out.status !== 'ok') throw new Error(out.errorline);
}
async function run(count) {
  const workers = [];
  for (let w = 0; w < conc; w++) workers.push((async () => { while (seq < count) await one(seq++); })());
  await Promise.all(workers);
}
await run(50); // warm-up, starts the helper
const [pid] = pool.pids();
const h0 = cpuOf(pid), s0 = process.cpuUsage(), t0 = Date.now();
seq = 0;
const base = 100000;
const count = n;
{
  const workers = [];
  let k = 0;
  for (let w = 0; w < conc; w++) workers.push((async () => { while (k < count) await one(base + k++); })());
  await Promise.all(workers);
}
const ms = Date.now() - t0, h1 = cpuOf(pid), s1 = process.cpuUsage(s0);
const files = readdirSync(join(dir, 'Maildir', 'new')).length;
console.log(JSON.stringify({ n: count, conc, size, files, wallMs: ms, helperCpuMsPerMsg: +((h1[0] + h1[1] - h0[0] - h0[1]) / count).toFixed(3), helperUser: +((h1[0] - h0[0]) / count).toFixed(3), helperSys: +((h1[1] - h0[1]) / count).toFixed(3), callerCpuMsPerMsg: +((s1.user + s1.system) / 1000 / count).toFixed(3) }));
await pool.close();
rmSync(dir, { recursive: true, force: true });
