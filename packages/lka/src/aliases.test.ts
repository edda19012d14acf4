import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAliasEntry, parseAliasError, parseAliasValue, splitAliasValue } from './aliases.js';

test('splitAliasValue: commas outside quotes, escapes, unbalanced quotes', () => {
  assert.deepEqual(splitAliasValue('a, b ,c'), ['a', 'b', 'c']);
  assert.deepEqual(splitAliasValue('"|/bin/x a,b", bob'), ['"|/bin/x a,b"', 'bob']);
  assert.deepEqual(splitAliasValue('a\\,b'), ['a,b']);
  assert.deepEqual(splitAliasValue('a,,b,'), ['a', 'b']);
  assert.equal(splitAliasValue('"open'), null);
});

test('parseAliasEntry: users, addresses, targets not supported yet', () => {
  assert.deepEqual(parseAliasEntry('Bob'), { kind: 'user', user: 'bob' });
  assert.deepEqual(parseAliasEntry('bob@Example.ORG'), { kind: 'address', address: { local: 'bob', domain: 'example.org' } });
  assert.deepEqual(parseAliasEntry('"|/usr/bin/procmail -a x"'), { kind: 'command', command: '/usr/bin/procmail -a x' });
  assert.deepEqual(parseAliasEntry('/var/mail/archive'), { kind: 'file', path: '/var/mail/archive' });
  assert.equal(parseAliasEntry('/var/mail/../../etc/passwd'), null, 'no .. in a file target');
  assert.deepEqual(parseAliasEntry(':include:/etc/mail/list'), { kind: 'include', path: '/etc/mail/list' });
  assert.equal(parseAliasEntry(':include:relative/list'), null);
  assert.equal(parseAliasEntry('"|cmd\nsecond"'), null, 'no line break in a command');
  assert.equal(parseAliasEntry('bad@@x'), null);
  assert.equal(parseAliasEntry('a b'), null);
  assert.equal(parseAliasEntry('bob@'), null);
});

test('error: targets keep their code, enhanced code and text', () => {
  assert.deepEqual(parseAliasError('error:550 5.1.6 bob has moved'), { kind: 'error', code: 550, enhanced: '5.1.6', text: 'bob has moved' });
  assert.deepEqual(parseAliasError(':error:450 try later'), { kind: 'error', code: 450, enhanced: '4.0.0', text: 'try later' });
  assert.deepEqual(parseAliasError('error:550 4.1.1 mismatched class'), { kind: 'error', code: 550, enhanced: '5.0.0', text: '4.1.1 mismatched class' });
  assert.equal(parseAliasError('error:250 ok'), null);
  assert.equal(parseAliasError('error:55 short'), null);
  assert.equal(parseAliasEntry('ERROR:550 gone')?.kind, 'error');
});

test('parseAliasValue: whole lists, first bad entry refuses the value', () => {
  const r = parseAliasValue('root, bob@example.org, error:550 no');
  assert.ok(r.ok);
  assert.deepEqual(r.targets.map((t) => t.kind), ['user', 'address', 'error']);
  const bad = parseAliasValue('root, not an address');
  assert.equal(bad.ok, false);
});
