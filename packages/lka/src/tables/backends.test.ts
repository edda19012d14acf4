// The db, sqlite, passwd and proc backends against real files and programs: a db table written
// by our writer, an SQLite database made with the `sqlite3` tool and a table-sqlite
// configuration, a passwd-format file, and a Python table program speaking protocol 0.1
// (test/lib/py/table_program.py) that also crashes and stalls on request.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeTableDb } from '@tsmtpd/config';
import { DbTableBackend } from './db.js';
import { PasswdTableBackend } from './passwd.js';
import { ProcTableBackend } from './proc.js';
import { SqliteTableBackend } from './sqlite.js';
import { Table } from './table.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lka-backends-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const tableProgram = path.join(repoRoot, 'test/lib/py/table_program.py');
const put = (name: string, text: string): string => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};

test('db: lookups from the file, matching on its content, a reload sees a rebuilt file', async () => {
  const p = path.join(dir, 'aliases.db');
  writeTableDb(p, 'map', [['Root', 'alice, bob'], ['postmaster', 'root']]);
  const b = new DbTableBackend(p);
  await b.open();
  const t = new Table('aliases', b);
  assert.deepEqual(await t.lookup('ROOT', 'alias'), { found: true, value: 'alice, bob' });
  assert.deepEqual(await t.lookup('nobody', 'alias'), { found: false });
  assert.equal(t.match('string', 'postmaster'), true);
  writeTableDb(p, 'map', [['root', 'carol']]);
  assert.deepEqual(await t.lookup('root', 'alias'), { found: true, value: 'alice, bob' }, 'the open file until update');
  await t.update();
  assert.deepEqual(await t.lookup('root', 'alias'), { found: true, value: 'carol' });
  assert.equal(t.match('string', 'postmaster'), false);
  renameSync(put('garbage', 'garbage'), p); // replaced as makemap does, by a rename
  await assert.rejects(t.update(), /not a db table/);
  assert.deepEqual(await t.lookup('root', 'alias'), { found: true, value: 'carol' }, 'a failed reload keeps the table');
  b.close();
});

test('db: a set is a list for the matching services', async () => {
  const p = path.join(dir, 'domains.db');
  writeTableDb(p, 'set', [['Example.org', ''], ['*.example.net', '']]);
  const t = new Table('domains', new DbTableBackend(p));
  assert.equal(t.match('domain', 'example.org'), true);
  assert.equal(t.match('domain', 'mx.example.net'), true);
  assert.equal(t.match('domain', 'example.com'), false);
});

function sqliteDb(): string {
  const db = path.join(dir, 'virtual.sqlite');
  rmSync(db, { force: true });
  execFileSync('sqlite3', [db], {
    input: [
      'CREATE TABLE domains (domain TEXT PRIMARY KEY);',
      "INSERT INTO domains VALUES ('example.org'), ('example.net');",
      'CREATE TABLE virtuals (email TEXT, destination TEXT);',
      "INSERT INTO virtuals VALUES ('info@example.org', 'alice@example.org'), ('info@example.org', 'bob@example.org'), ('alice@example.org', 'vmail');",
      'CREATE TABLE users (username TEXT PRIMARY KEY, password TEXT, uid INT, gid INT, home TEXT);',
      "INSERT INTO users VALUES ('alice@example.org', '$6$salt$hash', 5000, 5000, '/var/vmail/example.org/alice');",
      'CREATE TABLE sources (ip TEXT);',
      "INSERT INTO sources VALUES ('192.0.2.1'), ('192.0.2.2');",
    ].join('\n'),
  });
  return db;
}

