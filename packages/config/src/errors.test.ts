// Invalid configurations: exact `file:line: message` output, several errors reported at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from './load.js';
import { fakeNet, parseErr, tempDir } from './test-util.js';

const E = (n: number, m: string) => `/virtual/smtpd.conf:${n}: ${m}`;
const one = async (text: string, line: number, message: string) => {
  assert.deepEqual(await parseErr(text), [E(line, message)]);
};

test('errors: every error of the file is reported, in order, and parsing resumes', async () => {
  const text = [
    'table senders { a = b }',                     // 1 reserved word
    'listen on lo0',                                // 2 bad interface
    'action "local" mbox user nobody',              // 3 user with mbox
    'queue encryption tooshort',                    // 4 key length
    'match from any for any action "local"',        // 5 action never declared (line 3 failed)
    'bounce warn-interval 1h, 2h, 3h, 4h, 5h',      // 6 too many
    'action "relay" relay',                         // 7 fine
    'match from local for any action "relay"',      // 8 fine
    'match from local for any action "later"',      // 9 forward reference
    'action "later" relay',                         // 10 fine
    'table t file:/nonexistent/aliases',            // 11 missing file
  ].join('\n');
  assert.deepEqual(await parseErr(text), [
    E(1, 'syntax error'),
    E(2, 'invalid virtual ip or interface: lo0'),
    E(3, 'user may not be specified for this dispatcher'),
    E(4, 'invalid key for queue encryption'),
    E(5, 'no such dispatcher: local'),
    E(6, 'too many bounce warn-interval delays (at most 4)'),
    E(9, 'no such dispatcher: later'),
    E(11, 'invalid configuration file /nonexistent/aliases for table t'),
  ]);
});

test('errors: reserved words must be quoted', async () => {
  await one('table senders file:/etc/x\n', 1, 'syntax error');
  await one('action local mbox\n', 1, 'syntax error');
  await one('action "relay" relay\nmatch from any for any action relay\nmatch from any reject\n', 2, 'syntax error');
  await one('local = "x"\n', 1, 'syntax error');
});

test('errors: duplicate names', async () => {
  await one('table t { a }\ntable t { b }\n', 2, 'table "t" already defined');
  await one('action "a" mbox\naction "a" mbox\n', 2, 'dispatcher already declared with that name: a');
  await one('filter f phase connect match rdns junk\nfilter f phase connect match rdns junk\n', 2, 'filter already exists with that name: f');
  await one('mda wrapper w "a"\nmda wrapper w "b"\n', 2, 'mda wrapper already declared with that name: w');
  const t = tempDir();
  const crt = t.put('c.crt', 'x');
  await one(`pki p cert "${crt}"\npki p key "${crt}"\npki p cert "${crt}"\n`, 3, 'certificate already specified for pki p');
  await one(`ca c cert "${crt}"\nca c cert "${crt}"\n`, 2, 'certificate already specified for ca c');
});

test('errors: missing or unreadable files', async () => {
  const t = tempDir();
  const crt = t.put('c.crt', 'x');
  const malformed = t.put('bad-map', 'root alice\nbob\n');
  assert.deepEqual(await parseErr('pki p cert "/nonexistent.crt"\npki p key "/nonexistent.key"\n'),
    [E(1, 'pki p: failed to load certificate file /nonexistent.crt'), E(2, 'pki p: failed to load key file /nonexistent.key')]);
  assert.deepEqual(await parseErr(`pki p cert "/nonexistent.crt" key "${crt}"\npki q cert "${crt}" key "/no.key"\n`),
    [E(1, 'pki p: failed to load certificate file /nonexistent.crt'), E(2, 'pki q: failed to load key file /no.key')]);
  await one('ca c cert "/nonexistent.crt"\n', 1, 'ca c: failed to load certificate file /nonexistent.crt');
  await one('table t db:/nonexistent.db\n', 1, 'invalid configuration file /nonexistent.db for table t');
  await one(`table t file:${malformed}\n`, 1, `invalid configuration file ${malformed} for table t`);
  await one('table t file:relative/path\n', 1, 'invalid backend parameter for table: t');
});

