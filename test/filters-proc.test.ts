// End-to-end: filter processes speaking protocol 0.7 (smtpd-filters(7)) against the daemon. The
// filter is test/lib/py/demo_filter.py, written from the manual page in Python: it refuses a sender
// with its own reply, marks junk, rewrites the body through data-line, tags messages (a chain of
// three instances), crashes or never answers. Mail is read back with Python's mailbox module.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, startDaemon, type Daemon } from './lib/daemon.js';
import { buildMessage, deliverableUser, uniqueTag, userMaildir } from './lib/conf.js';
import { header, readMailbox, showReply, smtpSession, transaction, waitForMessage, type SmtpReply } from './lib/python.js';
import { pyDir, python3 } from './lib/paths.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const dir = makeTestDir('filters');
makeSharedDir(`${dir}/mail`);
const logs = makeSharedDir(`${dir}/logs`);
const user = await deliverableUser('tsmtpd-f1');
const rcpt = `${user}@localhost`;
const demo = `${python3} ${path.join(pyDir, 'demo_filter.py')}`;
const TIMEOUT_S = 2;
let d: Daemon;
const chainPort = await freePort();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

before(async () => {
  d = await startDaemon({
    dir,
    env: { SMTPD_FILTER_TIMEOUT: String(TIMEOUT_S) },
    config: (ctx) => [
      `proc "shared" "${demo} --log ${logs}/main.log --reject-sender spammer --junk-sender junky --rewrite SECRET=[redacted] --crash-sender crashme --stall-sender stallme"`,
      'filter "main" proc "shared"',
      `filter "a" proc-exec "${demo} --tag A --log ${logs}/a.log"`,
      `filter "b" proc-exec "${demo} --tag B"`,
      `filter "c" proc-exec "${demo} --tag C --rewrite SECRET=[c]"`,
      'filter "three" chain { "a", "b", "c" }',
      `listen on 127.0.0.1 port ${ctx.port} filter "main"`,
      `listen on 127.0.0.1 port ${chainPort} filter "three"`,
      `action "local" maildir "${ctx.dir}/mail/%{user.username}/Maildir"`,
      'match from any for local action "local"',
    ].join('\n') + '\n',
  });
});
after(async () => {
  await d?.stop();
  removeTestDir(dir);
});

const maildir = () => userMaildir(dir, user);

function ok(r: SmtpReply | undefined, code: number): void {
  assert.ok(r && r.error === undefined && r.code === code, `${showReply(r)}\n${d.describe()}`);
}

async function send(port: number, from: string, subject: string, body: string[]): Promise<SmtpReply[]> {
  const msg = buildMessage([`From: <${from}>`, `To: <${rcpt}>`, `Subject: ${subject}`], body);
  const s = await smtpSession(port, [{ op: 'ehlo', name: 'client.test' }, ...transaction(from, [rcpt], msg), { op: 'quit' }]);
  return s.replies;
}

async function stored(subject: string) {
  return waitForMessage('maildir', maildir(), (m) => header(m, 'subject') === subject);
}

test('a filter refuses a sender with its own reply; other senders pass', async () => {
  const r = await send(d.port, 'spammer@example.test', uniqueTag('spam'), ['x']);
  assert.equal(r[1]?.code, 550, showReply(r[1]));
  assert.match(r[1]?.text ?? '', /^5\.7\.1 demo filter refuses spammer@example\.test/);
  const subject = uniqueTag('fine');
  const r2 = await send(d.port, 'fine@example.test', subject, ['hello']);
  ok(r2[3], 250);
  assert.ok(await stored(subject));
});

test('junk adds X-Spam: Yes; data-line rewrites the body; dot-stuffed lines survive the round trip', async () => {
  const subject = uniqueTag('junk');
  const r = await send(d.port, 'junky@example.test', subject, ['a SECRET here', '.leading dot', '..two dots', '.']);
  ok(r[3], 250);
  const m = await stored(subject);
  assert.ok(m, d.describe());
  assert.equal(header(m, 'x-spam'), 'Yes');
  assert.equal(m.body.toString(), 'a [redacted] here\n.leading dot\n..two dots\n.\n');
  const plain = uniqueTag('plain');
  ok((await send(d.port, 'fine@example.test', plain, ['no junk']))[3], 250);
  const p = await stored(plain);
  assert.equal(p && header(p, 'x-spam'), undefined);
});

test('a chain of three filters: each sees the previous one\'s output, in order', async () => {
  const subject = uniqueTag('chain');
  const r = await send(chainPort, 'fine@example.test', subject, ['one SECRET', '.dot']);
  ok(r[3], 250);
  const m = await stored(subject);
  assert.ok(m, d.describe());
  // A adds its tag first, B puts its own above it, C above both: C, B, A from the top.
  const tags = m.headers.filter(([k]) => k.toLowerCase() === 'x-chain').map(([, v]) => v);
  assert.deepEqual(tags, ['C', 'B', 'A']);
  assert.equal(m.body.toString(), 'one [c]\n.dot\n');
});

test('many sessions at once share one filter process', async () => {
  const subjects = Array.from({ length: 12 }, (_, i) => uniqueTag(`par${i}`));
  const replies = await Promise.all(subjects.map((s) => send(d.port, 'fine@example.test', s, ['SECRET line'])));
  for (const r of replies) ok(r[3], 250);
  const all = await readMailbox('maildir', maildir());
  for (const s of subjects) {
    const m = all.find((x) => header(x, 'subject') === s);
    assert.equal(m?.body.toString(), '[redacted] line\n', s);
  }
  const starts = readFileSync(`${logs}/main.log`, 'utf8').split('\n').filter((l) => l === 'config|ready').length;
  assert.ok(starts >= 1);
});

