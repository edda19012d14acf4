// A hostile or broken server, scripted here over a real loopback socket (no SMTP implementation
// behaves this way on purpose): malformed, mismatched, injected and oversized replies (REFERENCE
// 14.2, CVE-2020-8794), replies nobody asked for, data after STARTTLS's 220, 421, silence
// (timeouts), a server that ignores QUIT, refused connections, and a body that fails to read.
// Every case must end in a temporary failure with a single-line reply and no hang.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createClientSession } from './index.js';
import { bodyOf, freePort, options } from './test-peers.js';
import type { ClientOptions, Transaction } from './types.js';

type Answer = string | ((sock: net.Socket) => void);

interface Script {
  greeting?: Answer;
  ehlo?: Answer;
  /** Replies by verb (MAIL, RCPT, DATA, '.', QUIT, STARTTLS, RSET). */
  replies?: Record<string, Answer>;
}

interface Scripted {
  port: number;
  lines: string[];
  sawDot: () => boolean;
  close(): void;
}

const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();
after(() => {
  for (const s of sockets) s.destroy();
  for (const s of servers) s.close();
});

async function scripted(script: Script): Promise<Scripted> {
  const lines: string[] = [];
  let dot = false;
  const answer = (sock: net.Socket, a: Answer): void => void (typeof a === 'string' ? sock.write(a) : a(sock));
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => {});
    answer(sock, script.greeting ?? '220 hostile.test ESMTP\r\n');
    let buf = '';
    let inData = false;
    // As a conforming server: DATA opens only when a RCPT of this transaction was accepted.
    let rcptOk = false;
    sock.on('data', (b: Buffer) => {
      buf += b.toString('latin1');
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        if (inData) {
          if (line !== '.') continue;
          inData = false;
          dot = true;
        }
        lines.push(line);
        const verb = line === '.' ? '.' : (line.split(/[ :]/)[0] ?? '').toUpperCase();
        const a = verb === 'EHLO' || verb === 'LHLO' ? (script.ehlo ?? '250-hostile.test\r\n250 PIPELINING\r\n') : script.replies?.[verb];
        if (verb === 'MAIL' || verb === 'RSET') rcptOk = false;
        if (verb === 'RCPT') rcptOk ||= a === undefined || (typeof a === 'string' && a.startsWith('2'));
        if (a !== undefined) answer(sock, a);
        else if (verb === 'DATA') sock.write(rcptOk ? '354 go ahead\r\n' : '554 5.5.1 no valid recipients\r\n');
        else if (verb === 'QUIT') sock.end('221 2.0.0 bye\r\n');
        else sock.write('250 2.0.0 ok\r\n');
        if (verb === 'DATA' && ((a === undefined && rcptOk) || (typeof a === 'string' && a.startsWith('354')))) inData = true;
      }
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, lines, sawDot: () => dot, close: () => server.close() };
}

const tx = (over: Partial<Transaction> = {}): Transaction => ({
  mailFrom: 'a@x.test',
  smtputf8: false,
  eightBit: false,
  size: 20,
  recipients: [{ address: 'b@y.test', notify: 0 }],
  body: bodyOf('Subject: x\n\nhello\n'),
  ...over,
});

const fast = (port: number, over: Partial<ClientOptions> = {}): ClientOptions => options(port, { connectTimeoutMs: 1000, commandTimeoutMs: 400, ...over });

function assertOneLine(s: string): void {
  assert.doesNotMatch(s, /[\r\n\0]/);
  assert.ok(s.length <= 512);
}

const HOSTILE_RCPT: [string, string][] = [
  ['final line with another code', '250-ok\r\n550 5.1.1 no such user\r\n'],
  ['two digits', '25\r\n'],
  ['short last line after continuations', '250-x\r\n250-\r\n2\r\n'],
  ['NUL and an injected line', '250 ok\0\r\ninjected: x\r\n'],
  ['CR inside', '250 ok\rtype: mda\rmda-exec: /bin/sh\r\n'],
  ['garbage', 'hello world\r\n'],
  ['a huge line', `250 ${'A'.repeat(10_000)}\r\n`],
  ['an endless line', `250 ${'A'.repeat(10_000)}`],
  ['101 continuation lines', `${'250-more\r\n'.repeat(101)}250 done\r\n`],
];

