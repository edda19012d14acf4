// The pre-6.4 grammar: translation to modern statements, and loading through it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modernRelayUrl, translateLegacyConfig } from './legacy.js';
import { parseErr, parseOk, tempDir } from './test-util.js';

test('legacy: the OpenBSD 6.3 default configuration', async () => {
  const t = tempDir();
  const aliases = t.put('aliases', 'root: alice\n');
  const text = `table aliases file:${aliases}\nlisten on lo\naccept for local alias <aliases> deliver to mbox\naccept from local for any relay\n`;
  const tr = translateLegacyConfig(text);
  assert.equal(tr.legacy, true);
  assert.equal(tr.text, `table aliases file:${aliases}\nlisten on lo\naction "mbox" mbox alias <aliases>\nmatch from local for local action "mbox"\naction "relay" relay\nmatch from local for any action "relay"\n`);
  assert.deepEqual(tr.lines, [1, 2, 3, 3, 4, 4, 5]);
  const c = await parseOk(text, { legacy: true });
  assert.deepEqual(c.matches.map((m) => [m.line, m.from.kind, m.for.kind, m.action]), [[3, 'local', 'local', 'mbox'], [4, 'local', 'any', 'relay']]);
  assert.equal(c.actions['mbox']?.alias, 'aliases');
  assert.equal(c.actions['mbox']?.line, 3);
});

test('legacy: rule criteria and delivery methods', () => {
  const tr = translateLegacyConfig([
    'accept tagged ! SUB authenticated from source <nets> sender <s> for domain <d> recipient <r> deliver to maildir "/var/mail/%{rcpt.user}"',
    'accept for domain example.org virtual <v> deliver to lmtp "/run/lmtp" rcpt-to as vmail expire 2d',
    'accept from any for any deliver to mda "/usr/bin/procmail"',
    'accept for local forward-only',
    'reject from any for domain spam.example',
  ].join('\n'));
  assert.deepEqual(tr.text.split('\n'), [
    'action "maildir" maildir "/var/mail/%{rcpt.user}"',
    'match from src <nets> for domain <d> !tag SUB auth mail-from <s> rcpt-to <r> action "maildir"',
    'action "lmtp" lmtp "/run/lmtp" rcpt-to virtual <v> user vmail ttl 2d',
    'match from local for domain example.org action "lmtp"',
    'action "mda" mda "/usr/bin/procmail"',
    'match from any for any action "mda"',
    'action "forward-only" forward-only',
    'match from local for local action "forward-only"',
    'match from any for domain spam.example reject',
  ]);
});

test('legacy: relay options and URLs', () => {
  const tr = translateLegacyConfig('accept from local for any relay via "tls+auth://isp@smtp.example.net:587" auth <secrets> as "@example.org" source <src> hostname mx.example.org pki mx tls verify\naccept for any relay backup mx2.example.org hostnames <names>\n');
  assert.deepEqual(tr.text.split('\n').slice(0, 4), [
    'action "relay" relay host smtp+tls://isp@smtp.example.net:587 auth <secrets> mail-from "@example.org" src <src> helo mx.example.org pki mx tls',
    'match from local for any action "relay"',
    'action "relay-2" relay backup mx mx2.example.org helo-src <names>',
    'match from local for any action "relay-2"',
  ]);
  assert.equal(modernRelayUrl('smtps+auth://l@h'), 'smtps://l@h');
  assert.equal(modernRelayUrl('secure://h'), 'smtps://h');
  assert.equal(modernRelayUrl('lmtp://h:24'), 'lmtp://h:24');
  assert.equal(modernRelayUrl('h.example'), 'h.example');
});

test('legacy: global statements', () => {
  const tr = translateLegacyConfig('expire 4d\nbounce-warn 1h, 6h\nmax-message-size 35M\nlimit session max-rcpt 10\nlimit mta for domain example.org inet4\nlimit scheduler max-inflight 10\nsubaddressing-delimiter "-"\nciphers "HIGH"\npki mx certificate "/c" key "/k"\nca mx certificate "/ca"\nqueue encryption key 0123456789abcdef0123456789abcdef\nlisten on lo mask-source certificate mx\n');
  assert.deepEqual(tr.text.split('\n'), [
    'queue ttl 4d', 'bounce warn-interval 1h , 6h', 'smtp max-message-size 35M', 'smtp limit max-rcpt 10',
    'mta limit for domain example.org inet4', 'scheduler limit max-inflight 10', 'smtp sub-addr-delim "-"',
    'smtp ciphers HIGH', 'pki mx cert "/c" key "/k"', 'ca mx cert "/ca"',
    'queue encryption 0123456789abcdef0123456789abcdef', 'listen on lo mask-src pki mx', '',
  ]);
});

test('legacy: modern configurations are left untouched', () => {
  const text = 'table t { a, b }\n# accept from any\naction "a" mbox\nmatch from any for domain <t> action "a"\n';
  assert.deepEqual(translateLegacyConfig(text), { legacy: false, text, lines: [1, 2, 3, 4, 5] });
});

test('legacy: errors point at the original lines', async () => {
  const errs = await parseErr('expire 4d\naccept for local deliver to mbox\naccept for local deliver to nowhere\nexpire 0d\n', { legacy: true });
  assert.deepEqual(errs, ['/virtual/smtpd.conf:3: syntax error in a pre-6.4 rule', '/virtual/smtpd.conf:4: invalid ttl delay: 0d']);
  // the same without the flag: the file is legacy
  assert.deepEqual(await parseErr('expire 4d\naccept for local deliver to mbox\naccept for local deliver to nowhere\nexpire 0d\n'), errs);
});

test('legacy: in 6.8\'s reading (grammar modern) that grammar is refused, as 6.8 refuses it', async () => {
  const errs = await parseErr('listen on lo\naccept for local deliver to mbox\n', { grammar: 'modern' });
  assert.deepEqual(errs, ['/virtual/smtpd.conf:2: syntax error', '/virtual/smtpd.conf:2: no rules, nothing to do']);
});
