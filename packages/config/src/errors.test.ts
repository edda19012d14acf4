// Invalid configurations: exact `file:line: message` output, several errors reported at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { loadConfig } from './load.js';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, chownSync } from 'node:fs';
import { fakeNet, parseErr, parseOk, pkiFiles, tempDir } from './test-util.js';

const E = (n: number, m: string) => `/virtual/smtpd.conf:${n}: ${m}`;
const one = async (text: string, line: number, message: string) => {
  assert.deepEqual(await parseErr(text), [E(line, message)]);
};

test('errors: every error of the file is reported, in order, and parsing resumes', async () => {
  const text = [
    'table senders { a = b }',                     // 1 reserved word
    'action "local" mbox user nobody',              // 2 user with mbox
    'queue encryption tooshort',                    // 3 key length: checked only after a clean parse
    'match from any for any action "local"',        // 4 action never declared (line 2 failed)
    'bounce warn-interval 1h, 2h, 3h, 4h, 5h',      // 5 fine: delays past the fourth are ignored
    'action "relay" relay',                         // 6 fine
    'match from local for any action "relay"',      // 7 fine
    'match from local for any action "later"',      // 8 forward reference
    'action "later" relay',                         // 9 fine
    'table t file:/nonexistent/aliases',            // 10 missing file
    'table u { a,',                                 // 11 a line end after a comma
    ' b }',                                         // 12 (6.8's yacc is quiet about this one)
    'listen on lo',                                 // 13 fine
  ].join('\n');
  assert.deepEqual(await parseErr(text), [
    E(1, 'syntax error'),
    E(2, 'user may not be specified for this dispatcher'),
    E(4, 'no such dispatcher: local'),
    E(8, 'no such dispatcher: later'),
    E(10, 'invalid configuration file /nonexistent/aliases for table t'),
    E(11, 'syntax error'),
    E(12, 'syntax error'),
  ]);
});

test('errors: every syntax error is reported, also right after another (6.8 would be quiet there)', async () => {
  assert.deepEqual(await parseErr('pki mx cert "/a"\npki mx key "/b"\nlisten on lo tls pki mx\n'),
    [E(1, 'syntax error'), E(2, 'syntax error'), E(3, 'syntax error')]);
});

test('errors: a lexical error swallows the next line (yacc recovery after OpenSMTPD\'s ERROR token)', async () => {
  assert.deepEqual(await parseErr('listen on $x\naction a mbox\nmatch for any action a\n'),
    [E(1, "macro 'x' not defined"), E(1, 'syntax error'), E(3, 'no such dispatcher: a'), E(3, 'no rules, nothing to do')]);
});

test('errors: a bad interface', async () => {
  await one('listen on lo0\n', 1, 'invalid virtual ip or interface: lo0');
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
});

test('errors: a later pki or ca file replaces an earlier one', async () => {
  const t = tempDir();
  const { cert, key } = pkiFiles(t);
  assert.equal((await parseOk(`pki p cert "/nonexistent"\npki p key "${key}"\npki p cert "${cert}"\n`)).pki['p']?.cert, cert);
  await one(`ca c cert "${cert}"\nca c cert "/nonexistent"\n`, 2, 'ca c: failed to load CA file /nonexistent');
});

test('errors: missing or unreadable files', async () => {
  const t = tempDir();
  const { cert, key } = pkiFiles(t);
  const malformed = t.put('bad-map', 'root alice\nbob\n');
  assert.deepEqual(await parseErr('pki p cert "/nonexistent.crt"\npki p key "/nonexistent.key"\n'),
    [E(1, 'pki p: failed to load certificate file /nonexistent.crt'), E(2, 'pki p: failed to load key file /nonexistent.key: ENOENT')]);
  assert.deepEqual(await parseErr(`pki p cert "/nonexistent.crt" key "${key}"\npki q cert "${cert}" key "/no.key"\n`),
    [E(1, 'pki p: failed to load certificate file /nonexistent.crt'), E(2, 'pki q: failed to load key file /no.key: ENOENT')]);
  await one('ca c cert "/nonexistent.crt"\n', 1, 'ca c: failed to load CA file /nonexistent.crt');
  await one('table t db:/nonexistent.db\n', 1, 'invalid configuration file /nonexistent.db for table t (/nonexistent.db: cannot be read)');
  await one(`table t db:${malformed}\n`, 1, `invalid configuration file ${malformed} for table t (${malformed} is not a db table made by makemap)`);
  const berkeley = Buffer.alloc(64);
  berkeley.writeUInt32LE(0x061561, 12); // OpenSMTPD's makemap output: refused with the way out
  const bdb = `${malformed}.bdb`;
  writeFileSync(bdb, berkeley);
  await one(`table t db:${bdb}\n`, 1, `invalid configuration file ${bdb} for table t (${bdb} is a Berkeley DB file (OpenSMTPD's makemap): rebuild it with tsmtpd's makemap)`);
  await one(`table t file:${malformed}\n`, 1, `invalid configuration file ${malformed} for table t`);
  await one('table t file:relative/path\n', 1, 'invalid backend parameter for table: t');
  await one('table t getpwnam:\n', 1, 'invalid backend parameter for table: t');
  await one('table t getpwnam:/etc/passwd\n', 1, 'invalid configuration file /etc/passwd for table t');
  await one('table t nosuchbackend:/etc/x.conf\n', 1, 'table_create: backend "nosuchbackend" does not exist');
});

