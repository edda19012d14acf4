// `filter` and `proc` statements: builtin phase filters, proc, proc-exec, chains.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseErr, parseOk } from './test-util.js';

const POS = (line: number) => ({ file: '/virtual/smtpd.conf', line });

test('filter: builtin with each decision', async () => {
  const c = await parseOk(`filter a phase connect match !rdns disconnect "550 no rDNS"
filter b phase connect match !fcrdns junk
filter c phase helo match helo regex "^\\[" reject "550 bad helo"
filter d phase mail-from match mail-from <s> rewrite "x@example.org"
filter e phase rcpt-to match rcpt-to <s> report "seen"
filter f phase data match auth bypass
filter g phase commit match src <n> reject "451 later"
filter h phase ehlo match helo <s> junk
filter i phase auth match auth <s> junk
`.replace('filter d', 'table s { "@example.org" }\ntable n { 10.0.0.0/8 }\nfilter d'));
  assert.deepEqual(c.filters['a'], { kind: 'builtin', name: 'a', phase: 'connect', conditions: [{ kind: 'rdns', negate: true, regex: false }], decision: 'disconnect', message: '550 no rDNS', ...POS(1) });
  assert.deepEqual(c.filters['b'], { kind: 'builtin', name: 'b', phase: 'connect', conditions: [{ kind: 'fcrdns', negate: true, regex: false }], decision: 'junk', ...POS(2) });
  assert.deepEqual(c.filters['c'], { kind: 'builtin', name: 'c', phase: 'helo', conditions: [{ kind: 'helo', negate: false, regex: true, value: '^\\[' }], decision: 'reject', message: '550 bad helo', ...POS(3) });
  const d = c.filters['d'];
  assert.ok(d?.kind === 'builtin');
  assert.deepEqual([d.phase, d.conditions, d.decision, d.message], ['mail-from', [{ kind: 'mail-from', negate: false, regex: false, value: { table: 's' } }], 'rewrite', 'x@example.org']);
  const e = c.filters['e'];
  assert.ok(e?.kind === 'builtin');
  assert.deepEqual([e.phase, e.decision, e.message], ['rcpt-to', 'report', 'seen']);
  const f = c.filters['f'];
  assert.ok(f?.kind === 'builtin');
  assert.deepEqual([f.phase, f.conditions, f.decision], ['data', [{ kind: 'auth', negate: false, regex: false }], 'bypass']);
  const g = c.filters['g'];
  assert.ok(g?.kind === 'builtin');
  assert.deepEqual([g.phase, g.decision, g.message], ['commit', 'reject', '451 later']);
  const h = c.filters['h'];
  assert.ok(h?.kind === 'builtin');
  assert.deepEqual([h.phase, h.conditions[0]?.kind, h.conditions[0]?.value], ['ehlo', 'helo', { table: 's' }]);
  const i = c.filters['i'];
  assert.ok(i?.kind === 'builtin');
  assert.deepEqual([i.phase, i.conditions[0]?.kind], ['auth', 'auth']);
});

test('filter: proc, proc-exec with user/group/chroot, chain', async () => {
  const c = await parseOk(`proc p "/usr/libexec/filter-x -v" user _x group _g chroot "/var/empty"
filter a proc p
filter b proc-exec "filter-rspamd" user _rspamd group _rspamd chroot "/var/empty"
filter c chain { a
  b }
`);
  assert.deepEqual(c.procs['p'], { name: 'p', command: '/usr/libexec/filter-x -v', user: '_x', group: '_g', chroot: '/var/empty', ...POS(1) });
  assert.deepEqual(c.filters['a'], { kind: 'proc', name: 'a', proc: 'p', ...POS(2) });
  assert.deepEqual(c.filters['b'], { kind: 'proc-exec', name: 'b', command: 'filter-rspamd', user: '_rspamd', group: '_rspamd', chroot: '/var/empty', ...POS(3) });
  assert.deepEqual(c.filters['c'], { kind: 'chain', name: 'c', filters: ['a', 'b'], ...POS(4) });
});

test('filter: errors', async () => {
  const E = (n: number, m: string) => `/virtual/smtpd.conf:${n}: ${m}`;
  assert.deepEqual(await parseErr('filter a proc nope\n'), [E(1, 'no processor exist with that name: nope')]);
  assert.deepEqual(await parseErr('filter a phase connect match rdns bypass\nfilter a phase connect match rdns junk\n'), [E(2, 'filter already exists with that name: a')]);
  assert.deepEqual(await parseErr('filter c chain { nope }\n'), [E(1, 'no filter exist with that name: nope')]);
  assert.deepEqual(await parseErr('filter a phase connect match rdns bypass\nfilter c chain { a }\nfilter d chain { c }\n'), [E(3, 'no filter chain allowed within a filter chain: c')]);
  assert.deepEqual(await parseErr('filter a phase connect match rdns bypass\nfilter c chain { a, a }\n'), [E(2, 'no filter allowed twice within a filter chain: a')]);
  assert.deepEqual(await parseErr('proc p "x"\nfilter a proc p\nfilter b proc p\nfilter c chain { a, b }\n'), [E(4, 'no proc allowed twice within a filter chain: p')]);
  assert.deepEqual(await parseErr('proc p "x"\nproc p "y"\n'), [E(2, 'processor already exists with that name: p')]);
  assert.deepEqual(await parseErr('proc p "x" user a user b\n'), [E(1, 'user already specified for this processor')]);
  assert.deepEqual(await parseErr('filter a phase connect match helo "x" junk\n'), [E(1, 'syntax error')]);
  assert.deepEqual(await parseErr('filter a phase ehlo match auth junk\n'), [E(1, 'syntax error')]);
  assert.deepEqual(await parseErr('filter a phase commit match rdns junk\n'), [E(1, 'syntax error')]);
  assert.deepEqual(await parseErr('filter a phase connect match rdns\n'), [E(1, 'syntax error')]);
  assert.deepEqual(await parseErr('filter a phase connect match rdns reject\n'), [E(1, 'syntax error')]);
  assert.deepEqual(await parseErr('filter a phase quit match rdns bypass\n'), [E(1, 'syntax error')]);
  assert.deepEqual(await parseErr('filter a phase connect match src <nope> bypass\n'), [E(1, 'no such table: nope')]);
  // 6.8: exactly one condition per builtin filter
  assert.deepEqual(await parseErr('filter a phase connect match !rdns src { 10.0.0.1 } junk\n'), [E(1, 'syntax error')]);
  // 6.8 list separators: a line end may separate names, but not follow a comma, `{` or precede `}`
  // (the line after is then a broken statement of its own)
  assert.deepEqual(await parseErr('filter a phase connect match rdns bypass\nfilter b phase connect match rdns junk\nfilter c chain { a,\n b }\n'), [E(3, 'syntax error'), E(4, 'syntax error')]);
  assert.deepEqual(await parseErr('filter a phase connect match rdns bypass\nfilter c chain {\n a }\n'), [E(2, 'syntax error'), E(3, 'syntax error')]);
});
