// Table backends end to end: a virtual-domain setup on an SQLite database written with the
// `sqlite3` tool and a table-sqlite configuration, an aliases `db:` table built by the real
// makemap binary (and read back with -U), and an external table program (Python, protocol 0.1)
// found in SMTPD_TABLE_DIR that answers a `for domain` check and a virtual lookup, crashes on
// request (a 451, never a 250 or a 550) and is restarted. Mail is read back with Python's mailbox.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { buildMessage, uniqueTag, userMaildir } from './lib/conf.js';
import { pyDir, python3, repoRoot, smtpdBin } from './lib/paths.js';
import { run } from './lib/proc.js';
import { header, showReply, smtpSession, transaction, waitForMessage } from './lib/python.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';
import { ensureUsers } from './lib/users.js';

const users = await ensureUsers(['tsmtpd-e1', 'tsmtpd-e2']);
const skip = users.ok ? false : users.reason;
const [u1 = 'tsmtpd-e1', u2 = 'tsmtpd-e2'] = users.ok ? users.users.map((u) => u.name) : [];
const makemap = path.join(repoRoot, 'packages/smtpctl/bin/makemap.js');
const newaliases = path.join(repoRoot, 'packages/smtpctl/bin/newaliases.js');

function sqliteSetup(dir: string): string {
  const db = path.join(dir, 'mail.sqlite');
  execFileSync('sqlite3', [db], {
    input: [
      'CREATE TABLE domains (domain TEXT PRIMARY KEY);',
      "INSERT INTO domains VALUES ('virt.test');",
      'CREATE TABLE virtuals (email TEXT, destination TEXT);',
      `INSERT INTO virtuals VALUES ('info@virt.test', '${u1}'), ('info@virt.test', '${u2}'), ('alice@virt.test', '${u1}');`,
    ].join('\n'),
  });
  chmodSync(db, 0o644);
  const conf = path.join(dir, 'sqlite.conf');
  writeFileSync(conf, [
    `dbpath ${db}`,
    'query_domain SELECT domain FROM domains WHERE domain = ?',
    'query_alias SELECT destination FROM virtuals WHERE email = ?',
    '',
  ].join('\n'));
  return conf;
}

/** A table-tabletest program in a private SMTPD_TABLE_DIR; its data and request log. */
function tableProgram(dir: string): { tableDir: string; data: string; log: string } {
  const tableDir = path.join(dir, 'libexec');
  mkdirSync(tableDir, { mode: 0o755 });
  const data = path.join(dir, 'ext.json');
  const log = path.join(dir, 'ext.log');
  writeFileSync(data, JSON.stringify({ domain: { 'ext.test': '', 'crash-me': '' }, alias: { 'x@ext.test': u2 } }));
  writeFileSync(log, '');
  chmodSync(data, 0o644);
  chmodSync(log, 0o666); // the program runs as an unprivileged account when we are root
  const prog = path.join(tableDir, 'table-tabletest');
  writeFileSync(prog, `#!/bin/sh\nexec ${python3} ${path.join(pyDir, 'table_program.py')} "$1" ${log}\n`);
  chmodSync(prog, 0o755);
  return { tableDir, data, log };
}

