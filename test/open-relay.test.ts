// End-to-end: no open relay. The example configurations of REFERENCE.md 1.10 (their relay actions
// pointed at Postfix's smtp-sink on 127.0.5.1:25 so that a relayed message is observable; mbox and
// LMTP deliveries replaced by maildirs; TLS/AUTH lines left out until AUTH lands) against a matrix
// of source (127.0.0.1 = local, 127.0.5.2 = a remote client, the local enqueue socket), sender and
// destination: every cell's RCPT reply is asserted, a refusal is 550 at RCPT, and the sink must
// hold exactly the messages the rules relay.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { deliverableUser } from './lib/conf.js';
import { sleep, waitFor } from './lib/proc.js';
import { RawClient } from './lib/raw.js';
import { isRoot } from './lib/paths.js';
import { startSmtpSink, type SmtpSink } from './lib/smtp-sink.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const SINK = '127.0.5.1';
const REMOTE = '127.0.5.2';
const dir = makeTestDir('relay-matrix');
makeSharedDir(`${dir}/mail`);
const user = await deliverableUser('tsmtpd-e1');
writeFileSync(path.join(dir, 'aliases'), `root: ${user}\n`);
writeFileSync(path.join(dir, 'virtuals'), `@example.org ${user}\n`);
let sink: SmtpSink;

before(async () => {
  sink = await startSmtpSink(path.join(dir, 'sink'), SINK, 25);
});
after(async () => {
  await sink?.stop();
  removeTestDir(dir);
});

type Source = 'local' | 'remote' | 'socket';
/** [source, sender, recipient, expected RCPT code, relayed to the sink?] */
type Cell = [Source, string, string, 250 | 550, boolean];

const local = `${user}@localhost`;
const foreign = (tag: string) => `${tag}@foreign.test`;
const relay = `relay host smtp://${SINK}:25`;
const maildir = `maildir "${dir}/mail/%{user.username}/Maildir"`;

interface Example {
  name: string;
  lines: string[];
  cells: (tag: (s: string) => string) => Cell[];
}

const EXAMPLES: Example[] = [
  {
    name: '(a) default: local delivery, relay from local only',
    lines: [`table aliases file:${dir}/aliases`, `action "local" ${maildir} alias <aliases>`, `action "relay" ${relay}`, 'match for local action "local"', 'match from local for any action "relay"'],
    cells: (t) => [
      ['local', 'a@localhost', local, 250, false], ['local', 'a@client.test', foreign(t('a1')), 250, true], ['local', '', foreign(t('a2')), 250, true],
      ['socket', 'a@localhost', foreign(t('a3')), 250, true], ['socket', 'a@localhost', 'root@localhost', 250, false],
      ['remote', 'a@client.test', local, 550, false], ['remote', 'a@client.test', foreign(t('a4')), 550, false],
      ['remote', 'a@localhost', foreign(t('a5')), 550, false], ['remote', '', foreign(t('a6')), 550, false],
    ],
  },
  {
    name: '(b) laptop through a smarthost with mail-from rewrite',
    lines: [`table aliases file:${dir}/aliases`, `action "local" ${maildir} alias <aliases>`, `action "outbound" ${relay} mail-from "@example.org"`, 'match from local for local action "local"', 'match from local for any action "outbound"'],
    cells: (t) => [
      ['local', 'me@laptop.test', foreign(t('b1')), 250, true], ['local', 'me@laptop.test', local, 250, false],
      ['remote', 'me@laptop.test', foreign(t('b2')), 550, false], ['remote', 'x@example.org', local, 550, false],
    ],
  },
  {
    name: '(c) primary MX for virtual domains (AUTH submission rule pending)',
    lines: [`table aliases file:${dir}/aliases`, 'table domains { example.org, example.net }', `table virtuals file:${dir}/virtuals`, 'smtp limit max-rcpt 500',
      `action "local" ${maildir} alias <aliases>`, `action "vmail" ${maildir} virtual <virtuals>`, `action "outbound" ${relay} helo mx.example.org`,
      'match from local for local action "local"', 'match from any for domain <domains> action "vmail"', 'match from local for any action "outbound"'],
    cells: (t) => [
      ['remote', 'x@client.test', `${t('c1')}@example.org`, 250, false], ['remote', 'x@client.test', foreign(t('c2')), 550, false],
      ['remote', 'x@example.org', foreign(t('c3')), 550, false], ['remote', 'x@client.test', local, 550, false],
      ['local', 'x@example.org', foreign(t('c4')), 250, true], ['socket', 'x@example.org', foreign(t('c5')), 250, true],
    ],
  },
  {
    name: '(d) backup MX: relays only its domains, rejects the rest',
    lines: ['table relaydomains { example.org, example.com }', `action "backup" ${relay}`, `action "local" ${maildir}`,
      'match from any for domain <relaydomains> action "backup"', 'match from local for local action "local"', 'match from local for any reject'],
    cells: (t) => [
      ['remote', 'x@client.test', `${t('d1')}@example.com`, 250, true], ['remote', 'x@client.test', foreign(t('d2')), 550, false],
      ['local', 'x@client.test', foreign(t('d3')), 550, false], ['local', 'x@client.test', local, 250, false],
    ],
  },
  {
    name: '(e) LMTP hand-off, a list through an mda, anti-spoofing',
    lines: [`table aliases file:${dir}/aliases`, `table virtuals file:${dir}/virtuals`,
      `action "lmtp" ${maildir} virtual <virtuals>`, 'action "mda" mda "cat > /dev/null" virtual <virtuals>', `action "outbound" ${relay}`,
      'match from any for domain "example.org" rcpt-to regex "^list-" action "mda"', 'match from any for domain "example.org" action "lmtp"',
      'match !from local mail-from "@example.org" for any reject', 'match from local for any action "outbound"'],
    cells: (t) => [
      ['remote', 'x@client.test', `list-${t('e1')}@example.org`, 250, false], ['remote', 'x@client.test', `${t('e2')}@example.org`, 250, false],
      ['remote', 'x@client.test', foreign(t('e3')), 550, false], ['remote', 'ceo@example.org', foreign(t('e4')), 550, false],
      ['local', 'ceo@example.org', foreign(t('e5')), 250, true], ['socket', 'x@client.test', foreign(t('e6')), 250, true],
    ],
  },
];

