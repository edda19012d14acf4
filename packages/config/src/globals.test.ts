// Global options and declarations: defaults, smtp, queue, bounce, mta, mda, scheduler, srs, admd,
// pki, ca, table, macros, include.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { relative } from 'node:path';
import { writeTableDb } from './table-db.js';
import { parseErr, parseOk, pkiFiles, tempDir } from './test-util.js';

test('globals: OpenSMTPD defaults', async () => {
  const c = await parseOk('');
  assert.equal(c.serverName, 'mx.test');
  assert.deepEqual(c.smtp, {
    maxMessageSize: 36_700_160, maxRcpt: 1000, maxMails: 100, ciphers: 'HIGH:!aNULL:!MD5', subAddrDelim: '+',
    limits: { maxSessions: 0, maxConnPerIp: 0, maxConnRate: null, idleTimeout: 300, lineTimeout: 60 },
  });
  assert.deepEqual(c.queue, { compression: false, ttl: 345_600 });
  assert.deepEqual(c.bounce, { warnIntervals: [14_400] });
  assert.deepEqual(c.mta, { maxDeferred: 100, limits: [] });
  assert.deepEqual(c.mda, { wrappers: {}, limits: { maxSession: 50, maxSessionPerUser: 7, taskHiwat: 50, taskLowat: 30, taskRelease: 10 } });
  assert.deepEqual(c.scheduler, { limits: { maxInflight: 5000, maxEvpBatchSize: 256, maxMsgBatchSize: 1024, maxSchedule: 10 } });
  assert.deepEqual(c.srs, { ttl: 345_600 });
  assert.equal(c.admd, undefined);
});

test('globals: smtp options', async () => {
  const c = await parseOk('smtp max-message-size 10M\nsmtp limit max-rcpt 50 max-mails 20\nsmtp ciphers "HIGH:!aNULL"\nsmtp sub-addr-delim "-"\n');
  assert.deepEqual({ ...c.smtp, limits: undefined }, { maxMessageSize: 10 * 1024 * 1024, maxRcpt: 50, maxMails: 20, ciphers: 'HIGH:!aNULL', subAddrDelim: '-', limits: undefined });
  assert.equal((await parseOk('smtp max-message-size 1000\n')).smtp.maxMessageSize, 1000);
});

test('globals: smtp limit hardening keys (README "Limits") and their file:line errors', async () => {
  const c = await parseOk('smtp limit max-conn-per-ip 20 max-conn-rate 60/min max-rcpt 10\nsmtp limit max-sessions 500 idle-timeout 2m line-timeout 30\n');
  assert.deepEqual(c.smtp.limits, { maxSessions: 500, maxConnPerIp: 20, maxConnRate: { count: 60, perSeconds: 60 }, idleTimeout: 120, lineTimeout: 30 });
  assert.equal(c.smtp.maxRcpt, 10);
  assert.deepEqual((await parseOk('smtp limit max-conn-rate 5/s\n')).smtp.limits.maxConnRate, { count: 5, perSeconds: 1 });
  assert.deepEqual((await parseOk('smtp limit max-conn-rate 1000/h\n')).smtp.limits.maxConnRate, { count: 1000, perSeconds: 3600 });
  const cases: [string, string][] = [
    ['smtp limit max-conn-rate 60\n', 'max-conn-rate needs N/s, N/min or N/h'],
    ['smtp limit max-conn-rate 60/week\n', 'invalid max-conn-rate: 60/week'],
    ['smtp limit max-conn-rate 0/s\n', 'invalid max-conn-rate: 0/s'],
    ['smtp limit max-conn-per-ip 0\n', 'invalid max-conn-per-ip: 0'],
    ['smtp limit max-sessions 99999999\n', 'invalid max-sessions: 99999999'],
    ['smtp limit idle-timeout 0s\n', 'invalid idle-timeout: 0s'],
    ['smtp limit line-timeout 2w\n', 'invalid line-timeout: 2w'],
    ['smtp limit line-timeout 2d\n', 'invalid line-timeout: 2d'],
    ['smtp limit max-conn-per-ip 5 max-conns 3\n', 'invalid session limit keyword: max-conns'],
  ];
  for (const [text, msg] of cases) {
    const errs = await parseErr(text);
    assert.ok(errs.some((e) => e.startsWith('/virtual/smtpd.conf:1: ') && e.includes(msg)), `${JSON.stringify(text)}: ${errs.join(' | ')}`);
  }
});

test('globals: queue options', async () => {
  assert.equal((await parseOk('queue compression\n')).queue.compression, true);
  assert.equal((await parseOk('queue ttl 2h\n')).queue.ttl, 7200);
  assert.deepEqual((await parseOk('queue encryption\n')).queue.encryption, { keySource: 'prompt' });
  // (a daemon start reads that key; `smtpd -n` does not, and finds `stdin` no key: errors.test.ts)
  assert.deepEqual((await parseOk('queue encryption stdin\n', { readsStdinKey: true })).queue.encryption, { keySource: 'stdin' });
  assert.deepEqual((await parseOk('queue encryption "-"\n', { readsStdinKey: true })).queue.encryption, { keySource: 'stdin' });
  const key = '0123456789abcdef0123456789abcdef';
  assert.deepEqual((await parseOk(`queue encryption ${key}\n`)).queue.encryption, { keySource: 'inline', key });
});

