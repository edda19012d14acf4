// End-to-end: hostile clients against a daemon whose actions are an `mda` command and a maildir.
// CVE-2020-7247 payloads (REFERENCE 14.2) never run a command; SMTP smuggling variants (bare LF,
// bare CR around the dot) never end DATA nor yield a second message (read back with Python's
// mailbox); command and DATA line limits; idle, slow-drip and early-talker clients are cut.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { deliverableUser, uniqueTag, userMaildir } from './lib/conf.js';
import { header, readMailbox } from './lib/python.js';
import { sleep, waitFor } from './lib/proc.js';
import { RawClient } from './lib/raw.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const dir = makeTestDir('hostile');
makeSharedDir(`${dir}/mail`);
const markers = makeSharedDir(`${dir}/markers`);
const out = makeSharedDir(`${dir}/out`);
const user = await deliverableUser('tsmtpd-e1');
const maildir = userMaildir(dir, user);
let d: Daemon;

/** The mda command: its arguments one per line, then the environment's SENDER and recipient. */
const recorder = path.join(dir, 'record.sh');
writeFileSync(recorder, [
  '#!/bin/sh',
  `f="${out}/$$"`,
  `printf '%s\\n' "$@" > "$f.tmp"`,
  `printf 'SENDER=%s\\nRCPT=%s\\n' "$SENDER" "$ORIGINAL_RECIPIENT" >> "$f.tmp"`,
  'cat > /dev/null',
  'mv "$f.tmp" "$f.args"',
  '',
].join('\n'));
chmodSync(recorder, 0o755);
writeFileSync(path.join(dir, 'virtuals'), `@example.org ${user}\n`);

before(async () => {
  d = await startDaemon({
    dir,
    extraArgs: ['--greeting-delay', '300'],
    config: (ctx) => [
      'smtp limit idle-timeout 3s line-timeout 2s',
      `table virt file:${dir}/virtuals`,
      `listen on 127.0.0.1 port ${ctx.port}`,
      `action "local" maildir "${dir}/mail/%{user.username}/Maildir"`,
      `action "cmd" mda "${recorder} %{sender} %{rcpt} %{sender.user} %{rcpt.user:raw} %{dest}" virtual <virt>`,
      'match from any for domain "example.org" action "cmd"',
      'match from any for local action "local"',
      '',
    ].join('\n'),
  });
});
after(async () => {
  await d?.stop();
  removeTestDir(dir);
});

/** A greeted, EHLO'd raw session. */
async function session(): Promise<RawClient> {
  const c = await RawClient.connect(d.port);
  const banner = await c.waitReplies(1, 5000);
  assert.match(banner[0] ?? '', /^220 /, `no greeting: ${banner.join(' | ')}\n${d.describe()}`);
  assert.match(await c.command('EHLO client.test'), /^250 /);
  return c;
}

const m = (name: string) => path.join(markers, name);

test('CVE-2020-7247: invalid payloads are refused at MAIL (553) and RCPT (501), nothing runs', async () => {
  const payloads = [
    ';sleep 66;', `;touch ${m('c1')};`, `\`touch ${m('c2')}\``, `$(touch ${m('c3')})`, `a|touch ${m('c4')}`,
    `;touch\${IFS}${m('c5')};@example.org`, 'root', `root@`, `@example.org`, 'a@b@example.org',
  ];
  const c = await session();
  for (const p of payloads) {
    assert.match(await c.command(`MAIL FROM:<${p}>`), /^553 5\.1\.7 /, `MAIL FROM:<${p}>`);
  }
  assert.match(await c.command('MAIL FROM:<ok@client.test>'), /^250 /);
  for (const p of payloads) {
    assert.match(await c.command(`RCPT TO:<${p}>`), /^501 5\.1\.3 /, `RCPT TO:<${p}>`);
  }
  assert.match(await c.command('QUIT'), /^221 /);
  c.destroy();
  assert.deepEqual(readdirSync(markers), [], 'a payload ran a command');
});