async function open(d: Daemon, src: Source): Promise<RawClient> {
  const c = src === 'socket' ? await RawClient.connectPath(path.join(d.spool, 'enqueue.sock')) : await RawClient.connect(d.port, src === 'remote' ? REMOTE : '127.0.0.1');
  assert.match((await c.waitReplies(1, 5000))[0] ?? '', /^220 /);
  assert.match(await c.command('EHLO matrix.test'), /^250 /);
  return c;
}

/** One transaction; returns the RCPT reply (and sends the message when RCPT was accepted). */
async function cell(d: Daemon, [src, sender, rcpt]: Cell, subject: string): Promise<string> {
  const c = await open(d, src);
  try {
    assert.match(await c.command(`MAIL FROM:<${sender}>`), /^250 /, `${src} MAIL FROM:<${sender}>\n${d.describe()}`);
    const r = await c.command(`RCPT TO:<${rcpt}>`);
    if (r.startsWith('250')) {
      assert.match(await c.command('DATA'), /^354 /);
      assert.match(await c.command(`Subject: ${subject}\r\nFrom: <${sender}>\r\n\r\nmatrix\r\n.`), /^250 /, `${src} ${rcpt}`);
    }
    await c.command('QUIT');
    return r;
  } finally {
    c.destroy();
  }
}

for (const ex of EXAMPLES) {
  test(`no open relay, REFERENCE 1.10 ${ex.name}`, { skip: isRoot() ? false : 'smtp-sink on port 25 needs root' }, async () => {
    const home = path.join(dir, ex.name.slice(1, 2));
    makeSharedDir(home);
    const d = await startDaemon({ dir: home, config: (ctx) => [`listen on 127.0.0.1 port ${ctx.port}`, 'listen on socket', ...ex.lines, ''].join('\n') });
    try {
      const tag = (s: string) => `${s}-${process.pid}`;
      const cells = ex.cells(tag);
      const table: string[] = [];
      for (const c of cells) {
        const r = await cell(d, c, `matrix ${ex.name} ${c[2]}`);
        table.push(`${c[0].padEnd(6)} <${c[1]}> -> <${c[2]}>: ${r}`);
        assert.ok(r.startsWith(String(c[3])), `${c[0]} <${c[1]}> -> <${c[2]}>: expected ${c[3]}, got ${r}\n${d.describe()}`);
        if (c[3] === 550) assert.match(r, /^550 5\.\d\.\d /);
      }
      process.stdout.write(table.map((l) => `# ${l}\n`).join(''));
      const relayed = cells.filter((c) => c[4]).map((c) => c[2]);
      const got = await waitFor(() => {
        const rcpts = sink.messages().flatMap((m) => m.rcptArgs.map((a) => a.replace(/^<|>.*$/g, '')));
        return relayed.every((r) => rcpts.includes(r)) ? rcpts : undefined;
      }, 30_000, 200);
      assert.ok(got, `relayed messages missing at the sink: ${relayed.join(', ')}\n${d.describe()}`);
      await sleep(500);
      const rcpts = sink.messages().flatMap((m) => m.rcptArgs.map((a) => a.replace(/^<|>.*$/g, '')));
      for (const c of cells.filter((x) => !x[4])) assert.ok(!rcpts.includes(c[2]), `${c[2]} reached the sink but no rule relays it`);
      if (ex.name.startsWith('(b)')) {
        const m = sink.messages().find((x) => x.rcptArgs.some((a) => a.includes(tag('b1'))));
        assert.match(m?.mailArgs ?? '', /me@example\.org/, `mail-from rewrite: ${m?.mailArgs}`);
      }
    } finally {
      await d.stop();
    }
  });
}