describe('table backends end to end', { skip }, () => {
  const dir = makeTestDir('tables');
  makeSharedDir(path.join(dir, 'mail'));
  let d: Daemon;
  let ext: ReturnType<typeof tableProgram>;

  before(async () => {
    const conf = sqliteSetup(dir);
    ext = tableProgram(dir);
    writeFileSync(path.join(dir, 'aliases'), `# aliases(5)\nstaff: ${u1},\n  ${u2}\npostmaster: root\n`);
    const mm = await run(process.execPath, [makemap, '-t', 'aliases', path.join(dir, 'aliases')], { timeoutMs: 20_000 });
    assert.equal(mm.code, 0, mm.stderr);
    d = await startDaemon({
      dir,
      env: { SMTPD_TABLE_DIR: ext.tableDir },
      config: (ctx) => [
        `listen on 127.0.0.1 port ${ctx.port}`,
        `table domains sqlite:${conf}`,
        `table virtuals sqlite:${conf}`,
        `table aliases db:${path.join(dir, 'aliases')}.db`,
        `table ext tabletest:${ext.data}`,
        `action "virt" maildir "${dir}/mail/%{user.username}/Maildir" virtual <virtuals>`,
        `action "ext" maildir "${dir}/mail/%{user.username}/Maildir" virtual <ext>`,
        `action "local" maildir "${dir}/mail/%{user.username}/Maildir" alias <aliases>`,
        'match from any for domain <domains> action "virt"',
        'match from any for domain <ext> action "ext"',
        'match from any for local action "local"',
        '',
      ].join('\n'),
    });
  });
  after(async () => {
    await d?.stop();
    removeTestDir(dir);
  });

  async function rcptReplies(rcpts: string[]): Promise<string[]> {
    const s = await smtpSession(d.port, [{ op: 'ehlo' }, { op: 'mail', addr: 'sender@client.test' }, ...rcpts.map((r) => ({ op: 'rcpt' as const, addr: r })), { op: 'quit' }]);
    return s.replies.slice(2, 2 + rcpts.length).map(showReply);
  }

  async function deliver(to: string[], tag: string): Promise<void> {
    const msg = buildMessage([`Subject: ${tag}`, 'From: sender@client.test'], ['hello']);
    const s = await smtpSession(d.port, [{ op: 'ehlo' }, ...transaction('sender@client.test', to, msg), { op: 'quit' }]);
    assert.equal(s.replies[2 + to.length]?.code, 250, `${s.replies.map(showReply).join('\n')}\n${d.describe()}`);
  }

  const inbox = (u: string) => userMaildir(dir, u);
  const bySubject = (tag: string) => (m: Parameters<Parameters<typeof waitForMessage>[2]>[0]) => header(m, 'Subject') === tag;

  test('sqlite: a virtual domain and its users, rows of one address joined', async () => {
    const tag = uniqueTag('sqlite');
    await deliver(['info@virt.test', 'alice@virt.test'], tag);
    assert.ok(await waitForMessage('maildir', inbox(u1), bySubject(tag)), d.describe());
    assert.ok(await waitForMessage('maildir', inbox(u2), bySubject(tag)), d.describe());
    const [unknown, foreign] = await rcptReplies(['nobody@virt.test', 'x@elsewhere.test']);
    assert.match(unknown ?? '', /^rcpt: 550 /);
    assert.match(foreign ?? '', /^rcpt: 550 /);
  });

  test('db: an aliases table built by makemap, continuation line included; -U prints it back', async () => {
    const tag = uniqueTag('db');
    await deliver(['staff@localhost'], tag);
    assert.ok(await waitForMessage('maildir', inbox(u1), bySubject(tag)), d.describe());
    assert.ok(await waitForMessage('maildir', inbox(u2), bySubject(tag)), d.describe());
    const dump = await run(process.execPath, [makemap, '-U', path.join(dir, 'aliases.db')], { timeoutMs: 20_000 });
    assert.equal(dump.code, 0, dump.stderr);
    assert.deepEqual(dump.stdout.trim().split('\n').sort(), ['postmaster\troot', `staff\t${u1}, ${u2}`]);
    // newaliases rebuilds a db: alias table from its source text.
    writeFileSync(path.join(dir, 'aliases'), `staff: ${u2}\nextra: ${u1}\n`);
    const na = await run('env', [`SMTPD_TABLE_DIR=${ext.tableDir}`, process.execPath, newaliases, '-f', path.join(dir, 'smtpd.conf')], { timeoutMs: 20_000 });
    assert.equal(na.code, 0, na.stderr);
    assert.match(na.stdout, /aliases\.db: 2 aliases/);
    const again = await run(process.execPath, [makemap, '-U', path.join(dir, 'aliases.db')], { timeoutMs: 20_000 });
    assert.deepEqual(again.stdout.trim().split('\n').sort(), [`extra\t${u1}`, `staff\t${u2}`]);
  });

  test('proc: a table program answers the domain check and the virtual lookup', async () => {
    const tag = uniqueTag('proc');
    await deliver(['x@ext.test'], tag);
    assert.ok(await waitForMessage('maildir', inbox(u2), bySubject(tag)), d.describe());
    const requests = readFileSync(ext.log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string);
    assert.ok(requests.some((l) => /^table\|0\.1\|[\d.]+\|ext\|check\|domain\|[0-9a-f]+\|ext\.test$/.test(l)), requests.join('\n'));
    assert.ok(requests.some((l) => /^table\|0\.1\|[\d.]+\|ext\|lookup\|alias\|[0-9a-f]+\|x@ext\.test$/.test(l)), requests.join('\n'));
    const uid = Number(/^started uid=(\d+)$/.exec(requests[0] ?? '')?.[1]);
    assert.notEqual(uid, 0, 'a root daemon runs table programs as an unprivileged account');
  });

  test('proc: a table program that dies gives 451, never 250 or 550, and is restarted', async () => {
    const [crashed] = await rcptReplies(['a@crash-me']);
    assert.match(crashed ?? '', /^rcpt: 451 /, d.describe());
    let back = '';
    for (let i = 0; i < 30 && !back.startsWith('rcpt: 250'); i++) {
      await new Promise((r) => setTimeout(r, 200));
      back = (await rcptReplies(['x@ext.test']))[0] ?? '';
    }
    assert.match(back, /^rcpt: 250 /, d.describe());
    assert.match(d.describe(), /table program exited/);
  });
});

