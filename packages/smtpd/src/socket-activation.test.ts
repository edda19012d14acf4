// readInherited in a child process given real descriptors at 3.. (as systemd passes them): the
// listening TCP sockets are found with their address, port and name, a file and a connected
// socket refused; LISTEN_* leave the environment whatever they say; a LISTEN_PID of another
// process means nothing was passed. canonicalAddress compares IPv6 spellings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import net from 'node:net';
import { canonicalAddress, readInherited } from './socket-activation.js';

const fdOf = (x: net.Server | net.Socket): number => (x as unknown as { _handle: { fd: number } })._handle.fd;
const listen = (s: net.Server, o: net.ListenOptions) => new Promise<void>((r, j) => (s.once('error', j), s.listen(o, r)));

test('canonicalAddress: one spelling per IPv6 address, its zone kept; IPv4 as is', () => {
  assert.equal(canonicalAddress('0:0::1', 6), '::1');
  assert.equal(canonicalAddress('FE80::1%eth0', 6), 'fe80::1%eth0');
  assert.equal(canonicalAddress('127.0.0.1', 4), '127.0.0.1');
});

test('LISTEN_PID of another process: nothing adopted, and LISTEN_* removed all the same', () => {
  const env: NodeJS.ProcessEnv = { LISTEN_PID: '1', LISTEN_FDS: '2', LISTEN_FDNAMES: 'a:b', PATH: '/bin' };
  assert.deepEqual(readInherited(env, 4242), { sockets: [], refused: [] });
  assert.deepEqual(env, { PATH: '/bin' });
  const bad: NodeJS.ProcessEnv = { LISTEN_PID: '4242', LISTEN_FDS: 'two' };
  assert.deepEqual(readInherited(bad, 4242), { sockets: [], refused: [] });
  assert.deepEqual(bad, {});
});

test('a child given a listener, a file and a connected socket at fds 3, 4, 5 keeps only the listener', async () => {
  const server = net.createServer();
  await listen(server, { host: '127.0.0.1', port: 0 });
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect({ host: '127.0.0.1', port });
  await new Promise((r) => client.once('connect', r));
  const file = openSync('/dev/null', 'r');
  // The child sets LISTEN_PID to its own pid (systemd sets it between fork and exec).
  const code = `
    process.env.LISTEN_PID = String(process.pid); process.env.LISTEN_FDS = '3'; process.env.LISTEN_FDNAMES = 'smtp:file';
    const m = await import(${JSON.stringify(new URL('./socket-activation.js', import.meta.url).href)});
    const r = m.readInherited();
    const inh = new m.InheritedListeners(r);
    const taken = inh.take('127.0.0.1', ${port}, 4);
    const again = inh.take('127.0.0.1', ${port}, 4);
    const left = inh.closeUnused();
    console.log(JSON.stringify({ r, taken, again: again ?? null, left, env: Object.keys(process.env).filter((k) => k.startsWith('LISTEN_')) }));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit', fdOf(server), file, fdOf(client)] });
  let out = '';
  child.stdout!.on('data', (b) => (out += b));
  const status = await new Promise((r) => child.on('exit', r));
  closeSync(file);
  client.destroy();
  server.close();
  assert.equal(status, 0, out);
  const got = JSON.parse(out) as { r: ReturnType<typeof readInherited>; taken: unknown; again: unknown; left: unknown[]; env: string[] };
  assert.deepEqual(got.r.sockets, [{ fd: 3, name: 'smtp', family: 4, address: '127.0.0.1', port }]);
  assert.deepEqual(got.r.refused.map((x) => [x.fd, x.name, x.reason]), [[4, 'file', 'ENOTSOCK'], [5, 'unknown', 'not a listening stream socket']]);
  assert.deepEqual(got.taken, { fd: 3, name: 'smtp', family: 4, address: '127.0.0.1', port });
  assert.equal(got.again, null, 'each socket is handed out once');
  assert.deepEqual(got.left, []);
  assert.deepEqual(got.env, []);
});
