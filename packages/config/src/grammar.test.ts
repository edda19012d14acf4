// Which grammar a file set is read in: legacy (accept/reject alone, included files counted),
// modern (every other set, empty and comment-only ones), mixed (an error at the old rule).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSet, scanGrammar } from './grammar.js';
import { legacyWarning, loadConfig } from './load.js';
import { fakeNet, parseErr, parseRaw, tempDir } from './test-util.js';

const grammarOf = (text: string, file = '/virtual/smtpd.conf'): string => scanGrammar(readFileSet(text, file)).grammar;

test('grammar: accept/reject rules and no action/match are legacy; tables, listen, pki, macros do not count', () => {
  assert.equal(grammarOf('table aliases file:/etc/mail/aliases\nlisten on lo\naccept for local alias <aliases> deliver to mbox\n'), 'legacy');
  assert.equal(grammarOf('reject from any for domain spam.example\n'), 'legacy');
  assert.equal(grammarOf('pki mx certificate "/c"\nexpire 4d\nlisten on lo\naccept \\\n  for any relay\n'), 'legacy');
  assert.equal(grammarOf('table t { a,\n b }\naction "a" mbox\nmatch from any for domain <t> action "a"\n'), 'modern');
});

test('grammar: an empty or comment-only file, a file without rules, old globals beside modern rules: modern', () => {
  assert.equal(grammarOf(''), 'modern');
  assert.equal(grammarOf('# accept from any for any relay\n\n   # reject\n'), 'modern');
  assert.equal(grammarOf('listen on lo\ntable t { a }\n'), 'modern');
  assert.equal(grammarOf('expire 4d\naction "a" mbox\nmatch for local action "a"\n'), 'modern');
  assert.equal(grammarOf('accept = "yes"\nlisten on lo\n'), 'modern', 'a macro named accept is no rule');
  assert.equal(grammarOf('x = "accept"\n$x for any relay\n'), 'legacy', 'macros are expanded as the parser expands them');
});

test('grammar: both kinds are mixed, in one file or across an included file', () => {
  assert.equal(grammarOf('accept for any relay\nmatch for any action "r"\n'), 'mixed');
  const t = tempDir();
  const inc = t.put('rules.conf', 'action "l" mbox\nmatch for local action "l"\n');
  assert.equal(grammarOf(`include "${inc}"\naccept for any relay\n`), 'mixed');
  assert.equal(grammarOf(`include "${t.put('old.conf', 'accept for any relay\n')}"\n`), 'legacy');
  assert.equal(grammarOf('include "/nonexistent/x.conf"\naccept for any relay\n'), 'legacy', 'a file that cannot be opened is the parser\'s to report');
});

test('grammar: a legacy file is read without the flag, with a warning giving its modern form', async () => {
  const r = await parseRaw('listen on lo\naccept from any for domain example.org deliver to mbox\naccept for any relay\n');
  assert.ok(r.ok);
  assert.deepEqual(r.config.matches.map((m) => [m.line, m.action]), [[2, 'mbox'], [3, 'relay']]);
  assert.ok(r.legacyRead);
  assert.equal(r.legacyRead.forced, false);
  assert.deepEqual(legacyWarning(r.legacyRead), [
    '/virtual/smtpd.conf: the pre-6.4 grammar was read (OpenSMTPD 6.8 refuses it); its modern form is:',
    '    listen on lo',
    '    action "mbox" mbox',
    '    match from any for domain example.org action "mbox"',
    '    action "relay" relay',
    '    match from local for any action "relay"',
  ]);
});

test('grammar: a modern file is read as before, with no warning', async () => {
  const r = await parseRaw('listen on lo\naction "a" mbox\nmatch for local action "a"\n');
  assert.ok(r.ok);
  assert.equal(r.legacyRead, undefined);
  const forced = await parseRaw('listen on lo\naction "a" mbox\nmatch for local action "a"\n', { legacy: true });
  assert.ok(forced.ok);
  assert.equal(forced.legacyRead, undefined, 'nothing to translate: nothing to say');
});

test('grammar: the empty file keeps 6.8\'s verdict (no rules)', async () => {
  const t = tempDir();
  const f = t.put('smtpd.conf', '');
  assert.deepEqual(await loadConfig(f, { net: fakeNet }), { ok: false, errors: [`${f}:1: no rules, nothing to do`] });
  const c = t.put('comments.conf', '# accept for any relay\n');
  assert.deepEqual(await loadConfig(c, { net: fakeNet }), { ok: false, errors: [`${c}:1: no rules, nothing to do`] });
});