test('errors: incomplete pki', async () => {
  const t = tempDir();
  const crt = t.put('c.crt', 'x');
  await one(`pki p cert "${crt}"\n`, 1, 'pki p: missing key file');
  await one(`pki p key "${crt}"\n`, 1, 'pki p: missing certificate file');
  await one(`pki bad_name! cert "${crt}"\n`, 1, 'syntax error');
  await one(`pki "bad name" cert "${crt}"\n`, 1, 'not a valid domain name: bad name');
  await one(`pki p dhe strong\n`, 1, 'invalid DHE keyword: strong');
});

test('errors: queue encryption key must be 32 characters', async () => {
  await one('queue encryption 0123456789abcdef\n', 1, 'invalid key for queue encryption');
  await one('queue encryption 0123456789abcdef0123456789abcdef0\n', 1, 'invalid key for queue encryption');
});

test('errors: durations, sizes, limits, delimiters', async () => {
  await one('queue ttl 4\n', 1, 'syntax error');
  await one('queue ttl 4w\n', 1, 'invalid ttl delay: 4w');
  await one('smtp max-message-size 10Q\n', 1, 'invalid size: 10Q');
  await one('smtp limit max-recipients 5\n', 1, 'invalid session limit keyword: max-recipients');
  await one('mta limit max-conn 5\n', 1, 'invalid mta limit keyword: max-conn');
  await one('mda limit max-sessions 5\n', 1, 'invalid mda limit keyword: max-sessions');
  await one('scheduler limit max-flight 5\n', 1, 'invalid scheduler limit keyword: max-flight');
  await one('smtp sub-addr-delim "ab"\n', 1, 'subaddressing-delimiter must be one character');
  await one('smtp sub-addr-delim "@"\n', 1, 'sub-addr-delim uses invalid character');
  await one('srs ttl 1h\n', 1, 'ttl delay "1h" is too short');
  await one('srs ttl 1y\n', 1, 'ttl delay "1y" is invalid');
  await one('bounce warn-interval 0h\n', 1, 'invalid bounce delay: 0h');
  await one('admd "a\tb"\n', 1, 'not a valid admd');
});

test('errors: listener tag longer than 32 characters', async () => {
  await one(`listen on lo tag ${'t'.repeat(33)}\n`, 1, 'tag name too long');
});

test('errors: macros', async () => {
  // as OpenSMTPD: the lexer reports the macro, the parser then sees a broken statement
  assert.deepEqual(await parseErr('queue ttl $nope\n'), [E(1, "macro 'nope' not defined"), E(1, 'syntax error')]);
  await one('"my macro" = "x"\n', 1, 'macro name cannot contain whitespace');
});

test('errors: unknown statements and stray tokens', async () => {
  await one('deliver to mbox\n', 1, 'syntax error');
  assert.deepEqual(await parseErr('accept from any for any deliver to mbox\nmatch from any reject\n', { legacy: false }), [E(1, 'syntax error')]);
  await one('listen on lo port 25 tls-verify\n', 1, 'syntax error');
  await one('table t { a, b = c }\n', 1, 'cannot mix list and mapping entries in table t');
  await one('table t { }\n', 1, 'syntax error');
});

test('errors: no rules at all', async () => {
  const t = tempDir();
  const f = t.put('smtpd.conf', 'action "a" mbox\n\n# the end\n');
  assert.deepEqual(await loadConfig(f, { net: fakeNet }), { ok: false, errors: [`${f}:1: no rules, nothing to do`] });
});

test('errors: missing configuration file', async () => {
  assert.deepEqual(await loadConfig('/nonexistent/smtpd.conf'), { ok: false, errors: ['/nonexistent/smtpd.conf: cannot open configuration file: ENOENT'] });
});