test('hostile RCPT replies: protocol error, temporary, dropped, no data sent, one-line text', async () => {
  for (const [name, bytes] of HOSTILE_RCPT) {
    const s = await scripted({ replies: { RCPT: bytes } });
    const c = createClientSession(fast(s.port));
    assert.ok((await c.connect()).ok, name);
    const r = await c.send(tx());
    assert.ok(r.ok, name);
    const o = r.recipients[0]!;
    assert.equal(o.status, 'tempfail', name);
    assert.match(o.reply, /^4\.5\.0 protocol error: /, `${name}: ${o.reply}`);
    assertOneLine(o.reply);
    assert.equal(c.usable, false, name);
    // DATA may end the pipelined group, but no message text follows it.
    assert.ok(!s.lines.includes('Subject: x') && !s.sawDot(), name);
    c.close();
    s.close();
  }
});

test('hostile EHLO and greeting: a failed connect with a one-line reply', async () => {
  const cases: [Script, RegExp, 'tempfail' | 'permfail'][] = [
    [{ ehlo: `${'250-X\r\n'.repeat(150)}250 end\r\n` }, /^4\.5\.0 protocol error: reply has too many lines/, 'tempfail'],
    [{ ehlo: '250-mx\r\n550 nope\r\n' }, /^4\.5\.0 protocol error: reply lines with different codes/, 'tempfail'],
    [{ greeting: '554-5.7.1 no\r\n554 5.7.1 go away\r\n' }, /^554 5\.7\.1 no go away$/, 'permfail'],
    [{ greeting: '421 4.3.2 busy\r\n' }, /^421 4\.3\.2 busy$/, 'tempfail'],
    [{ greeting: () => {} }, /^4\.4\.2 timeout waiting for the reply to the greeting$/, 'tempfail'],
    [{ greeting: 'HTTP/1.1 400 Bad Request\r\n' }, /^4\.5\.0 protocol error: malformed reply line/, 'tempfail'],
  ];
  for (const [script, reply, status] of cases) {
    const s = await scripted(script);
    const c = createClientSession(fast(s.port));
    const conn = await c.connect();
    assert.ok(!conn.ok && conn.status === status && reply.test(conn.reply), JSON.stringify(conn));
    assertOneLine(conn.reply);
    assert.equal(c.usable, false);
    s.close();
  }
});

test('a multi-line refusal is stored as one line', async () => {
  const s = await scripted({ replies: { RCPT: '550-5.7.1 Rejected: listed at\r\n550-5.7.1 bl.test, see\r\n550 5.7.1 https://bl.test/\r\n' } });
  const c = createClientSession(fast(s.port));
  assert.ok((await c.connect()).ok);
  const r = await c.send(tx());
  assert.ok(r.ok);
  assert.deepEqual(r.recipients[0], { status: 'permfail', reply: '550 5.7.1 Rejected: listed at bl.test, see https://bl.test/' });
  assert.equal(c.usable, true);
  c.close();
});

test('a reply nobody asked for is a protocol error at the next command', async () => {
  const s = await scripted({ ehlo: '250-hostile.test\r\n250 8BITMIME\r\n250 surprise\r\n' });
  const c = createClientSession(fast(s.port));
  assert.ok((await c.connect()).ok);
  const r = await c.send(tx());
  assert.ok(!r.ok && r.status === 'tempfail' && r.connectionLost && /^4\.5\.0 protocol error: reply without a command/.test(r.reply), JSON.stringify(r));
  assert.ok(!s.lines.some((l) => l.startsWith('MAIL')));
});

test('data after the STARTTLS reply (injection) ends the session', async () => {
  const s = await scripted({ ehlo: '250-hostile.test\r\n250 STARTTLS\r\n', replies: { STARTTLS: '220 go ahead\r\n250 injected\r\n' } });
  const c = createClientSession(fast(s.port, { tls: 'opportunistic' }));
  const conn = await c.connect();
  assert.ok(!conn.ok && /^4\.5\.0 protocol error: data after the STARTTLS reply$/.test(conn.reply), JSON.stringify(conn));
});

