// Format specifiers (REFERENCE 1.8) and the sanitising of envelope values (REFERENCE 14).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expandFormat, sanitize, type FormatVars } from './format.js';

const vars: FormatVars = {
  sender: 'Bob.Smith+news@Sender.example',
  rcpt: 'Alice+Folder@Example.ORG',
  dest: 'alice+folder@example.org',
  username: 'alice',
  directory: '/home/alice',
  subAddrDelim: '+',
};

function x(fmt: string, ctx: 'path' | 'command' = 'path', v: FormatVars = vars): string {
  const r = expandFormat(fmt, v, ctx);
  assert.ok(r.ok, `expansion of ${fmt} failed: ${r.ok ? '' : r.error}`);
  return r.value;
}

test('plain tokens and address parts', () => {
  assert.equal(x('%{sender}'), 'Bob.Smith+news@Sender.example');
  assert.equal(x('%{sender.user}-%{sender.domain}'), 'Bob.Smith+news-Sender.example');
  assert.equal(x('%{rcpt.user}'), 'Alice+Folder');
  assert.equal(x('%{dest.domain}'), 'example.org');
  assert.equal(x('%{user.username}:%{user.directory}'), 'alice:/home/alice');
  assert.equal(x('/var/vmail/%{dest.domain}/%{dest.user}'), '/var/vmail/example.org/alice+folder');
  assert.equal(x('100%% %{mbox.from}'), '100% Bob.Smith+news@Sender.example');
});

test('mbox.from of the null sender is MAILER-DAEMON; %{sender} is empty', () => {
  const v = { ...vars, sender: '' };
  assert.equal(x('%{mbox.from}', 'path', v), 'MAILER-DAEMON');
  assert.equal(x('[%{sender}]', 'path', v), '[]');
});

test('modifiers: lowercase, uppercase, strip, chained', () => {
  assert.equal(x('%{rcpt.domain:lowercase}'), 'example.org');
  assert.equal(x('%{dest.user:uppercase}'), 'ALICE+FOLDER');
  assert.equal(x('%{rcpt.user:strip}'), 'Alice');
  assert.equal(x('%{rcpt:strip|lowercase}'), 'alice@example.org');
  assert.equal(x('%{sender:strip}'), 'Bob.Smith@Sender.example');
});

test('substrings: [N], [N:], [-N:], [0:-N], [b:e] inclusive', () => {
  assert.equal(x('%{user.username[0]}'), 'a');
  assert.equal(x('%{user.username[1]}'), 'l');
  assert.equal(x('%{user.username[2:]}'), 'ice');
  assert.equal(x('%{user.username[-3:]}'), 'ice');
  assert.equal(x('%{user.username[0:1]}'), 'al');
  assert.equal(x('%{user.username[0:-2]}'), 'ali');
  assert.equal(x('%{dest.domain[0:2]:uppercase}'), 'EXA');
  assert.equal(x('%{user.username[1:99]}'), 'lice');
  const bad = expandFormat('%{user.username[9]}', vars, 'path');
  assert.equal(bad.ok, false);
});

test('unknown tokens, bad syntax and unterminated specifiers fail', () => {
  for (const f of ['%{nope}', '%{sender.bogus}', '%{sender:shout}', '%{sender', '%{user.username[x]}', '%{mda}']) {
    const r = expandFormat(f, vars, 'command');
    assert.equal(r.ok, false, f);
  }
});

test('%{mda} is available to wrappers only', () => {
  assert.equal(x('/usr/bin/wrap %{mda}', 'command', { ...vars, mda: 'procmail -f x' }), '/usr/bin/wrap procmail -f x');
});

test('sanitize replaces every shell metacharacter, slash and whitespace by ":"', () => {
  assert.equal(sanitize(';id;'), ':id:');
  assert.equal(sanitize('`id`'), ':id:');
  assert.equal(sanitize('$(id)'), '::id:');
  assert.equal(sanitize('a|b&c>d<e'), 'a:b:c:d:e');
  assert.equal(sanitize("a'b\"c\\d e\tf\ng"), 'a:b:c:d:e:f:g');
  assert.equal(sanitize('../../etc/passwd'), '..:..:etc:passwd');
  assert.equal(sanitize('*?[~]{}!#%^'), ':'.repeat(11));
  assert.equal(sanitize('-oProgram=x'), ':oProgram=x');
  assert.equal(sanitize('jürgen.ß+x=y@exämple.de'), 'jürgen.ß+x=y@exämple.de');
});

test('envelope values are sanitised in commands even with :raw', () => {
  const evil = { ...vars, sender: '";id;"@evil.example', rcpt: '`touch /tmp/x`@a.b', dest: '$(reboot)@a.b' };
  assert.equal(x('deliver -f %{sender}', 'command', evil), 'deliver -f ::id::@evil.example');
  assert.equal(x('deliver -f %{sender:raw}', 'command', evil), 'deliver -f ::id::@evil.example');
  assert.equal(x('%{rcpt.user} %{dest.user}', 'command', evil), ':touch::tmp:x: ::reboot:');
});

test(':raw in a path keeps the value but never a slash', () => {
  const v = { ...vars, dest: 'a b/../c@x.org' };
  assert.equal(x('/m/%{dest.user}', 'path', v), '/m/a:b:..:c');
  assert.equal(x('/m/%{dest.user:raw}', 'path', v), '/m/a b:..:c');
});

test('user.directory is a trusted path and keeps its slashes', () => {
  assert.equal(x('%{user.directory}/Maildir'), '/home/alice/Maildir');
});

test('an overlong expansion fails', () => {
  const r = expandFormat('%{sender}'.repeat(200), vars, 'path');
  assert.equal(r.ok, false);
});