describe('db tables from OpenSMTPD', () => {
  test('smtpd -n refuses a Berkeley DB file and says to rebuild it with makemap', async () => {
    const dir = makeTestDir('tables-bdb');
    try {
      const bdb = Buffer.alloc(4096);
      bdb.writeUInt32LE(0x061561, 12);
      writeFileSync(path.join(dir, 'aliases.db'), bdb);
      writeFileSync(path.join(dir, 'smtpd.conf'), `table aliases db:${dir}/aliases.db\naction "l" mbox alias <aliases>\nmatch for local action "l"\n`);
      const r = await run(process.execPath, [smtpdBin, '-n', '-f', path.join(dir, 'smtpd.conf')], { timeoutMs: 20_000 });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, new RegExp(`smtpd\\.conf:1: .*Berkeley DB file .*rebuild it with tsmtpd's makemap`), r.stderr);
    } finally {
      removeTestDir(dir);
    }
  });

  test('makemap: a malformed source names the line; a list without -t set is refused', async () => {
    const dir = makeTestDir('tables-mm');
    try {
      writeFileSync(path.join(dir, 'a'), 'root: alice\n  continued\nbroken line\n');
      const bad = await run(process.execPath, [makemap, '-t', 'aliases', path.join(dir, 'a')], { timeoutMs: 20_000 });
      assert.equal(bad.code, 65);
      assert.match(bad.stderr, /a:3: expected "name: value"/);
      writeFileSync(path.join(dir, 'l'), 'example.org\nexample.net\n');
      const list = await run(process.execPath, [makemap, path.join(dir, 'l')], { timeoutMs: 20_000 });
      assert.notEqual(list.code, 0);
      assert.match(list.stderr, /use -t set/);
      const set = await run(process.execPath, [makemap, '-t', 'set', '-o', path.join(dir, 'domains.db'), path.join(dir, 'l')], { timeoutMs: 20_000 });
      assert.equal(set.code, 0, set.stderr);
      const dump = await run(process.execPath, [makemap, '-U', path.join(dir, 'domains.db')], { timeoutMs: 20_000 });
      assert.deepEqual(dump.stdout.trim().split('\n'), ['example.net', 'example.org']);
    } finally {
      removeTestDir(dir);
    }
  });
});
