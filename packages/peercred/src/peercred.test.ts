// The addon against real unix sockets: a client in this process and one in a child process
// running as another user report their own pid/uid/gid; a TCP socket and a closed one are errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { peerCredentials } from './index.js';

function listen(server: net.Server, where: string | number): Promise<void> {
  return new Promise((resolve) => server.listen(where, resolve));
}

async function acceptOne(sock: string, connect: () => void): Promise<net.Socket> {
  const server = net.createServer();
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  await listen(server, sock);
  connect();
  const s = await accepted;
  server.close();
  return s;
}

test('a client in this process: our own pid, uid and gid', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'peercred-'));
  try {
    const sock = path.join(dir, 's');
    let client: net.Socket | null = null;
    const s = await acceptOne(sock, () => void (client = net.connect(sock)));
    assert.deepEqual(peerCredentials(s), { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
    s.destroy();
    (client as net.Socket | null)?.destroy();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a client running as another user is seen as that user, whatever it claims', { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'peercred-'));
  try {
    chmodSync(dir, 0o755);
    const sock = path.join(dir, 's');
    const nobody = Number(execFileSync('id', ['-u', 'nobody']).toString().trim());
    const nogroup = Number(execFileSync('id', ['-g', 'nobody']).toString().trim());
    let child: ReturnType<typeof spawn> | null = null;
    const s = await acceptOne(sock, () => {
      chmodSync(sock, 0o777);
      child = spawn(process.execPath, ['-e', `const c=require('net').connect(${JSON.stringify(sock)});c.write('uid=0\\n');setTimeout(()=>c.end(),2000)`], { uid: nobody, gid: nogroup, stdio: 'ignore' });
    });
    const cred = peerCredentials(s);
    assert.equal(cred.uid, nobody);
    assert.equal(cred.gid, nogroup);
    assert.equal(cred.pid, (child as unknown as { pid: number }).pid);
    s.destroy();
    (child as unknown as { kill(): void }).kill();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a TCP socket and a closed socket are errors, not credentials', async () => {
  const server = net.createServer();
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  await listen(server, 0);
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const s = await accepted;
  assert.throws(() => peerCredentials(s), /SO_PEERCRED|not a unix socket|file descriptor/);
  s.destroy();
  client.destroy();
  server.close();
  assert.throws(() => peerCredentials(s), (e: NodeJS.ErrnoException) => e.code === 'EBADF');
});
