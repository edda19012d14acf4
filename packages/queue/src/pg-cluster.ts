// A throwaway PostgreSQL cluster for tests (never the machine's own): initdb and the server run
// as the `postgres` system user (the server refuses root) in a temporary directory chowned to it,
// listening on 127.0.0.1 on a free port and on a socket in that directory. Stopped by its PID.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

const BIN = '/usr/lib/postgresql/15/bin';
export const PG_USER = 'tsmtpd';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

function ids(user: string): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

export class PgCluster {
  private pid = 0;
  private dbs = 0;
  private constructor(readonly dir: string, readonly port: number, private readonly owner: { uid: number; gid: number }) {}

  get data(): string {
    return join(this.dir, 'data');
  }

  /** The connection URI of database `db` (created with createDb). */
  uri(db: string): string {
    return `postgresql://${PG_USER}@127.0.0.1:${this.port}/${db}`;
  }

  /** initdb and start; `port` reuses a port (a restart test). */
  static async start(port?: number): Promise<PgCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'tsmtpd-pg-'));
    const root = userInfo().uid === 0;
    const owner = root ? ids('postgres') : { uid: userInfo().uid, gid: userInfo().gid };
    if (root) chownSync(dir, owner.uid, owner.gid);
    const c = new PgCluster(dir, port ?? (await freePort()), owner);
    c.run(`${BIN}/initdb`, ['-D', c.data, '-U', PG_USER, '-A', 'trust', '--no-sync', '-E', 'UTF8', '--no-instructions']);
    c.serverStart();
    return c;
  }

  private run(cmd: string, args: string[]): string {
    const r = spawnSync(cmd, args, { uid: this.owner.uid, gid: this.owner.gid, encoding: 'utf8', cwd: this.dir, timeout: 60_000 });
    if (r.status !== 0) throw new Error(`${cmd} failed (${String(r.status)}): ${r.stderr || r.stdout}`);
    return r.stdout;
  }

  /** Start the server (again) on the same data and port; returns once it accepts connections. */
  serverStart(): void {
    const opts = `-p ${this.port} -c listen_addresses=127.0.0.1 -k ${this.dir} -c fsync=on -c synchronous_commit=on -c max_connections=60`;
    this.run(`${BIN}/pg_ctl`, ['-D', this.data, '-l', join(this.dir, 'server.log'), '-o', opts, '-w', '-t', '30', 'start']);
    this.pid = Number(readFileSync(join(this.data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  }

  /** A fresh database. */
  createDb(name = `q${++this.dbs}`): string {
    this.run(`${BIN}/psql`, ['-h', this.dir, '-p', String(this.port), '-U', PG_USER, '-d', 'postgres', '-qc', `CREATE DATABASE ${name}`]);
    return name;
  }

  /** SQL through psql (a test's look at the tables). */
  psql(db: string, sql: string): string {
    return this.run(`${BIN}/psql`, ['-h', this.dir, '-p', String(this.port), '-U', PG_USER, '-d', db, '-XAtqc', sql]);
  }

  /** Stop the server by its PID (fast shutdown) and wait until it is gone. */
  async serverStop(): Promise<void> {
    const pid = this.pid;
    if (!pid) return;
    this.pid = 0;
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      return;
    }
    for (let i = 0; i < 300; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    process.kill(pid, 'SIGKILL');
  }

  get running(): boolean {
    return this.pid !== 0 && existsSync(join(this.data, 'postmaster.pid'));
  }

  async destroy(): Promise<void> {
    await this.serverStop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