test('CVE-2020-7247: shell payloads that ARE valid addresses reach the mda command sanitised, never run', async () => {
  const senders = [`\`touch\${IFS}${m('s1')}\`@client.test`, `"$(touch\${IFS}${m('s2')})"@client.test`, `"x;touch\${IFS}${m('s3')};"@client.test`, `a|touch\${IFS}${m('s4')}@client.test`];
  const rcpts = [`\`touch\${IFS}${m('r1')}\`@example.org`, `"$(touch\${IFS}${m('r2')})"@example.org`, `"|touch\${IFS}${m('r3')}"@example.org`, `-oQ/tmp/x\${IFS}${m('r4')}@example.org`];
  const c = await session();
  for (let i = 0; i < senders.length; i++) {
    assert.match(await c.command(`MAIL FROM:<${senders[i]}>`), /^250 /, senders[i]);
    assert.match(await c.command(`RCPT TO:<${rcpts[i]}>`), /^250 /, rcpts[i]);
    assert.match(await c.command('DATA'), /^354 /);
    assert.match(await c.command(`Subject: payload ${i}\r\n\r\nbody\r\n.`), /^250 2\.0\.0 /);
  }
  await c.command('QUIT');
  c.destroy();
  const files = await waitFor(() => {
    const f = readdirSync(out).filter((n) => n.endsWith('.args'));
    return f.length >= senders.length ? f : undefined;
  }, 30_000, 200);
  assert.ok(files, `only ${readdirSync(out).length} of ${senders.length} mda runs recorded\n${d.describe()}`);
  await sleep(500); // a command a payload might have started in the background
  assert.deepEqual(readdirSync(markers), [], 'a payload ran a command');
  const seen = new Set<string>();
  for (const f of files) {
    const lines = readFileSync(path.join(out, f), 'utf8').trimEnd().split('\n');
    const args = lines.slice(0, 5);
    assert.equal(args.length, 5, `the shell split an argument: ${JSON.stringify(lines)}`);
    for (const a of args) assert.match(a, /^[A-Za-z0-9._+=@:-]*$/, `unsanitised argument ${JSON.stringify(a)}`);
    assert.ok(!args[1]!.startsWith('-'), 'an argument starts with "-"');
    // The raw addresses reach the command only through the environment.
    const sender = lines[5]?.replace(/^SENDER=/, '') ?? '';
    seen.add(sender);
  }
  for (const s of senders) assert.ok(seen.has(s), `SENDER ${s} not in the environment: ${[...seen].join(' | ')}`);
});

const VARIANTS: Record<string, string> = {
  'LF.LF': '\n.\n', 'LF.CRLF': '\n.\r\n', 'CRLF.LF': '\r\n.\n', 'CR.CRLF': '\r.\r\n',
  'CRLF.CR': '\r\n.\r', 'CR.CR': '\r.\r', 'LF.CR': '\n.\r', 'CR.LF': '\r.\n',
};

test('SMTP smuggling: no bare-LF/CR dot ends DATA, no hidden second message', async () => {
  const tag = uniqueTag('smuggle');
  for (const [name, seq] of Object.entries(VARIANTS)) {
    const c = await session();
    assert.match(await c.command('MAIL FROM:<outer@client.test>'), /^250 /);
    assert.match(await c.command(`RCPT TO:<${user}@localhost>`), /^250 /);
    assert.match(await c.command('DATA'), /^354 /);
    const before = c.replies().length;
    c.write(`Subject: ${tag} ${name}\r\n\r\nvisible${seq}MAIL FROM:<smuggler@client.test>\r\nRCPT TO:<${user}@localhost>\r\nDATA\r\n` +
      `Subject: SMUGGLED ${tag} ${name}\r\n\r\nhidden\r\n.\r\n`);
    // A lenient server would have ended DATA at the variant and answered MAIL, RCPT, DATA and a
    // second message here; a strict one sees one message, ended by the only CRLF.CRLF.
    const r = await c.waitReplies(before + 1, 10_000);
    assert.match(r[before] ?? '', /^250 2\.0\.0 /, `${name}: ${c.lines().join(' | ')}\n${d.describe()}`);
    await sleep(300);
    assert.match(await c.command('QUIT'), /^221 /, `${name}: ${JSON.stringify(c.lines())}`);
    assert.equal(c.replies().length, before + 2, `${name}: extra replies ${c.replies().slice(before).join(' | ')}`);
    c.destroy();
  }
  const n = Object.keys(VARIANTS).length;
  const msgs = await waitFor(async () => {
    const all = (await readMailbox('maildir', maildir)).filter((x) => (header(x, 'subject') ?? '').includes(tag));
    return all.length >= n ? all : undefined;
  }, 30_000, 300);
  assert.ok(msgs, `not all ${n} messages arrived\n${d.describe()}`);
  await sleep(500);
  const all = (await readMailbox('maildir', maildir)).filter((x) => (header(x, 'subject') ?? '').includes(tag));
  assert.equal(all.length, n, `subjects: ${all.map((x) => header(x, 'subject')).join(' | ')}`);
  for (const x of all) {
    assert.ok(!(header(x, 'subject') ?? '').startsWith('SMUGGLED'), 'a smuggled message was stored');
    assert.ok(x.body.includes(Buffer.from('SMUGGLED')) && x.body.includes(Buffer.from('hidden')), `${header(x, 'subject')}: body ${JSON.stringify(x.body.toString())}`);
  }
});