test('sqlite: the table-sqlite configuration, every query kind, rows joined for aliases', async () => {
  const db = sqliteDb();
  const conf = put('sqlite.conf', [
    '# table-sqlite configuration',
    `dbpath ${db}`,
    'query_domain SELECT domain FROM domains WHERE domain = ?;',
    'query_alias: SELECT destination FROM virtuals WHERE email = ?;',
    'query_credentials SELECT username, password FROM users WHERE username = ?;',
    'query_userinfo SELECT uid, gid, home FROM users WHERE username = ?;',
    'fetch_source SELECT ip FROM sources',
    '',
  ].join('\n'));
  const b = new SqliteTableBackend(conf);
  await b.open();
  const t = new Table('virtual', b);
  assert.equal(t.match('domain', 'EXAMPLE.org'), true);
  assert.equal(t.match('domain', 'example.com'), false);
  assert.equal(t.match('netaddr', '192.0.2.1'), 'error', 'no query_netaddr: an error, never a guess');
  assert.deepEqual(await t.lookup('info@example.org', 'alias'), { found: true, value: 'alice@example.org, bob@example.org' });
  assert.deepEqual(await t.lookup('alice@example.org', 'credentials'), { found: true, value: 'alice@example.org:$6$salt$hash' });
  assert.deepEqual(await t.lookup('alice@example.org', 'userinfo'), { found: true, value: '5000:5000:/var/vmail/example.org/alice' });
  assert.deepEqual(await t.lookup('nobody@example.org', 'userinfo'), { found: false });
  assert.deepEqual(await b.fetch(), { values: ['192.0.2.1', '192.0.2.2'] });
  b.close();
});

test('sqlite: configuration and query errors name the file and line, a failed reload keeps the old queries', async () => {
  const db = sqliteDb();
  const bad = async (text: string, re: RegExp) => {
    const b = new SqliteTableBackend(put('bad.conf', text));
    await assert.rejects(b.open(), re);
    assert.ok('error' in (await new Table('x', b).lookup('k', 'alias')));
  };
  await bad('query_alias SELECT 1\n', /no dbpath/);
  await bad(`dbpath ${db}\nquery_bogus SELECT 1\n`, /bad\.conf:2: unknown key query_bogus/);
  await bad(`dbpath ${db}\nquery_userinfo SELECT uid FROM users WHERE username = ?\n`, /query_userinfo: returns 1 columns, 3 expected/);
  await bad(`dbpath ${db}\nquery_alias SELEKT\n`, /query_alias: .*syntax error/);
  await bad(`dbpath ${path.join(dir, 'missing.sqlite')}\n`, /unable to open|does not exist|directory/i);
  const conf = put('good.conf', `dbpath ${db}\nquery_domain SELECT domain FROM domains WHERE domain = ?\n`);
  const b = new SqliteTableBackend(conf);
  await b.open();
  writeFileSync(conf, 'dbpath\n');
  await assert.rejects(b.update(), /missing value/);
  assert.equal(b.check('domain', 'example.org'), true);
  b.close();
});

test('passwd: credentials and userinfo from a passwd-format file; a bad line refuses the file', async () => {
  const p = put('passwd', 'alice:$2b$10$abcdefghijklmnopqrstuv:1001:1001:Alice:/home/alice:/bin/sh\nbob::1002:1002::/home/bob:/bin/sh:extra\n# comment\n');
  const b = new PasswdTableBackend(p);
  await b.open();
  const t = new Table('secrets', b);
  assert.deepEqual(await t.lookup('Alice', 'credentials'), { found: true, value: 'alice:$2b$10$abcdefghijklmnopqrstuv' });
  assert.deepEqual(await t.lookup('bob', 'credentials'), { found: false }, 'no password: no credentials');
  assert.deepEqual(await t.lookup('bob', 'userinfo'), { found: true, value: '1002:1002:/home/bob' });
  assert.ok('error' in (await t.lookup('alice', 'alias')));
  assert.equal(t.match('string', 'alice'), true);
  writeFileSync(p, 'alice:x:1001\n');
  await assert.rejects(b.update(), /passwd:1: invalid entry \(fewer than 6 fields\)/);
  assert.deepEqual(await t.lookup('bob', 'userinfo'), { found: true, value: '1002:1002:/home/bob' });
});

