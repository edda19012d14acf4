// End-to-end: a spool database the daemon must not use makes it refuse to start, exit status 1,
// with a line naming the file and the problem, and leaves the file as it was (never a silent
// reset): not SQLite, another application's SQLite database (made by Python's sqlite3), a
// truncated queue, a queue of a newer schema.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDaemon } from './lib/daemon.js';
import { localMaildirConfig } from './lib/conf.js';
import { python3 } from './lib/paths.js';
import { describeRun, run } from './lib/proc.js';
import { showOutcome, startExpectingExit } from './lib/refusal.js';
import { makeTestDir, removeTestDir } from './lib/tmp.js';

const dir = makeTestDir('spool-refused');
const conf = path.join(dir, 'smtpd.conf');
after(() => removeTestDir(dir));

/** A spool holding `queue.db` as `make` leaves it; returns the spool and the database path. */
function spoolWith(name: string, make: (db: string) => void): { spool: string; db: string } {
  const spool = path.join(dir, name);
  mkdirSync(spool, { recursive: true });
  const db = path.join(spool, 'queue.db');
  make(db);
  return { spool, db };
}

async function python(code: string, ...args: string[]): Promise<void> {
  const r = await run(python3, ['-c', code, ...args], { timeoutMs: 20_000 });
  assert.equal(r.code, 0, describeRun('python3', r));
}

/** The daemon refuses `spool`: status 1, `db: <why>` in its output, the file unchanged. */
async function assertRefused(spool: string, db: string, why: RegExp): Promise<void> {
  const before = readFileSync(db);
  const r = await startExpectingExit({ conf, spool });
  assert.equal(r.started, false, showOutcome(r));
  assert.equal(r.code, 1, showOutcome(r));
  const escaped = db.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  assert.match(r.output, new RegExp(`${escaped}: ${why.source}`), showOutcome(r));
  assert.ok(readFileSync(db).equals(before), 'the refused database was modified');
}

describe('a spool database that is not ours, or not whole', () => {
  let good = '';
  before(async () => {
    writeFileSync(conf, localMaildirConfig({ port: 1, dir }));
    // A real queue.db, written by the daemon itself: start it, then stop it.
    const gdir = path.join(dir, 'good');
    mkdirSync(gdir);
    const d = await startDaemon({ dir: gdir, config: (ctx) => localMaildirConfig(ctx) });
    assert.equal((await d.stop()).code, 0, d.describe());
    good = path.join(d.spool, 'queue.db');
  });

  test('a file that is not SQLite', async () => {
    const s = spoolWith('text', (db) => writeFileSync(db, 'mail queue? no, a note that happens to be here\n'.repeat(50)));
    await assertRefused(s.spool, s.db, /not an SQLite database/);
  });

  test("another application's SQLite database, by its tables or by its application_id", async () => {
    const a = spoolWith('foreign-tables', () => {});
    await python('import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\nc.execute("create table moz_places (id integer primary key, url text)")\nc.commit()', a.db);
    await assertRefused(a.spool, a.db, /not a tsmtpd queue \(an SQLite database with tables: moz_places\)/);
    const b = spoolWith('foreign-appid', () => {});
    await python('import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\nc.execute("pragma application_id = 1196444487")\nc.execute("create table message (x)")\nc.commit()', b.db);
    await assertRefused(b.spool, b.db, /not a tsmtpd queue \(SQLite application_id 0x47504b47\)/);
  });

  test('a truncated queue', async () => {
    const s = spoolWith('truncated', (db) => {
      writeFileSync(db, readFileSync(good));
      truncateSync(db, Math.min(3 * 4096, statSync(db).size - 4096));
    });
    await assertRefused(s.spool, s.db, /damaged/);
  });

  test('a queue of a newer schema', async () => {
    const s = spoolWith('newer', (db) => writeFileSync(db, readFileSync(good)));
    await python('import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\nc.execute("pragma user_version = 99")\nc.commit()', s.db);
    await assertRefused(s.spool, s.db, /schema version 99 is newer than this tsmtpd's/);
  });

  test('an untouched copy of the same queue starts (the refusals are about the files, not the setup)', async () => {
    const s = spoolWith('copy', (db) => writeFileSync(db, readFileSync(good)));
    const runDir = path.join(dir, 'copy-run');
    mkdirSync(runDir);
    const d = await startDaemon({ dir: runDir, spool: s.spool, config: (ctx) => localMaildirConfig(ctx) });
    assert.equal((await d.stop()).code, 0, d.describe());
  });
});