test('errors: pki files are checked only after a clean parse', async () => {
  await one('pki p cert "/nonexistent.crt"\npki p key "/nonexistent.key"\nfoo bar\n', 3, 'syntax error');
});

test('errors: the pki key file: root\'s, at most rwxr-----, a private key without passphrase', async () => {
  const t = tempDir();
  const { cert, key } = pkiFiles(t);
  const conf = (k: string) => `pki p cert "${cert}"\npki p key "${k}"\n`;
  chmodSync(key, 0o640);
  await parseOk(conf(key));
  chmodSync(key, 0o604);
  await one(conf(key), 2, `pki p: failed to load key file ${key}: insecure permissions: must be at most rwxr-----`);
  chmodSync(key, 0o660);
  await one(conf(key), 2, `pki p: failed to load key file ${key}: insecure permissions: must be at most rwxr-----`);
  const notKey = t.put('not.key', 'garbage\n');
  chmodSync(notKey, 0o600);
  await one(conf(notKey), 2, `pki p: failed to load key file ${notKey}: no usable private key`);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const enc = t.put('enc.key', privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-128-cbc', passphrase: 'x' }).toString());
  chmodSync(enc, 0o600);
  await one(conf(enc), 2, `pki p: failed to load key file ${enc}: no usable private key`);
  if (process.getuid?.() === 0) {
    chmodSync(key, 0o600);
    chownSync(key, 65534, 0);
    await one(conf(key), 2, `pki p: failed to load key file ${key}: not owned by uid 0`);
  }
});

test('errors: incomplete pki', async () => {
  const t = tempDir();
  const { cert, key } = pkiFiles(t);
  await one(`pki p cert "${cert}"\n`, 1, 'pki p: missing key file');
  await one(`pki p key "${key}"\n`, 1, 'pki p: missing certificate file');
  assert.deepEqual(await parseErr('pki p\n'), [E(1, 'pki p: missing certificate file'), E(1, 'pki p: missing key file')]);
  await one(`pki bad_name! cert "${cert}"\n`, 1, 'syntax error');
  await one(`pki "bad name" cert "${cert}"\n`, 1, 'not a valid domain name: bad name');
  await one(`pki p dhe strong\n`, 1, 'invalid DHE keyword: strong');
});

test('errors: queue encryption key must be 32 characters; `stdin` is no key for `smtpd -n`', async () => {
  await one('queue encryption 0123456789abcdef\n', 1, 'invalid key for queue encryption');
  await one('queue encryption 0123456789abcdef0123456789abcdef0\n', 1, 'invalid key for queue encryption');
  await parseOk('queue encryption 0123456789abcdef0123456789abcdef\n');
  await parseOk('queue encryption\n');
  await one('queue encryption stdin\n', 1, 'invalid key for queue encryption');
  await one('queue encryption "-"\n', 1, 'invalid key for queue encryption');
  await one('queue encryption -\n', 1, 'syntax error');
  await parseOk('queue encryption stdin\n', { readsStdinKey: true });
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
  await one('srs ttl 1h\n', 1, 'ttl delay "1" is too short');
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
  assert.deepEqual(await parseErr('accept from any for any deliver to mbox\nmatch from any reject\n', { grammar: 'modern' }), [E(1, 'syntax error')]);
  await one('listen on lo port 25 tls-verify\n', 1, 'syntax error');
  await one('table t { a, b = c }\n', 1, 'syntax error');
  await one('table t { a = b, c }\n', 1, 'syntax error');
  await one('table t { }\n', 1, 'syntax error');
  await one('table t { a, }\n', 1, 'syntax error');
  await one('listen on lo\r\n', 1, 'syntax error');
});

test('errors: no rules at all', async () => {
  const t = tempDir();
  const f = t.put('smtpd.conf', 'action "a" mbox\n\n# the end\n');
  assert.deepEqual(await loadConfig(f, { net: fakeNet }), { ok: false, errors: [`${f}:1: no rules, nothing to do`] });
});

test('errors: missing configuration file', async () => {
  assert.deepEqual(await loadConfig('/nonexistent/smtpd.conf'), { ok: false, errors: ['/nonexistent/smtpd.conf: cannot open configuration file: ENOENT'] });
});
