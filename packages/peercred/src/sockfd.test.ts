// socketInfo and setCloexec on real descriptors: listening TCP sockets on IPv4 and IPv6, a
// connected one, a unix socket, a file (ENOTSOCK) and a closed descriptor (EBADF); the
// close-on-exec flag as the kernel reports it in /proc/self/fdinfo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setCloexec, socketInfo } from './index.js';

function listen(server: net.Server, opts: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts, resolve);
  });
}
const fdOf = (x: net.Server | net.Socket): number => (x as unknown as { _handle: { fd: number } })._handle.fd;
const kernelCloexec = (fd: number): boolean => {
  const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
  return (parseInt(flags ?? '0', 8) & 0o2000000) !== 0;
};

test('a listening IPv4 and IPv6 socket: its address, port, stream and listening', async () => {
  const v4 = net.createServer();
  const v6 = net.createServer();
  await listen(v4, { host: '127.0.0.1', port: 0 });
  await listen(v6, { host: '::1', port: 0, ipv6Only: true }).catch(() => undefined);
  try {
    const port = (v4.address() as net.AddressInfo).port;
    assert.deepEqual(socketInfo(fdOf(v4)), { family: 4, address: '127.0.0.1', port, stream: true, listening: true });
    if (v6.listening) {
      const p6 = (v6.address() as net.AddressInfo).port;
      assert.deepEqual(socketInfo(fdOf(v6)), { family: 6, address: '::1', port: p6, stream: true, listening: true });
    }
    const client = net.connect({ host: '127.0.0.1', port });
    await new Promise((r) => client.once('connect', r));
    const info = socketInfo(fdOf(client));
    assert.equal(info.listening, false);
    assert.equal(info.family, 4);
    client.destroy();
  } finally {
    v4.close();
    v6.close();
  }
});

test('a unix socket is family 0; a file is ENOTSOCK; a closed descriptor EBADF', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sockfd-'));
  const u = net.createServer();
  try {
    await listen(u, { path: path.join(dir, 's') });
    assert.deepEqual(socketInfo(fdOf(u)), { family: 0, address: '', port: 0, stream: true, listening: true });
    const f = openSync(path.join(dir, 'file'), 'w');
    assert.throws(() => socketInfo(f), { code: 'ENOTSOCK' });
    closeSync(f);
    assert.throws(() => socketInfo(f), { code: 'EBADF' });
    assert.throws(() => setCloexec(f), { code: 'EBADF' });
    assert.throws(() => socketInfo(-1 as number), { code: 'ERR_INVALID_ARG' });
  } finally {
    u.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('setCloexec sets and clears FD_CLOEXEC as the kernel sees it, and says what it was', () => {
  const f = openSync('/dev/null', 'r'); // Node opens with O_CLOEXEC
  try {
    assert.equal(kernelCloexec(f), true);
    assert.equal(setCloexec(f, false), true);
    assert.equal(kernelCloexec(f), false);
    assert.equal(setCloexec(f, true), false);
    assert.equal(kernelCloexec(f), true);
    assert.equal(setCloexec(f), true);
  } finally {
    closeSync(f);
  }
});
