// The LMTP client against smtp-server in LMTP mode (per-recipient replies, 4xx/5xx), a raw
// server sending malformed replies, and a real dovecot LMTP server when we can start one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { DataEncoder, openLmtp, parseDestination, type LmtpJob } from './lmtp.js';
import { parseReplyLine } from './lmtp-reply.js';
import { chunks, deliverParts, tempDir } from '../test-util.js';

const BODY = 'Subject: hi\n\n.leading dot\n..two dots\nend\n';

test('DATA encoding: LF to CRLF, dot-stuffing across chunk boundaries, final dot', () => {
  for (const n of [1, 2, 3, 100]) {
    const enc = new DataEncoder();
    const out = Buffer.concat([...chunks('.a\nb\n.\n..c', n).map((c) => enc.push(c)), enc.end()]).toString();
    assert.equal(out, '..a\r\nb\r\n..\r\n...c\r\n.\r\n', `chunk ${n}`);
  }
  const e2 = new DataEncoder();
  assert.equal(Buffer.concat([e2.push(Buffer.from('x\n')), e2.end()]).toString(), 'x\r\n.\r\n');
});

test('reply lines: codes 2xx-5xx, separator, no controls, bounded length', () => {
  assert.deepEqual(parseReplyLine('250 2.0.0 ok'), { code: 250, more: false, text: '2.0.0 ok' });
  assert.deepEqual(parseReplyLine('250-PIPELINING'), { code: 250, more: true, text: 'PIPELINING' });
  assert.deepEqual(parseReplyLine('354'), { code: 354, more: false, text: '' });
  for (const bad of ['25', '2500 x', '650 x', 'abc', '250_x', '250 a\0b', '250 ' + 'x'.repeat(3000), '']) assert.equal(parseReplyLine(bad), null, JSON.stringify(bad.slice(0, 10)));
});

test('destinations: socket path, host:port, [v6]:port, default port 24', () => {
  assert.deepEqual(parseDestination('/run/dovecot/lmtp'), { path: '/run/dovecot/lmtp' });
  assert.deepEqual(parseDestination('127.0.0.1:2424'), { host: '127.0.0.1', port: 2424 });
  assert.deepEqual(parseDestination('[::1]:24'), { host: '::1', port: 24 });
  assert.deepEqual(parseDestination('lmtp.example'), { host: 'lmtp.example', port: 24 });
  assert.equal(parseDestination('a:b:c'), null);
  assert.equal(parseDestination('host:99999'), null);
});

interface Received {
  from: string;
  rcpt: string[];
  body: string;
}