test('421 at RCPT: temporary, the session is over', async () => {
  const s = await scripted({ replies: { RCPT: (sock) => sock.end('421 4.3.2 shutting down\r\n') } });
  const c = createClientSession(fast(s.port));
  assert.ok((await c.connect()).ok);
  const r = await c.send(tx({ recipients: [{ address: 'b@y.test', notify: 0 }, { address: 'c@y.test', notify: 0 }] }));
  assert.ok(r.ok);
  assert.equal(r.recipients[0]?.reply, '421 4.3.2 shutting down');
  assert.deepEqual(r.recipients.map((o) => o.status), ['tempfail', 'tempfail']);
  assert.equal(c.usable, false);
});

test('silence after the data: a timeout, not a hang; quit() is bounded with a server that ignores QUIT', async () => {
  const s = await scripted({ replies: { '.': () => {}, QUIT: () => {} } });
  const c = createClientSession(fast(s.port));
  assert.ok((await c.connect()).ok);
  const t0 = Date.now();
  const r = await c.send(tx());
  assert.ok(Date.now() - t0 < 3000);
  assert.ok(r.ok && r.recipients[0]?.status === 'tempfail' && /^4\.4\.2 timeout waiting for the reply to end of data$/.test(r.recipients[0].reply), JSON.stringify(r));
  assert.equal(c.usable, false);

  const q = await scripted({ replies: { QUIT: () => {} } });
  const d = createClientSession(fast(q.port));
  assert.ok((await d.connect()).ok);
  const t1 = Date.now();
  await d.quit();
  assert.ok(Date.now() - t1 < 2000, `quit took ${Date.now() - t1} ms`);
  assert.equal(d.usable, false);
});

test('connection refused: temporary, at once', async () => {
  const port = await freePort();
  const c = createClientSession(fast(port));
  const conn = await c.connect();
  assert.ok(!conn.ok && conn.status === 'tempfail' && /^4\.4\.1 connect to 127\.0\.0\.1:\d+: ECONNREFUSED/.test(conn.reply), JSON.stringify(conn));
});

test('a body that cannot be read: the connection is dropped before the final dot', async () => {
  const s = await scripted({});
  const c = createClientSession(fast(s.port));
  assert.ok((await c.connect()).ok);
  async function* body(): AsyncIterable<Uint8Array> {
    yield Buffer.from('Subject: x\n\nfirst part\n');
    throw new Error('EIO reading chunk 2');
  }
  const r = await c.send(tx({ body }));
  assert.ok(r.ok && r.recipients[0]?.status === 'tempfail' && /cannot read the message body: EIO/.test(r.recipients[0].reply), JSON.stringify(r));
  assert.equal(c.usable, false);
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(s.sawDot(), false);
});

test('CR or LF in an address never reaches the wire', async () => {
  const s = await scripted({});
  const c = createClientSession(fast(s.port));
  assert.ok((await c.connect()).ok);
  const r = await c.send(tx({ recipients: [{ address: 'b@y.test\r\nRCPT TO:<evil@z.test>', notify: 0 }, { address: 'c@y.test', notify: 0 }] }));
  assert.ok(r.ok);
  assert.deepEqual(r.recipients.map((o) => o.status), ['permfail', 'ok']);
  const bad = await c.send(tx({ mailFrom: 'a@x.test\r\nDATA' }));
  assert.ok(!bad.ok && bad.status === 'permfail');
  c.close();
  assert.ok(!s.lines.some((l) => l.includes('evil')));
});

test('a pipelined DATA opened with every RCPT refused: no message text, the connection dropped', async () => {
  const s = await scripted({ replies: { RCPT: '550 5.1.1 no such user\r\n', DATA: '354 go ahead anyway\r\n' } });
  const c = createClientSession(fast(s.port));
  assert.ok((await c.connect()).ok);
  const r = await c.send(tx());
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.recipients[0], { status: 'permfail', reply: '550 5.1.1 no such user' });
  assert.equal(c.usable, false, 'a server in its data phase with no recipient is not used again');
  assert.ok(s.lines.includes('DATA') && !s.sawDot(), JSON.stringify(s.lines));
  c.close();
  s.close();
});