test('the report stream: link-connect, tx-* and link-disconnect with one session id, fields in place', async () => {
  const subject = uniqueTag('reports');
  ok((await send(chainPort, 'Odd|Sender@example.test', subject, ['x']))[3], 250);
  const lines = readFileSync(`${logs}/a.log`, 'utf8').split('\n');
  const mail = lines.filter((l) => l.includes('|filter|') || l.startsWith('filter|')).find((l) => l.includes('|mail-from|') && l.includes('Odd|Sender'));
  assert.ok(mail, 'the filter saw the mail-from phase');
  const f = mail.split('|');
  assert.equal(f[0], 'filter');
  assert.equal(f[1], '0.7');
  assert.match(f[2] ?? '', /^\d+\.\d{6}$/);
  assert.equal(f[3], 'smtp-in');
  assert.match(f[5] ?? '', /^[0-9a-f]{16}$/);
  assert.match(f[6] ?? '', /^[0-9a-f]{16}$/);
  assert.equal(f.slice(7).join('|'), 'Odd|Sender@example.test'); // only the last field holds '|'
  const sid = f[5] as string;
  const events = lines.filter((l) => l.startsWith('report|') && l.split('|')[5] === sid).map((l) => l.split('|')[4]);
  for (const e of ['link-connect', 'link-greeting', 'link-identify', 'tx-begin', 'tx-mail', 'tx-rcpt', 'tx-envelope', 'tx-data', 'tx-commit', 'protocol-client', 'protocol-server', 'filter-response', 'link-disconnect']) {
    assert.ok(events.includes(e), `no ${e} in ${events.join(',')}`);
  }
  const connect = lines.find((l) => l.startsWith('report|') && l.includes('|link-connect|' + sid))?.split('|');
  assert.equal(connect?.length, 10);
  assert.match(connect?.[8] ?? '', /^127\.0\.0\.1:\d+$/);
  assert.equal(connect?.[9], `127.0.0.1:${chainPort}`);
  for (const l of lines) assert.ok(!/[\r\0]/.test(l), 'no CR or NUL crosses the protocol');
});

test('a filter that crashes: 421 at once, nothing accepted, daemon alive, filter restarted', async () => {
  const subject = uniqueTag('crash');
  const t0 = Date.now();
  const r = await send(d.port, 'crashme@example.test', subject, ['x']);
  assert.equal(r[1]?.code, 421, showReply(r[1]));
  assert.ok(Date.now() - t0 < 5000);
  assert.ok(alive(d.pid), d.describe());
  const again = uniqueTag('after-crash');
  let reply: SmtpReply | undefined;
  for (let i = 0; i < 40 && reply?.code !== 250; i++) {
    reply = (await send(d.port, 'fine@example.test', again, ['SECRET']))[3];
    if (reply?.code !== 250) await new Promise((res) => setTimeout(res, 250));
  }
  ok(reply, 250);
  const m = await stored(again);
  assert.equal(m?.body.toString(), '[redacted]\n', 'the restarted filter filters again');
  const all = await readMailbox('maildir', maildir());
  assert.ok(!all.some((x) => header(x, 'subject') === subject), 'nothing accepted from the crashed session');
  assert.match(d.output(), /crashing on purpose/, 'the filter\'s stderr is logged');
});

test('a filter that never answers: 421 within the bounded wait, nothing accepted, filter restarted', async () => {
  const subject = uniqueTag('stall');
  const t0 = Date.now();
  const r = await send(d.port, 'stallme@example.test', subject, ['x']);
  const ms = Date.now() - t0;
  assert.equal(r[1]?.code, 421, showReply(r[1]));
  assert.ok(ms >= TIMEOUT_S * 1000 - 100 && ms < TIMEOUT_S * 1000 + 4000, `answered after ${ms} ms`);
  assert.ok(alive(d.pid), d.describe());
  const again = uniqueTag('after-stall');
  let reply: SmtpReply | undefined;
  for (let i = 0; i < 40 && reply?.code !== 250; i++) {
    reply = (await send(d.port, 'fine@example.test', again, ['x']))[3];
    if (reply?.code !== 250) await new Promise((res) => setTimeout(res, 250));
  }
  ok(reply, 250);
  const all = await readMailbox('maildir', maildir());
  assert.ok(!all.some((x) => header(x, 'subject') === subject));
});

test('a HELO holding "|" stays one field for the filter, last as the protocol allows', async () => {
  const subject = uniqueTag('helo');
  const msg = buildMessage([`Subject: ${subject}`], ['x']);
  const s = await smtpSession(chainPort, [{ op: 'ehlo', name: 'pipe|name.test' }, ...transaction('fine@example.test', [rcpt], msg), { op: 'quit' }]);
  ok(s.replies[3], 250);
  const lines = readFileSync(`${logs}/a.log`, 'utf8').split('\n');
  const id = lines.find((l) => l.includes('|link-identify|') && l.endsWith('|pipe|name.test'));
  assert.ok(id, 'link-identify seen');
  const f = id.split('|');
  assert.equal(f[4], 'link-identify');
  assert.match(f[5] ?? '', /^[0-9a-f]{16}$/);
  assert.equal(f[6], 'EHLO');
  assert.equal(f.slice(7).join('|'), 'pipe|name.test');
});
