// The body encoder: LF to CRLF and dot-stuffing across every chunk split, bare CR, a missing
// final line end; and writeBody's last write carrying the tail of the body with `.\r\n`
// (STACK 8), its bounded batches, and a body that fails to read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { BodyEncoder, WRITE_BATCH, writeBody } from './body.js';
import { Wire } from './wire.js';

function encodeIn(chunks: Buffer[]): string {
  const e = new BodyEncoder();
  return Buffer.concat([...chunks.map((c) => e.encode(c)), e.finish()]).toString('latin1');
}

test('LF becomes CRLF, a leading dot doubles, the data ends with CRLF.CRLF', () => {
  const cases: [string, string][] = [
    ['a\nb\n', 'a\r\nb\r\n.\r\n'],
    ['.\n', '..\r\n.\r\n'],
    ['..x\n.\n', '...x\r\n..\r\n.\r\n'],
    ['no final line end', 'no final line end\r\n.\r\n'],
    ['', '.\r\n'],
    ['\n\n', '\r\n\r\n.\r\n'],
    ['x.\n.y\n', 'x.\r\n..y\r\n.\r\n'],
    // A stored CRLF stays one line end; a bare CR is sent as CRLF (RFC 5321 2.3.8).
    ['a\r\nb\n', 'a\r\nb\r\n.\r\n'],
    ['a\r.\rb\n', 'a\r\n..\r\nb\r\n.\r\n'],
    ['a\r', 'a\r\n.\r\n'],
  ];
  for (const [stored, wire] of cases) {
    const bytes = Buffer.from(stored, 'latin1');
    assert.equal(encodeIn([bytes]), wire, JSON.stringify(stored));
    // Every two-way split and byte-by-byte give the same bytes.
    for (let cut = 0; cut <= bytes.length; cut++) assert.equal(encodeIn([bytes.subarray(0, cut), bytes.subarray(cut)]), wire, `${JSON.stringify(stored)} cut ${cut}`);
    assert.equal(encodeIn([...bytes].map((b) => Buffer.from([b]))), wire);
  }
});

test('8-bit bytes pass unchanged', () => {
  const stored = Buffer.from('Subject: caf\xe9\n\n\xff\xfe.\n', 'latin1');
  assert.deepEqual(Buffer.from(encodeIn([stored]), 'latin1'), Buffer.from('Subject: caf\xe9\r\n\r\n\xff\xfe.\r\n.\r\n', 'latin1'));
});

/** A connected loopback socket pair; writes on `client` are recorded as the calls made. */
async function pair(): Promise<{ client: net.Socket; received: () => Buffer; writes: Buffer[]; close(): void }> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const got: Buffer[] = [];
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise((r) => client.once('connect', r));
  const peer = await accepted;
  peer.on('data', (b: Buffer) => got.push(b));
  const writes: Buffer[] = [];
  const orig = client.write.bind(client) as (d: Buffer) => boolean;
  (client as unknown as { write: (d: Buffer) => boolean }).write = (d: Buffer) => (writes.push(Buffer.from(d)), orig(d));
  return { client, received: () => Buffer.concat(got), writes, close: () => (client.destroy(), peer.destroy(), server.close()) };
}

test('writeBody: the last write holds the tail of the body and the dot; batches are bounded', async () => {
  const p = await pair();
  try {
    const wire = new Wire(p.client);
    const line = `${'y'.repeat(99)}\n`;
    const chunk = Buffer.from(line.repeat(100)); // 10,000 bytes
    const total = 60;
    async function* body(): AsyncIterable<Uint8Array> {
      for (let i = 0; i < total; i++) yield chunk;
    }
    const r = await writeBody(wire, body(), 5000);
    assert.equal(r.ok, true);
    const last = p.writes[p.writes.length - 1]!;
    assert.ok(last.length > 3 && last.subarray(-5).toString() === '\r\n.\r\n', 'tail and dot in one write');
    for (const w of p.writes) assert.ok(w.length < WRITE_BATCH + chunk.length * 2, `write of ${w.length} bytes`);
    assert.ok(p.writes.length >= Math.floor((total * chunk.length) / WRITE_BATCH), 'written in batches, not gathered whole');
    const expect = Buffer.concat([Buffer.from(line.replace('\n', '\r\n').repeat(100 * total)), Buffer.from('.\r\n')]);
    for (let i = 0; i < 100 && p.received().length < expect.length; i++) await new Promise((res) => setTimeout(res, 10));
    assert.deepEqual(p.received(), expect);
  } finally {
    p.close();
  }
});

test('writeBody: a body that fails to read is reported, and no end-of-data dot is sent', async () => {
  const p = await pair();
  try {
    const wire = new Wire(p.client);
    async function* body(): AsyncIterable<Uint8Array> {
      yield Buffer.from('Subject: x\n\npart one\n');
      throw new Error('disk read error');
    }
    const r = await writeBody(wire, body(), 5000);
    assert.equal(r.ok, false);
    assert.equal(r.bodyError, true);
    assert.ok(!p.writes.some((w) => w.includes('\r\n.\r\n')));
  } finally {
    p.close();
  }
});
