// Property-based fuzzing (fast-check) of the one address validator, for a bounded time (FUZZ_MS,
// default 2 s per property): it never throws, what it accepts has no control character and
// survives its own round trip, a missing `@` is refused unless asked for (CVE-2020-7247), and
// addresses built from the RFC 5321 grammar are accepted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatAddress, parseAddress } from './address.js';

const FUZZ_MS = Number(process.env['FUZZ_MS'] ?? 2000);
const params = { numRuns: 10_000_000, interruptAfterTimeLimit: FUZZ_MS, markInterruptAsFailure: false } as const;

/** Strings biased toward the characters that matter: @ . " \ < > ; ` $ ( ) | CR LF NUL, UTF-8. */
const hostile = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'@."\\<>;`$()|&-_+ \t\r\n\0aZ9\u00e9\u4e2d\ufffd'), maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => `${s}@example.org`),
);

test('fuzz: parseAddress never throws; an accepted address is clean and round-trips', () => {
  fc.assert(
    fc.property(hostile, fc.boolean(), fc.boolean(), (input, utf8, unq) => {
      const r = parseAddress(input, { utf8, allowUnqualified: unq });
      if (!r.ok) return;
      const text = formatAddress(r.address);
      assert.ok(!/[\x00-\x1f\x7f]/.test(text), `control character survived: ${JSON.stringify(text)}`);
      if (!unq) assert.ok(r.address.domain !== '', `unqualified ${JSON.stringify(input)} accepted`);
      if (!utf8) assert.ok(!/[^\x00-\x7f]/.test(text), `non-ASCII accepted without SMTPUTF8: ${JSON.stringify(input)}`);
      const again = parseAddress(text, { utf8, allowUnqualified: unq });
      assert.ok(again.ok, `canonical form ${JSON.stringify(text)} of ${JSON.stringify(input)} refused`);
      assert.deepEqual(again.address, r.address);
      assert.equal(formatAddress(again.address), text);
    }),
    params,
  );
});

const atext = fc.string({ unit: fc.constantFrom(...'abcXYZ019!#$%&\'*+-/=?^_`{|}~'), minLength: 1, maxLength: 12 });
const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?$/);

test('fuzz: every dot-string@domain of the RFC 5321 grammar is accepted as is', () => {
  fc.assert(
    fc.property(fc.array(atext, { minLength: 1, maxLength: 4 }), fc.array(label, { minLength: 1, maxLength: 4 }), (atoms, labels) => {
      const local = atoms.join('.');
      const domain = labels.join('.');
      fc.pre(local.length <= 64 && local.length + domain.length < 250);
      const r = parseAddress(`${local}@${domain}`);
      assert.ok(r.ok, `${local}@${domain} refused: ${r.ok ? '' : r.error}`);
      assert.equal(formatAddress(r.address), `${local}@${domain}`);
    }),
    params,
  );
});

test('fuzz: without allowUnqualified, no input lacking "@" is ever accepted (CVE-2020-7247)', () => {
  fc.assert(
    fc.property(hostile.filter((s) => !s.includes('@')), (input) => {
      assert.equal(parseAddress(input, { utf8: true }).ok, false, JSON.stringify(input));
    }),
    params,
  );
});