test('line limits: a 1500-octet command passes, 3000 octets is 500 5.5.2 and a close; a 70000-octet DATA line is refused', async () => {
  const c = await session();
  assert.match(await c.command(`NOOP ${'x'.repeat(1500)}`), /^250 /);
  assert.match(await c.command('MAIL FROM:<long@client.test>'), /^250 /);
  assert.match(await c.command(`RCPT TO:<${user}@localhost>`), /^250 /);
  assert.match(await c.command('DATA'), /^354 /);
  assert.match(await c.command(`Subject: long line\r\n\r\n${'y'.repeat(10_000)}\r\n${'z'.repeat(70_000)}\r\nend\r\n.`), /^554 5\.6\.0 /);
  assert.match(await c.command('NOOP'), /^250 /, 'the session stays usable after the refusal');
  assert.match(await c.command(`NOOP ${'x'.repeat(3000)}`), /^500 5\.5\.2 /);
  assert.ok(await c.waitClosed(5000), 'the connection stays open after a too-long command');
});

test('an idle client gets 421 4.4.2 at the idle timeout (3 s)', async () => {
  const c = await session();
  const t0 = Date.now();
  assert.ok(await c.waitClosed(10_000), 'an idle client was never cut');
  const ms = Date.now() - t0;
  assert.match(c.replies().at(-1) ?? '', /^421 4\.4\.2 /);
  assert.ok(ms >= 2500 && ms < 8000, `cut after ${ms} ms`);
});

test('slow drip: a byte every 700 ms keeps no command (nor DATA line) alive past the line timeout (2 s)', async () => {
  for (const inData of [false, true]) {
    const c = await session();
    if (inData) {
      assert.match(await c.command('MAIL FROM:<drip@client.test>'), /^250 /);
      assert.match(await c.command(`RCPT TO:<${user}@localhost>`), /^250 /);
      assert.match(await c.command('DATA'), /^354 /);
    }
    const t0 = Date.now();
    for (let i = 0; i < 14 && !c.closed; i++) {
      c.write('N');
      await sleep(700);
    }
    const ms = Date.now() - t0;
    assert.ok(c.closed, `the drip was never cut (in DATA: ${inData})`);
    assert.match(c.replies().at(-1) ?? '', /^421 4\.4\.2 Line timeout/, c.replies().join(' | '));
    assert.ok(ms < 6000, `cut after ${ms} ms`);
  }
});

test('early talkers: bytes before the greeting (even half a line) get 421 4.7.0 and a close', async () => {
  for (const early of ['EHLO client.test\r\n', 'EH']) {
    const c = await RawClient.connect(d.port);
    c.write(early);
    assert.ok(await c.waitClosed(5000), `not closed after ${JSON.stringify(early)}`);
    assert.deepEqual(c.replies(), ['421 4.7.0 You talk too soon'], JSON.stringify(early));
  }
  const ok = await session(); // a patient client is greeted
  ok.destroy();
});