/** smtp-server in LMTP mode; `rcptReply`/`dataReply` decide per recipient. */
async function lmtpServer(listen: string | number, opts: { rcptReply?: (r: string) => number; dataReply?: (r: string) => number } = {}): Promise<{ server: SMTPServer; got: Received[]; port: number }> {
  const got: Received[] = [];
  const server = new SMTPServer({
    lmtp: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onRcptTo(addr, _s, cb) {
      const code = opts.rcptReply?.(addr.address) ?? 250;
      cb(code === 250 ? null : Object.assign(new Error(`${code === 550 ? '5.1.1' : '4.2.1'} refused ${addr.address}`), { responseCode: code }));
    },
    onData(stream, session, cb) {
      const parts: Buffer[] = [];
      stream.on('data', (c: Buffer) => parts.push(c));
      stream.on('end', () => {
        const rcpt = session.envelope.rcptTo.map((r) => r.address);
        got.push({ from: (session.envelope.mailFrom || { address: '' }).address, rcpt, body: Buffer.concat(parts).toString() });
        cb(null, rcpt.map((r) => {
          const code = opts.dataReply?.(r) ?? 250;
          return code === 250 ? `2.0.0 <${r}> saved` : Object.assign(new Error(`${code >= 500 ? '5.2.2' : '4.2.2'} mailbox full`), { responseCode: code });
        }) as unknown as string);
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(listen as number, '127.0.0.1', () => resolve()));
  const addr = server.server.address();
  return { server, got, port: typeof addr === 'object' && addr ? addr.port : 0 };
}

function close(server: SMTPServer | Server): Promise<void> {
  return new Promise((r) => server.close(() => r()));
}

// smtp-server wants qualified addresses; dovecot (below) takes the bare user name.
function job(destination: string, rcptTo = 'alice@lmtp.test', mailFrom = 'bob@x.org'): LmtpJob {
  return { destination, lhlo: 'mx.test', mailFrom, rcptTo, timeouts: { connect: 2000, command: 2000, data: 2000 } };
}

test('delivers over TCP: envelope and dot-stuffed body arrive intact', async () => {
  const { server, got, port } = await lmtpServer(0);
  try {
    const o = await deliverParts(openLmtp(job(`127.0.0.1:${port}`)), chunks(BODY, 4));
    assert.equal(o.status, 'ok', o.errorline);
    assert.match(o.errorline, /^250 2\.0\.0 <alice@lmtp\.test> saved/);
    assert.equal(got.length, 1);
    assert.deepEqual({ from: got[0]!.from, rcpt: got[0]!.rcpt }, { from: 'bob@x.org', rcpt: ['alice@lmtp.test'] });
    assert.equal(got[0]!.body, BODY.replace(/\n/g, '\r\n'));
  } finally {
    await close(server);
  }
});

test('the null sender and rcpt-to with the full address', async () => {
  const { server, got, port } = await lmtpServer(0);
  try {
    const o = await deliverParts(openLmtp(job(`127.0.0.1:${port}`, 'alice@y.org', '')), ['x\n']);
    assert.equal(o.status, 'ok', o.errorline);
    assert.deepEqual({ from: got[0]!.from, rcpt: got[0]!.rcpt }, { from: '', rcpt: ['alice@y.org'] });
  } finally {
    await close(server);
  }
});

test('RCPT 550 is permanent, RCPT 450 temporary; per-recipient DATA 452 temporary, 552 permanent', async () => {
  const { server, port } = await lmtpServer(0, {
    rcptReply: (r) => (r === 'nobody@t.x' ? 550 : r === 'later@t.x' ? 450 : 250),
    dataReply: (r) => (r === 'full@t.x' ? 452 : r === 'over@t.x' ? 552 : 250),
  });
  try {
    const dest = `127.0.0.1:${port}`;
    const nobody = await openLmtp(job(dest, 'nobody@t.x'));
    assert.ok(!nobody.ok && nobody.outcome.status === 'permfail' && /^550 5\.1\.1 refused nobody@t\.x \(RCPT TO\)$/.test(nobody.outcome.errorline), JSON.stringify(nobody));
    const later = await openLmtp(job(dest, 'later@t.x'));
    assert.ok(!later.ok && later.outcome.status === 'tempfail');
    const full = await deliverParts(openLmtp(job(dest, 'full@t.x')), ['x\n']);
    assert.equal(full.status, 'tempfail');
    assert.match(full.errorline, /^452 4\.2\.2 mailbox full/);
    const over = await deliverParts(openLmtp(job(dest, 'over@t.x')), ['x\n']);
    assert.equal(over.status, 'permfail');
  } finally {
    await close(server);
  }
});

test('delivers over a unix socket', async () => {
  const d = tempDir('lmtp-sock');
  const sock = join(d.path, 'lmtp.sock');
  const { server, got } = await lmtpServer(sock);
  try {
    const o = await deliverParts(openLmtp(job(sock)), ['Subject: s\n\nhello\n']);
    assert.equal(o.status, 'ok', o.errorline);
    assert.equal(got.length, 1);
  } finally {
    await close(server);
    d.remove();
  }
});

test('connection refused is temporary', async () => {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await close(srv);
  const r = await openLmtp(job(`127.0.0.1:${port}`));
  assert.ok(!r.ok && r.outcome.status === 'tempfail' && /ECONNREFUSED/.test(r.outcome.errorline));
});

/** A raw server that sends `script(lineNo)` after each command line it receives. */
async function rawServer(greeting: string, answer: (cmd: string) => string): Promise<{ srv: Server; port: number }> {
  const srv = createServer((s) => {
    s.write(greeting);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const a = answer(line);
        if (a) s.write(a);
      }
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return { srv, port: (srv.address() as { port: number }).port };
}

test('malformed, overlong, mixed-code and CR-injected replies are refused as temporary failures', async () => {
  const cases: [string, (cmd: string) => string][] = [
    ['220 ok\r\n', (c) => (c.startsWith('LHLO') ? '250-x\r\n25\r\n' : '')],
    ['220 ok\r\n', (c) => (c.startsWith('LHLO') ? `250 ${'x'.repeat(5000)}\r\n` : '')],
    ['220 ok\r\n', (c) => (c.startsWith('LHLO') ? '250-x\r\n550 y\r\n' : '')],
    ['220 ok\r\n', (c) => (c.startsWith('LHLO') ? '250 a\rb\r\n' : '')],
    ['220-ok\r\n', () => ''],
  ];
  for (const [greeting, answer] of cases) {
    const { srv, port } = await rawServer(greeting, answer);
    try {
      const r = await openLmtp({ ...job(`127.0.0.1:${port}`), timeouts: { connect: 1000, command: 500, data: 500 } });
      assert.ok(!r.ok, 'refused');
      if (!r.ok) {
        assert.equal(r.outcome.status, 'tempfail', r.outcome.errorline);
        assert.doesNotMatch(r.outcome.errorline, /[\r\n]/);
      }
    } finally {
      await close(srv);
    }
  }
});
