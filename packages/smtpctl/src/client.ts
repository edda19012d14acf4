// smtpctl's side of the control socket: connect, send one request line, read one reply line
// (at most MAX_REPLY_BYTES), validate it. Connection refused or no socket: the daemon is not
// running (the caller says so, or reads the spool offline).
import net from 'node:net';
import { CONTROL_VERSION, ControlReplySchema, MAX_REPLY_BYTES, type ControlReply, type ControlRequest } from '@tsmtpd/proto';

type Body<T> = T extends unknown ? Omit<T, 'v'> : never;
export type RequestBody = Body<ControlRequest>;

export class NotRunning extends Error {}

export class ControlClient {
  private buf: Buffer = Buffer.alloc(0);
  private waiting: ((line: string | null) => void) | null = null;
  private closed = false;

  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      if (this.buf.byteLength > MAX_REPLY_BYTES) sock.destroy(new Error('reply too long'));
      this.deliver();
    });
    const end = () => {
      this.closed = true;
      this.deliver();
    };
    sock.on('close', end);
    sock.on('error', end);
  }

  /** Connect, or throw NotRunning when nothing listens on `path`. */
  static connect(path: string, timeoutMs = 5000): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(path);
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new NotRunning('timeout'));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.removeAllListeners('error');
        resolve(new ControlClient(sock));
      });
      sock.once('error', (e) => {
        clearTimeout(timer);
        reject(new NotRunning(e.message));
      });
    });
  }

  async request(body: RequestBody): Promise<ControlReply> {
    this.sock.write(JSON.stringify({ v: CONTROL_VERSION, ...body }) + '\n');
    const line = await new Promise<string | null>((resolve) => {
      this.waiting = resolve;
      this.deliver();
    });
    if (line === null) throw new Error('the daemon closed the connection');
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      throw new Error('bad reply from the daemon');
    }
    const r = ControlReplySchema.safeParse(raw);
    if (!r.success) throw new Error('bad reply from the daemon');
    return r.data;
  }

  close(): void {
    this.sock.destroy();
  }

  private deliver(): void {
    if (!this.waiting) return;
    const nl = this.buf.indexOf(0x0a);
    if (nl >= 0) {
      const line = this.buf.subarray(0, nl).toString('utf8');
      this.buf = this.buf.subarray(nl + 1);
      const w = this.waiting;
      this.waiting = null;
      w(line);
    } else if (this.closed) {
      const w = this.waiting;
      this.waiting = null;
      w(null);
    }
  }
}
