// The indexOf data scan against smtp-server's own: the same random streams, cut at random
// places, must give the same body chunks, the same end of DATA and the same commands after it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { CHECKED_FEED_SHA256, fastFeed, feedFingerprint, installDataScan, libraryFeed } from './data-scan.js';

interface Trace {
  chunks: string[];
  ended: boolean;
  dataBytes: number;
  commands: string[];
}

/** One DATA phase: `cuts` split `input`; the stream uses `feed` as its data scan. */
async function run(feed: typeof libraryFeed, input: Buffer, cuts: number[]): Promise<Trace> {
  const s = new SMTPStream();
  s._feedDataStream = feed;
  const trace: Trace = { chunks: [], ended: false, dataBytes: 0, commands: [] };
  s.oncommand = (line, next) => {
    trace.commands.push(line.toString('latin1'));
    next?.();
  };
  const data = s.startDataMode();
  data.on('data', (b: Buffer) => trace.chunks.push(b.toString('latin1')));
  data.on('end', () => {
    trace.ended = true;
    trace.dataBytes = s.dataBytes;
    s.continue();
  });
  let prev = 0;
  for (const c of [...cuts, input.length]) {
    const part = input.subarray(prev, c);
    prev = c;
    if (part.length > 0) await new Promise<void>((resolve, reject) => s.write(part, (e) => (e ? reject(e) : resolve())));
  }
  // Escape dots continue on the next turn (setImmediate); let them and the data stream settle.
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  if (!trace.ended) trace.dataBytes = s.dataBytes;
  return trace;
}

function random(seed: number): (n: number) => number {
  let x = seed;
  return (n) => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) % n;
  };
}

const PIECES = ['\r\n', '.', '..', '\r\n.\r\n', '\r\n..\r\n', '\n', '\r', 'a', 'bc', '\r\n.', '.\r\n', '\n.\r\n', '\r\n...', '\x00', '\xff'];

test('data scan: indexOf gives what smtp-server gives, over random streams and random cuts', async () => {
  const rnd = random(4242);
  for (let round = 0; round < 3000; round++) {
    let text = '';
    const parts = 1 + rnd(40);
    for (let k = 0; k < parts; k++) text += PIECES[rnd(PIECES.length)];
    if (rnd(3) === 0) text += 'MAIL FROM:<a@b>\r\nQUIT\r\n';
    const input = Buffer.from(text, 'latin1');
    const cuts = Array.from({ length: rnd(6) }, () => rnd(input.length + 1)).sort((a, b) => a - b);
    const want = await run(libraryFeed, input, cuts);
    const got = await run(fastFeed, input, cuts);
    assert.deepEqual(got, want, `input ${JSON.stringify(text)} cuts ${cuts.join(',')}`);
  }
});

test('data scan: a 100 KiB body in 64 KiB chunks with dot lines and the terminator across the cut', async () => {
  const line = 'x'.repeat(70) + '\r\n';
  const body = Buffer.from(line.repeat(1400) + '..dot line\r\n' + line.repeat(20) + '\r\n.\r\nQUIT\r\n', 'latin1');
  for (const cut of [65536, body.length - 9, body.length - 8, body.length - 7, body.length - 6]) {
    const want = await run(libraryFeed, body, [cut]);
    assert.equal(want.ended, true);
    assert.deepEqual(want.commands, ['QUIT']);
    assert.deepEqual(await run(fastFeed, body, [cut]), want, `cut ${cut}`);
  }
});

test('data scan: it replaces only the method it was checked against', () => {
  assert.equal(feedFingerprint(libraryFeed), CHECKED_FEED_SHA256, 'smtp-server changed: check data-scan.ts against the new _feedDataStream');
  assert.equal(installDataScan(), true);
  assert.equal(SMTPStream.prototype._feedDataStream, fastFeed);
});
