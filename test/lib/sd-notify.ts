// A receiver of sd_notify(3) messages for tests: a unix datagram socket bound by Python (Node has
// none), each datagram printed as one JSON string a line; stopped by its PID (bounded: 300 s).
import { spawn } from 'node:child_process';
import { python3 } from './paths.js';
import { killQuietly } from './proc.js';

export interface NotifyReceiver {
  messages: string[];
  stop(): void;
}

/** A unix datagram socket at `sock` (Python: Node has none) receiving sd_notify messages. */
export function startNotifyReceiver(sock: string): NotifyReceiver {
  const code = [
    'import json, os, socket, sys, time',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    's.bind(sys.argv[1])',
    's.settimeout(1)',
    'end = time.time() + 300',
    'while time.time() < end:',
    '    try:',
    '        m = s.recv(4096)',
    '    except socket.timeout:',
    '        continue',
    '    print(json.dumps(m.decode()), flush=True)',
  ].join('\n');
  const child = spawn(python3, ['-c', code, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
  const r: NotifyReceiver = { messages: [], stop: () => void (child.pid !== undefined && killQuietly(child.pid, 'SIGKILL')) };
  let buf = '';
  child.stdout!.on('data', (b: Buffer) => {
    buf += b.toString('utf8');
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      r.messages.push(JSON.parse(buf.slice(0, nl)) as string);
      buf = buf.slice(nl + 1);
    }
  });
  return r;
}
