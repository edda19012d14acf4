// A session held open across an event (a reload): Python's smtplib driven in batches by
// py/smtp_held.py, each batch's replies read back as JSON. The child is ended by its PID.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { pyDir, python3 } from './paths.js';
import type { SmtpReply, SmtpStep } from './python.js';
import { killQuietly } from './proc.js';

export class HeldSession {
  private lines: string[] = [];
  private wake: (() => void) | null = null;
  private err = '';

  private constructor(private readonly child: ChildProcess) {
    let buf = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        this.lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
      this.wake?.();
    });
    child.stderr?.on('data', (d: Buffer) => (this.err += d.toString()));
    child.on('exit', () => this.wake?.());
  }

  /** Connect; resolves with the banner reply. */
  static async open(host: string, port: number, timeoutS = 30): Promise<{ session: HeldSession; banner: SmtpReply }> {
    const child = spawn(python3, [path.join(pyDir, 'smtp_held.py'), host, String(port), String(timeoutS)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const s = new HeldSession(child);
    const first = (await s.next(timeoutS * 1000)) as { banner: SmtpReply };
    return { session: s, banner: first.banner };
  }

  private async next(timeoutMs: number): Promise<unknown> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (Date.now() > deadline || this.child.exitCode !== null) throw new Error(`smtp_held.py: no answer; stderr: ${this.err.slice(-2000)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 100);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return JSON.parse(this.lines.shift()!);
  }

  /** Run these steps now; their replies. */
  async run(steps: SmtpStep[], timeoutMs = 30_000): Promise<SmtpReply[]> {
    this.child.stdin?.write(JSON.stringify(steps) + '\n');
    return ((await this.next(timeoutMs)) as { replies: SmtpReply[] }).replies;
  }

  /** QUIT (end of input), then make sure the process is gone. */
  async close(): Promise<void> {
    this.child.stdin?.end();
    const gone = new Promise<void>((resolve) => (this.child.exitCode !== null ? resolve() : this.child.once('exit', () => resolve())));
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    if (this.child.pid !== undefined && this.child.exitCode === null) killQuietly(this.child.pid, 'SIGKILL');
  }
}
