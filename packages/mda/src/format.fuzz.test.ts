// Property-based fuzzing (fast-check) of the mda command's format expansion, bounded in time
// (FUZZ_MS, default 2 s per property): whatever the envelope holds, an expanded `%{...}` is made of
// the safe set only, and /bin/sh itself — given the expanded command line — sees each expansion as
// exactly one literal word (no command, no substitution, no split, no glob, no option): the
// CVE-2020-7247 class (REFERENCE 1.8, 14.2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { expandFormat, sanitize, type FormatVars } from './format.js';

const FUZZ_MS = Number(process.env['FUZZ_MS'] ?? 2000);
const params = { numRuns: 10_000_000, interruptAfterTimeLimit: FUZZ_MS, markInterruptAsFailure: false } as const;

const shellish = fc.string({ unit: fc.constantFrom(...';`$(){}|&<>*?[]~#!\'"\\ \t\n-=+@._:aZ9/\u00e9\u4e2d\u0000'), maxLength: 40 });
const value = fc.oneof(shellish, fc.string({ unit: 'binary', maxLength: 40 }), shellish.map((s) => `${s}@${s}`));

function vars(sender: string, rcpt: string, dest: string): FormatVars {
  return { sender, rcpt, dest, username: 'u', directory: '/home/u', subAddrDelim: '+' };
}

test('fuzz: an expanded envelope value has only safe characters, and never a leading "-"', () => {
  fc.assert(
    fc.property(value, value, value, fc.constantFrom('', ':lowercase', ':raw', ':strip', ':uppercase|raw'), (s, r, d, mod) => {
      const x = expandFormat(`%{sender${mod}} %{rcpt.user${mod}} %{dest.domain${mod}} %{rcpt[1:]}`, vars(s, r, d), 'command');
      if (!x.ok) return;
      for (const word of x.value.split(' ')) {
        assert.match(word, /^[A-Za-z0-9._+=@:\-\p{L}\p{N}]*$/u, JSON.stringify(word));
        assert.ok(!word.startsWith('-'), JSON.stringify(word));
      }
    }),
    params,
  );
});

test('fuzz: /bin/sh runs the expanded mda command with each expansion as one literal argument', () => {
  fc.assert(
    fc.property(value, value, value, (s, r, d) => {
      const x = expandFormat("printf '[%s]\\n' %{sender} %{rcpt.user} %{dest.domain:raw} END", vars(s, r, d), 'command');
      assert.ok(x.ok);
      const out = spawnSync('/bin/sh', ['-c', x.value], { env: {}, encoding: 'utf8', timeout: 5000 });
      assert.equal(out.status, 0, out.stderr);
      const user = r.lastIndexOf('@') < 0 ? r : r.slice(0, r.lastIndexOf('@'));
      const domain = d.lastIndexOf('@') < 0 ? '' : d.slice(d.lastIndexOf('@') + 1);
      const want = [...[s, user, domain].map((v) => `[${sanitize(v)}]`), '[END]'];
      // An empty value expands to no word at all (as in OpenSMTPD): the others must still be exact.
      assert.deepEqual(out.stdout.split('\n').filter((l) => l !== ''), want.filter((w) => w !== '[]'), JSON.stringify(x.value));
    }),
    { ...params, interruptAfterTimeLimit: Math.min(FUZZ_MS, 3000) },
  );
});
