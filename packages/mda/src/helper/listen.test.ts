// A helper started with a listening socket (privilege separation: the privileged process binds
// an abstract unix socket and hands it over): it serves the one process named by --peer, and
// closes a connection from any other process unread (SO_PEERCRED), whatever it sends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { FrameReader, FrameType, frameHeader, jsonFrame } from './frame.js';
import { HELPER_ENTRY } from './link.js';
import { tempDir } from '../test-util.js';

/** A helper as the privileged side starts one: fd 3 listening on a fresh abstract name. */
async function listeningHelper(peer: string): Promise<{ name: string; stderr: () => string; stop: () => void }> {
  const name = `\0tsmtpd-helper-test-${randomBytes(8).toString('hex')}`;
  const server = net.createServer();
  await new Promise<void>((r) => server.listen({ path: name }, () => r()));
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  const child = spawn(process.execPath, [HELPER_ENTRY, '--peer', peer], { stdio: ['ignore', 'ignore', 'pipe', fd] });
  server.close();
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  return { name, stderr: () => err, stop: () => void child.kill('SIGKILL') };
}

/** Connect, send one maildir delivery, and answer the DONE outcome, or null when the socket closes first. */
function deliverOnce(name: string, root: string): Promise<unknown> {
  return new Promise((resolve) => {
    const s = net.connect({ path: name });
    const reader = new FrameReader();
    const body = Buffer.from('Subject: t\n\nhello\n');
    s.on('connect', () => s.write(Buffer.concat([jsonFrame(FrameType.open, 1, { kind: 'maildir', root, junk: false, extension: null, hostname: 'h' }), frameHeader(FrameType.data, 1, body.length), body, frameHeader(FrameType.end, 1, 0)])));
    s.on('data', (b: Buffer) => {
      for (const f of reader.push(b)) if (f.type === FrameType.done) resolve(JSON.parse(f.payload.toString()));
      s.destroy();
    });
    s.on('error', () => resolve(null));
    s.on('close', () => resolve(null));
  });
}

test('a listening helper serves its peer process', async () => {
  const d = tempDir('listen-ok');
  const h = await listeningHelper(`${process.getuid!()}:${process.pid}`);
  try {
    assert.deepEqual(await deliverOnce(h.name, d.path), { status: 'ok', errorline: 'Delivered' });
    assert.equal(readdirSync(join(d.path, 'new')).length, 1);
  } finally {
    h.stop();
    d.remove();
  }
});

test('a listening helper closes a connection from another process unread', async () => {
  const d = tempDir('listen-refused');
  const h = await listeningHelper(`${process.getuid!()}:1`);
  try {
    assert.equal(await deliverOnce(h.name, d.path), null);
    assert.deepEqual(readdirSync(d.path), [], 'nothing was written');
    for (let i = 0; i < 50 && !h.stderr().includes('refused'); i++) await new Promise((r) => setTimeout(r, 20));
    assert.match(h.stderr(), /connection refused from pid \d+ uid \d+/);
  } finally {
    h.stop();
    d.remove();
  }
});