test('grammar: a mixed file is an error at its old rule (6.8\'s line), naming the modern rules', async () => {
  const errs = await parseErr('listen on lo\naction "a" mbox\naccept for any relay\nmatch for local action "a"\n');
  assert.deepEqual(errs, ['/virtual/smtpd.conf:3: mixed grammars: a pre-6.4 rule (accept/reject) in a configuration that also has modern rules (action/match, first at /virtual/smtpd.conf:2), so it is read in the modern grammar; rewrite this rule as action/match (smtpd -n --old-grammar prints a translation)']);
  // read as 6.8 reads it: its first error, on the same line
  assert.deepEqual(await parseErr('listen on lo\naction "a" mbox\naccept for any relay\nmatch for local action "a"\n', { grammar: 'modern' }), ['/virtual/smtpd.conf:3: syntax error']);
});

test('grammar: mixed across an included file, either way round', async () => {
  const t = tempDir();
  const modern = t.put('modern.conf', '# rules\naction "a" mbox\nmatch for local action "a"\n');
  const e1 = await parseErr(`listen on lo\ninclude "${modern}"\naccept for any relay\n`);
  assert.equal(e1.length, 1);
  assert.match(e1[0] ?? '', new RegExp(`^/virtual/smtpd\\.conf:3: mixed grammars: .*first at ${modern}:2\\)`));
  const old = t.put('old.conf', '\naccept for any relay\n');
  const e2 = await parseErr(`listen on lo\ninclude "${old}"\naction "a" mbox\nmatch for local action "a"\n`);
  assert.equal(e2.length, 1);
  assert.match(e2[0] ?? '', new RegExp(`^${old}:2: mixed grammars: .*first at /virtual/smtpd\\.conf:3\\)`));
});

test('grammar: --old-grammar forces the translation: a mixed file, old globals beside modern rules', async () => {
  const text = 'expire 4d\naction "a" mbox\naccept for any relay\nmatch for local action "a"\n';
  assert.equal((await parseErr(text))[0], '/virtual/smtpd.conf:1: syntax error', 'without the flag: a modern file, as 6.8 reads it');
  const r = await parseRaw(text, { legacy: true });
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  assert.equal(r.legacyRead?.forced, true);
  assert.equal(r.config.queue.ttl, 4 * 86_400);
  assert.deepEqual(r.config.matches.map((m) => [m.line, m.action]), [[3, 'relay'], [4, 'a']]);
});

test('grammar: a legacy set across included files is translated in every file, action names shared', async () => {
  const t = tempDir();
  const aliases = t.put('aliases', 'root: alice\n');
  const inc = t.put('rules.conf', '# the rules\naccept for local alias <aliases> deliver to mbox\naccept from any for domain example.org deliver to mbox\n');
  const top = t.put('smtpd.conf', `table aliases file:${aliases}\nlisten on lo\ninclude "${inc}"\naccept for any relay\naccept for local deliver to mbox\n`);
  const r = await loadConfig(top, { net: fakeNet, serverName: 'mx.test' });
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  assert.deepEqual(r.config.matches.map((m) => [m.file, m.line, m.action]), [[inc, 2, 'mbox'], [inc, 3, 'mbox-2'], [top, 4, 'relay'], [top, 5, 'mbox-2']]);
  assert.equal(r.config.actions['mbox']?.file, inc);
  assert.deepEqual(r.legacyRead?.files.map((f) => f.file), [top, inc]);
  assert.match(r.legacyRead?.files[1]?.text ?? '', /^action "mbox" mbox alias <aliases>\nmatch from local for local action "mbox"$/m);
  // an error in an included legacy file names its own line
  const bad = t.put('bad.conf', '\n\naccept for local deliver to nowhere\n');
  const errs = await loadConfig(t.put('b.conf', `listen on lo\ninclude "${bad}"\n`), { net: fakeNet });
  assert.deepEqual(errs, { ok: false, errors: [`${bad}:3: syntax error in a pre-6.4 rule`, `${t.dir}/b.conf:2: no rules, nothing to do`] });
});