test('globals: queue backend postgres', async () => {
  const uri = 'postgresql://tsmtpd@127.0.0.1:5432/mailq';
  assert.deepEqual((await parseOk(`queue backend postgres "${uri}"\n`)).queue.backend, { kind: 'postgres', uri });
  assert.equal((await parseOk('')).queue.backend, undefined);
  assert.deepEqual((await parseOk(`queue backend postgres "${uri}" lease 5s\n`)).queue.backend, { kind: 'postgres', uri, lease: 5 });
  assert.deepEqual(await parseErr(`queue backend postgres "${uri}" lease 0s\n`), ['/virtual/smtpd.conf:1: invalid lease: 0s (1s to 1h)']);
  const secret = 'postgresql://u:s3cret@db/mailq';
  assert.deepEqual(await parseErr('queue backend mysql "x"\n'), ['/virtual/smtpd.conf:1: unknown queue backend: mysql (known: postgres)']);
  const errs = await parseErr(`queue backend postgres "postgresql://u:s3cret@db"\nqueue backend postgres "http://u:s3cret@db/x"\nqueue backend postgres "${secret}"\nqueue backend postgres "${secret}"\n`);
  assert.deepEqual(errs, [
    '/virtual/smtpd.conf:1: queue backend postgres: the URI names no database (postgresql://USER@HOST:PORT/DBNAME)',
    '/virtual/smtpd.conf:2: queue backend postgres: the URI must start with postgresql://',
    '/virtual/smtpd.conf:4: queue backend given twice',
  ]);
  assert.ok(errs.every((e) => !e.includes('s3cret')));
});

test('globals: bounce warn-interval', async () => {
  assert.deepEqual((await parseOk('bounce warn-interval 1h, 6h, 1d, 3d\n')).bounce.warnIntervals, [3600, 21_600, 86_400, 259_200]);
});

test('globals: mta max-deferred and limits', async () => {
  const c = await parseOk('mta max-deferred 50\nmta limit max-conn-per-host 3 session-keepalive 5\nmta limit for domain example.org max-conn-per-route 1 inet4\nmta limit max-conn-per-relay 7\n');
  assert.equal(c.mta.maxDeferred, 50);
  assert.deepEqual(c.mta.limits, [
    { values: { 'max-conn-per-host': 3, 'session-keepalive': 5, 'max-conn-per-relay': 7 } },
    { domain: 'example.org', family: 'inet4', values: { 'max-conn-per-route': 1 } },
  ]);
});

test('globals: mda wrapper and limit, scheduler limit', async () => {
  const c = await parseOk('mda wrapper w "/usr/bin/env %{mda}"\nmda limit max-session 10 max-session-per-user 2 task-hiwat 5 task-lowat 3 task-release 1\nscheduler limit max-inflight 10 max-evp-batch-size 2 max-msg-batch-size 3 max-schedule 4\n');
  assert.deepEqual(c.mda, { wrappers: { w: '/usr/bin/env %{mda}' }, limits: { maxSession: 10, maxSessionPerUser: 2, taskHiwat: 5, taskLowat: 3, taskRelease: 1 } });
  assert.deepEqual(c.scheduler.limits, { maxInflight: 10, maxEvpBatchSize: 2, maxMsgBatchSize: 3, maxSchedule: 4 });
});

test('globals: srs and admd', async () => {
  const c = await parseOk('srs key "k1"\nsrs key backup "k0"\nsrs ttl 5d\nadmd "mx.example.org"\n');
  assert.deepEqual(c.srs, { key: 'k1', keyBackup: 'k0', ttl: 432_000 });
  assert.equal(c.admd, 'mx.example.org');
});

test('declarations: pki (split statements, dhe, * name) and ca', async () => {
  const t = tempDir();
  const { cert: crt, key } = pkiFiles(t);
  const c = await parseOk(`pki MX.example.org cert "${crt}"\npki mx.example.org key "${key}" dhe auto\npki "*" cert "${crt}" key "${key}"\nca myca cert "${crt}"\n`);
  assert.deepEqual(c.pki['mx.example.org'], { name: 'mx.example.org', cert: crt, key, dhe: 'auto', file: '/virtual/smtpd.conf', line: 1 });
  assert.equal(c.pki['*']?.dhe, 'none');
  assert.deepEqual(c.ca['myca'], { name: 'myca', cert: crt, file: '/virtual/smtpd.conf', line: 4 });
});

