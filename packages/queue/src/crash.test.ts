// Crash safety (DESIGN 4): a process committing in a loop is SIGKILLed at a random moment;
// every commit it was told about is present after reopening, byte-exact, and messages it left
// open are purged. Three kills on one spool.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SqliteQueueBackend } from './sqlite-backend.js';
import { bytes, concat, tempSpool } from './test-helpers.js';

const child = fileURLToPath(new URL('./crash-child.js', import.meta.url));

interface Reported {
  commits: { msgid: string; evpid: string; size: number; seed: number }[];
  open: string[];
}

/** Run the child until it reported `target` commits (or 3 s passed), then SIGKILL it. */
function runAndKill(spool: string, target: number): Promise<Reported> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, spool], { stdio: ['ignore', 'pipe', 'inherit'] });
    const rep: Reported = { commits: [], open: [] };
    let buf = '';
    let killTimer: NodeJS.Timeout | null = null;
    const kill = (): void => {
      if (p.exitCode === null && p.signalCode === null && p.pid !== undefined) process.kill(p.pid, 'SIGKILL');
    };
    const guard = setTimeout(kill, 8000);
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const [kind, msgid = '', evpid = '', size = '0', seed = '0'] = buf.slice(0, nl).split(' ');
        buf = buf.slice(nl + 1);
        if (kind === 'ready') killTimer = setTimeout(kill, 3000);
        if (kind === 'commit') rep.commits.push({ msgid, evpid, size: Number(size), seed: Number(seed) });
        if (kind === 'open') rep.open.push(msgid);
        // Kill at a moment that is not a line boundary of ours: a little after the target.
        if (rep.commits.length === target) setTimeout(kill, Math.floor(Math.random() * 20));
      }
    });
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      clearTimeout(guard);
      if (killTimer) clearTimeout(killTimer);
      if (signal !== 'SIGKILL') reject(new Error(`child exited by itself: code=${code} signal=${signal}`));
      else resolve(rep);
    });
  });
}

test('SIGKILL while committing loses no acknowledged message', { timeout: 30_000 }, async (t) => {
  const sp = tempSpool();
  const all: Reported['commits'] = [];
  try {
    for (let round = 0; round < 3; round++) {
      const rep = await runAndKill(sp.spool, 120 + round * 40);
      assert.ok(rep.commits.length > 20, `round ${round}: only ${rep.commits.length} commits before the kill`);
      all.push(...rep.commits);
      const b = new SqliteQueueBackend(sp.spool);
      try {
        assert.equal(b.db.pragma('integrity_check', { simple: true }), 'ok');
        b.purgeIncoming();
        for (const c of all) {
          assert.equal(b.envelopeLoad(c.evpid)?.msgid, c.msgid, `round ${round}: ${c.msgid} lost`);
          const parts: Uint8Array[] = [];
          for (let from: number | null = 0, i = 0; from !== null && i < 100; i++) {
            const page = b.bodyRead(c.msgid, from, 1 << 20);
            assert.ok(page, `round ${round}: body of ${c.msgid} lost`);
            parts.push(...page.chunks);
            from = page.next;
          }
          assert.ok(Buffer.from(concat(parts)).equals(Buffer.from(bytes(c.size, c.seed))), `body of ${c.msgid} differs`);
        }
        for (const msgid of rep.open) assert.equal(b.messageExists(msgid), false, `open ${msgid} survived the purge`);
        // Committed but killed before it was reported: at most one per loop (8) per round.
        const unreported = b.counts().envelopes - all.length;
        assert.ok(unreported >= 0 && unreported <= 8 * (round + 1), `${unreported} unreported commits`);
      } finally {
        b.close();
      }
      t.diagnostic(`round ${round}: ${rep.commits.length} acknowledged commits, ${rep.open.length} open, all present`);
    }
  } finally {
    sp.cleanup();
  }
});