function procTable(data: unknown, o: { timeoutMs?: number } = {}) {
  const dataFile = put(`proc-${Math.random().toString(16).slice(2)}.json`, JSON.stringify(data));
  const logFile = `${dataFile}.log`;
  const events: string[] = [];
  const b = new ProcTableBackend({
    name: 'ext', argv: ['python3', tableProgram, dataFile, logFile], runAs: async () => null,
    log: (event) => void events.push(event), requestTimeoutMs: o.timeoutMs ?? 2000,
  });
  return { b, t: new Table('ext', b), dataFile, logFile, events };
}

test('proc: handshake, check, lookup, fetch, update, many requests in flight', async () => {
  const { b, t, dataFile, logFile } = procTable({ domain: { 'example.org': '' }, alias: { root: 'alice, bob' }, source: { a: '192.0.2.9' } });
  await b.open();
  assert.equal(await t.match('domain', 'Example.ORG'), true);
  assert.equal(await t.match('domain', 'example.com'), false);
  assert.deepEqual(await t.lookup('root', 'alias'), { found: true, value: 'alice, bob' });
  assert.deepEqual(await t.lookup('nope', 'alias'), { found: false });
  assert.ok('error' in (await t.lookup('x', 'userinfo')), 'a service it did not register');
  assert.deepEqual(await b.fetch(), { values: ['192.0.2.9'] });
  const many = await Promise.all(Array.from({ length: 50 }, (_, i) => t.lookup(i % 2 ? 'root' : 'nope', 'alias')));
  assert.equal(many.filter((r) => 'found' in r && r.found).length, 25);
  writeFileSync(dataFile, JSON.stringify({ domain: { 'example.com': '' }, alias: {}, source: {} }));
  await t.update();
  assert.equal(await t.match('domain', 'example.com'), true);
  const lines = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string).slice(1);
  assert.deepEqual(lines.slice(0, 4).map((l) => l.split('|').slice(0, 2).join('|')), ['config|smtpd-version', 'config|protocol', 'config|tablename', 'config|ready']);
  assert.ok(lines.some((l) => /^table\|0\.1\|\d+\.\d+\|ext\|lookup\|alias\|[0-9a-f]{16}\|root$/.test(l)), lines.join('\n'));
  b.close();
});

test('proc: a key with CR or LF never reaches the program', async () => {
  const { b, t, logFile } = procTable({ alias: { root: 'alice' } });
  await b.open();
  assert.match(String((await t.lookup('root\nfoo', 'alias') as { error?: string }).error), /CR, LF or NUL/);
  assert.ok(!readFileSync(logFile, 'utf8').includes('foo'));
  b.close();
});

test('proc: a program that stalls times out, one that crashes fails its requests and is restarted', async () => {
  const { b, t, events } = procTable({ alias: { root: 'alice' } }, { timeoutMs: 500 });
  await b.open();
  const started = Date.now();
  assert.ok('error' in (await t.lookup('stall-me', 'alias')));
  assert.ok(Date.now() - started < 2000, 'bounded wait');
  const [crash, inFlight] = await Promise.all([t.lookup('crash-me', 'alias'), t.lookup('root', 'alias')]);
  assert.ok('error' in crash);
  assert.ok('error' in inFlight || ('found' in inFlight && inFlight.found), 'answered, never hung');
  assert.ok(events.includes('table program exited'), events.join(','));
  let back = false;
  for (let i = 0; i < 40 && !back; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const r = await t.lookup('root', 'alias');
    back = 'found' in r && r.found;
  }
  assert.ok(back, 'restarted and answering again');
  b.close();
});

test('proc: a program that breaks the protocol or never registers is an error, not a hang', async () => {
  const noise = put('noise.sh', '#!/bin/sh\necho "hello there"\nsleep 5\n');
  const b = new ProcTableBackend({ name: 'n', argv: ['sh', noise], runAs: async () => null, log: () => {}, handshakeTimeoutMs: 1000 });
  await assert.rejects(b.open(), /broke the protocol|exited/);
  const silent = new ProcTableBackend({ name: 's', argv: ['sleep', '5'], runAs: async () => null, log: () => {}, handshakeTimeoutMs: 500 });
  await assert.rejects(silent.open(), /no handshake/);
  b.close();
  silent.close();
});