test('declarations: table kinds', async () => {
  const t = tempDir();
  const f = t.put('aliases', 'root: alice\n');
  const l = t.put('domains', 'Example.org\n');
  const db = t.put('aliases.db', '');
  writeTableDb(db, 'map', [['root', 'alice']]); // as our makemap writes it
  const c = await parseOk(`table a file:${f}\ntable b "${f}"\ntable c db:${db}\ntable d getpwnam\ntable e proc:/etc/mail/ldap.conf\ntable f { x = "1", "Y" => "2" }\ntable g { one\n two, three }\ntable h file:${l}\ntable i static\n`);
  assert.deepEqual(c.tables['a'], { name: 'a', type: 'file', path: f, map: { root: 'alice' }, file: '/virtual/smtpd.conf', line: 1 });
  assert.deepEqual(c.tables['h']?.list, ['example.org']);
  assert.equal(c.tables['b']?.type, 'file');
  assert.deepEqual([c.tables['c']?.type, c.tables['c']?.path], ['db', db]);
  assert.equal(c.tables['d']?.type, 'getpwnam');
  assert.deepEqual([c.tables['e']?.type, c.tables['e']?.path], ['proc', '/etc/mail/ldap.conf']);
  assert.deepEqual(c.tables['i']?.list, []);
  assert.deepEqual(c.tables['f']?.map, { x: '1', y: '2' });
  assert.deepEqual(c.tables['g']?.list, ['one', 'two', 'three']);
  const x = await parseOk('table s sqlite:/etc/mail/sqlite.conf\ntable p passwd:/etc/mail/secrets\n');
  assert.deepEqual([x.tables['s']?.type, x.tables['s']?.path, x.tables['p']?.type, x.tables['p']?.path], ['sqlite', '/etc/mail/sqlite.conf', 'passwd', '/etc/mail/secrets']);
});

test('macros: definition, use, -D override, not expanded in quotes', async () => {
  const text = 'dom = "example.org"\nsize = "20M"\nsmtp max-message-size $size\nadmd "$dom"\naction "a" mbox\nmatch for domain $dom action "a"\n';
  const c = await parseOk(text);
  assert.equal(c.smtp.maxMessageSize, 20 * 1024 * 1024);
  assert.equal(c.admd, '$dom');
  assert.equal(c.matches[0]?.for.value, 'example.org');
  const d = await parseOk(text, { macros: { size: '1M', dom: 'example.net' } });
  assert.equal(d.smtp.maxMessageSize, 1024 * 1024);
  assert.equal(d.matches[0]?.for.value, 'example.net');
});

test('include: the path as written (relative: from the working directory), errors carry the included file name', async () => {
  const t = tempDir();
  const actions = t.put('conf.d/actions.conf', 'action "a" mbox\n');
  const bad = t.put('conf.d/bad.conf', '\nfoo bar\n');
  const main = t.put('smtpd.conf', '');
  const c = await parseOk(`include "${actions}"\nmatch from any for any action "a"\n`, {}, main);
  assert.equal(c.actions['a']?.file, actions);
  assert.equal(c.matches[0]?.line, 2);
  const rel = relative(process.cwd(), actions);
  assert.equal((await parseOk(`include "${rel}"\nmatch from any for any action "a"\n`, {}, main)).actions['a']?.file, rel);
  assert.deepEqual(await parseErr(`include "${bad}"\nmatch from any reject\nqueue ttl 0s\n`, {}, main),
    [`${bad}:2: syntax error`, `${main}:3: invalid ttl delay: 0s`]);
  // (not relative to the including file, as OpenSMTPD)
  assert.deepEqual(await parseErr('include "conf.d/actions.conf"\n', {}, main), [`${main}:1: failed to include file conf.d/actions.conf`]);
});

test('line continuation and multi-line braces keep line numbers right', async () => {
  const c = await parseOk('action "a" \\\n  mbox\nmatch from any \\\n  for any action "a"\ntable t { \\\n a,\\\n b \\\n}\ntable u { c\n d }\nqueue ttl 1d\n');
  assert.equal(c.actions['a']?.line, 1);
  assert.equal(c.matches[0]?.line, 3);
  assert.deepEqual(c.tables['t']?.list, ['a', 'b']);
  assert.deepEqual(c.tables['u']?.list, ['c', 'd']);
  assert.deepEqual(await parseErr('table t { \\\n a,\\\n b \\\n}\nqueue ttl 0d\n'), ['/virtual/smtpd.conf:5: invalid ttl delay: 0d']);
  // 6.8 (before 7.5): no line end right after `{`, after a comma, or before `}`
  assert.deepEqual(await parseErr('table t {\n a }\n'), ['/virtual/smtpd.conf:1: syntax error', '/virtual/smtpd.conf:2: syntax error']);
  assert.deepEqual(await parseErr('table t { a,\n b }\n'), ['/virtual/smtpd.conf:1: syntax error', '/virtual/smtpd.conf:2: syntax error']);
  assert.deepEqual(await parseErr('table t { a\n}\n'), ['/virtual/smtpd.conf:2: syntax error']);
});
