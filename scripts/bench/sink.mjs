// The relay rows' receiver: Postfix's smtp-sink on a free loopback port, discarding what it gets
// (no -d, so the sink's own disk writes do not compete with the server under test) and counting
// with -c. Both tsmtpd and the private Postfix relay to the same sink; the bench reads its message
// counter to know what was *delivered*. Started and stopped (SIGTERM, then SIGKILL) by its PID.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../test/dist/lib/daemon.js';

const bin = fileURLToPath(new URL('../../.peers/postfix/bin/smtp-sink', import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function listening(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Established TCP connections whose local end is 127.0.0.1:port (/proc/net/tcp, Linux). */
function established(port) {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let text = '';
  try {
    text = readFileSync('/proc/net/tcp', 'latin1');
  } catch {
    return undefined;
  }
  let n = 0;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local && f[3] === '01') n++;
  }
  return n;
}

/**
 * Starts smtp-sink; resolves {pid, port, messages(), sessions(), connections(), output(), stop()}.
 * smtp-sink's counters move when a message ends (mesg) and when a session ends (sess), so
 * sessions() counts closed connections; connections() is how many are open right now.
 */
export async function startSink() {
  if (!existsSync(bin)) throw new Error(`${path.relative(process.cwd(), bin)} missing: run scripts/peers-install.sh`);
  const port = await freePort();
  // As root smtp-sink insists on dropping privileges (-u); a backlog of 1024 so no SYN is lost.
  const user = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
  const child = spawn(bin, ['-c', ...user, `127.0.0.1:${port}`, '1024'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let exited = false;
  const keep = (b) => (out = (out + b.toString('latin1')).slice(-4000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const gone = new Promise((r) => child.once('exit', () => r((exited = true))));
  const last = () => {
    const all = [...out.matchAll(/sess=(\d+) quit=\d+ mesg=(\d+)/g)];
    const m = all[all.length - 1];
    return { sessions: Number(m?.[1] ?? 0), messages: Number(m?.[2] ?? 0) };
  };
  const sink = {
    pid: child.pid,
    port,
    messages: () => last().messages,
    sessions: () => last().sessions,
    connections: () => established(port),
    output: () => out.replace(/\r/g, '\n').split('\n').slice(-5).join('\n'),
    async stop() {
      if (exited) return;
      try { process.kill(child.pid, 'SIGTERM'); } catch { /* gone */ }
      if (!(await Promise.race([gone, sleep(3000).then(() => false)]))) {
        try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
        await Promise.race([gone, sleep(3000)]);
      }
    },
  };
  for (let i = 0; i < 50 && !exited; i++) {
    if (await listening(port)) return sink; // this probe counts as a session, never as a message
    await sleep(100);
  }
  await sink.stop();
  throw new Error(`smtp-sink did not listen on 127.0.0.1:${port}\n${sink.output()}`);
}
