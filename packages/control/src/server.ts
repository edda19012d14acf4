// The control socket <spool>/smtpd.sock: one JSON request per line (MAX_REQUEST_BYTES at most),
// one JSON reply per request, in order (control-wire.ts). Everything a client sends is hostile
// until parsed: bounded buffers, one request at a time per connection (reading pauses while it
// is served), an idle timeout, a deadline for a started request, caps on clients (unprivileged
// ones in a pool of their own), and a closed connection after any malformed or refused request.
// Administrative commands need uid 0 or the daemon's own uid, read from the kernel (peercred.ts).
import { chmod, unlink } from 'node:fs/promises';
import net from 'node:net';
import { CONTROL_VERSION, ControlRequestSchema, MAX_REQUEST_BYTES, type ControlReply, type ControlRequest } from '@tsmtpd/proto';
import { peerCred } from './peercred.js';

export interface ServerOptions {
  path: string;
  handle(req: ControlRequest): Promise<ControlReply>;
  log: { info(e: string, f?: Record<string, unknown>): void; warn(e: string, f?: Record<string, unknown>): void };
  maxClients?: number;
  idleMs?: number;
  requestMs?: number;
  /** How long a started request line may take to arrive whole, ms. */
  readMs?: number;
}

/** Unprivileged clients served at once (they only ever get "permission denied"). */
const MAX_GUESTS = 8;

const fail = (code: Extract<ControlReply, { ok: false }>['code'], error: string): ControlReply => ({ ok: false, code, error });

export class ControlServer {
  private server: net.Server | null = null;
  private readonly clients = new Set<net.Socket>();
  private readonly guests = new Set<net.Socket>();
  private readonly ownUid = process.getuid?.() ?? -1;

  constructor(private readonly o: ServerOptions) {}

  async listen(): Promise<void> {
    if (await alive(this.o.path)) throw new Error(`${this.o.path} is in use by a running smtpd`);
    await unlink(this.o.path).catch(() => undefined);
    const server = net.createServer((sock) => this.accept(sock));
    server.on('error', (e) => this.o.log.warn('control socket error', { error: e.message }));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path: this.o.path, backlog: 64 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // Anyone may connect (and be told "permission denied"): the check is the peer's uid.
    await chmod(this.o.path, 0o666);
    this.server = server;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    for (const c of [...this.clients, ...this.guests]) c.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    await unlink(this.o.path).catch(() => undefined);
  }

  private accept(sock: net.Socket): void {
    sock.on('error', () => sock.destroy());
    const cred = peerCred(sock);
    const admin = cred !== null && (cred.uid === 0 || cred.uid === this.ownUid);
    // Unprivileged clients have their own, small pool: they cannot crowd out the postmaster.
    const pool = admin ? this.clients : this.guests;
    if (pool.size >= (admin ? this.o.maxClients ?? 32 : MAX_GUESTS)) {
      sock.end(JSON.stringify(fail('busy', 'too many control clients')) + '\n');
      setTimeout(() => sock.destroy(), 1000).unref();
      return;
    }
    pool.add(sock);
    sock.setTimeout(this.o.idleMs ?? 30_000, () => sock.destroy());
    let buf: Buffer = Buffer.alloc(0);
    let busy = false;
    // A request trickled a byte at a time must still arrive whole within readMs.
    let partial: NodeJS.Timeout | null = null;
    const watchPartial = () => {
      if (buf.byteLength === 0 && partial) {
        clearTimeout(partial);
        partial = null;
      } else if (buf.byteLength > 0 && !partial) {
        partial = setTimeout(() => this.refuse(sock, fail('timeout', 'request not finished in time')), this.o.readMs ?? 10_000);
        partial.unref();
      }
    };
    sock.on('close', () => {
      pool.delete(sock);
      if (partial) clearTimeout(partial);
    });
    const pump = (): void => {
      while (!busy) {
        const nl = buf.indexOf(0x0a);
        if (nl < 0 || nl > MAX_REQUEST_BYTES) {
          if (nl > MAX_REQUEST_BYTES || buf.byteLength > MAX_REQUEST_BYTES) this.refuse(sock, fail('too-long', `request longer than ${MAX_REQUEST_BYTES} bytes`));
          else watchPartial();
          return;
        }
        const line = buf.subarray(0, nl).toString('utf8');
        buf = buf.subarray(nl + 1);
        watchPartial();
        busy = true;
        sock.pause();
        void this.serve(line, admin, cred?.uid ?? null).then((r) => {
          if (sock.destroyed) return;
          if (!admin || (!r.ok && (r.code === 'invalid' || r.code === 'version'))) return this.refuse(sock, r);
          sock.write(JSON.stringify(r) + '\n', () => {
            busy = false;
            sock.resume();
            pump();
          });
        });
      }
    };
    sock.on('data', (d: Buffer) => {
      buf = buf.byteLength === 0 ? d : Buffer.concat([buf, d]);
      pump();
    });
  }

  /** Answer with an error and close: the client spoke out of protocol. */
  private refuse(sock: net.Socket, r: ControlReply): void {
    sock.end(JSON.stringify(r) + '\n');
    setTimeout(() => sock.destroy(), 1000).unref();
  }

  private async serve(line: string, admin: boolean, uid: number | null): Promise<ControlReply> {
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      return fail('invalid', 'request is not JSON');
    }
    if (typeof raw !== 'object' || raw === null || (raw as { v?: unknown }).v !== CONTROL_VERSION) {
      return fail('version', 'incompatible smtpctl and smtpd');
    }
    const req = ControlRequestSchema.safeParse(raw);
    if (!req.success) return fail('invalid', 'invalid request');
    if (!admin) {
      this.o.log.info('control request refused', { cmd: req.data.cmd, uid: uid ?? 'unknown' });
      return fail('denied', 'permission denied');
    }
    const ms = this.o.requestMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.o.handle(req.data),
        new Promise<ControlReply>((resolve) => (timer = setTimeout(() => resolve(fail('timeout', 'the daemon did not answer in time')), ms))),
      ]);
    } catch (e) {
      return fail('failed', e instanceof Error ? e.message : String(e));
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Whether a smtpd answers on the socket path (a stale file is safe to replace). */
export function alive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(path);
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}
