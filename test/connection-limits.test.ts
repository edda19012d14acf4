// End-to-end: `smtp limit max-conn-per-ip`, `max-conn-rate` and `max-sessions` as clients from
// several loopback addresses (127.0.5.0/24) see them: a 421 for the address over its limit while
// others are served; at the session limit a new connection waits ungreeted and is greeted once a
// session ends (the listener pauses instead of refusing).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { sleep } from './lib/proc.js';
import { RawClient } from './lib/raw.js';
import { makeTestDir, removeTestDir } from './lib/tmp.js';

const dir = makeTestDir('limits');
let d: Daemon;
const open: RawClient[] = [];

before(async () => {
  d = await startDaemon({
    dir,
    config: (ctx) => [
      'smtp limit max-conn-per-ip 3 max-conn-rate 8/min max-sessions 5',
      `listen on 127.0.0.1 port ${ctx.port}`,
      'action "local" maildir',
      'match from any for local action "local"',
      '',
    ].join('\n'),
  });
});
after(async () => {
  for (const c of open) c.destroy();
  await d?.stop();
  removeTestDir(dir);
});

async function connect(src: string): Promise<RawClient> {
  const c = await RawClient.connect(d.port, src);
  open.push(c);
  return c;
}

async function greeted(src: string): Promise<RawClient> {
  const c = await connect(src);
  const r = await c.waitReplies(1, 5000);
  assert.match(r[0] ?? '', /^220 /, `${src}: ${r.join(' | ')}\n${d.describe()}`);
  return c;
}

async function closeAll(list: RawClient[]): Promise<void> {
  for (const c of list) {
    c.write('QUIT\r\n');
    await c.waitClosed(3000);
    c.destroy();
  }
  await sleep(200);
}

test('max-conn-per-ip 3: the fourth connection from one address gets 421 4.7.0, another address is served', async () => {
  const mine = [await greeted('127.0.5.10'), await greeted('127.0.5.10'), await greeted('127.0.5.10')];
  const fourth = await connect('127.0.5.10');
  assert.ok(await fourth.waitClosed(5000), 'the fourth connection stayed open');
  assert.deepEqual(fourth.replies(), ['421 4.7.0 Too many connections from your address, try again later']);
  const other = await greeted('127.0.5.12');
  await closeAll([...mine, other]);
  const again = await greeted('127.0.5.10'); // the slots came back
  await closeAll([again]);
});

test('max-conn-rate 8/min: the ninth connection within a minute from one address gets 421 4.7.0', async () => {
  for (let i = 0; i < 8; i++) await closeAll([await greeted('127.0.5.11')]);
  const ninth = await connect('127.0.5.11');
  assert.ok(await ninth.waitClosed(5000));
  assert.deepEqual(ninth.replies(), ['421 4.7.0 Connection rate limit exceeded, try again later']);
  await closeAll([await greeted('127.0.5.13')]);
});

test('max-sessions 5: the sixth connection waits ungreeted, and is greeted when a session ends', async () => {
  const five: RawClient[] = [];
  for (let i = 0; i < 5; i++) five.push(await greeted(`127.0.5.${20 + i}`));
  const sixth = await connect('127.0.5.25');
  await sleep(1500);
  assert.deepEqual(sixth.replies(), [], 'the sixth session was greeted over the limit');
  assert.equal(sixth.closed, false, 'the sixth connection was refused instead of waiting');
  const t0 = Date.now();
  await closeAll([five.shift()!]);
  const r = await sixth.waitReplies(1, 5000);
  assert.match(r[0] ?? '', /^220 /, `after a slot freed: ${r.join(' | ')}\n${d.describe()}`);
  assert.match(await sixth.command('EHLO waited.test'), /^250 /);
  process.stdout.write(`# the waiting connection was greeted ${Date.now() - t0} ms after a session ended\n`);
  await closeAll([...five, sixth]);
});
