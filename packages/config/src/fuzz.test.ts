// Property-based fuzzing (fast-check) of the smtpd.conf parser, bounded in time (FUZZ_MS, default
// 2 s per property), beside robustness.test.ts's fixed-seed run: statements built from the grammar's
// keywords, our `smtp limit` keys, punctuation, macros, quotes and raw bytes never make the parser
// throw; every error is `file:line: message` on one line, and a configuration that loads has
// validated limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { KEYWORDS } from './lexer.js';
import { SmtpdConfigSchema } from './model.js';
import { parseRaw } from './test-util.js';

const FUZZ_MS = Number(process.env['FUZZ_MS'] ?? 2000);
const params = { numRuns: 10_000_000, interruptAfterTimeLimit: FUZZ_MS, markInterruptAsFailure: false } as const;

const atom = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...KEYWORDS) },
  { weight: 3, arbitrary: fc.constantFrom('max-sessions', 'max-conn-per-ip', 'max-conn-rate', 'idle-timeout', 'line-timeout', 'max-rcpt', 'max-mails', '60/min', '5/s', '0', '-1', '99999999999999999999', '5m', '0s', '1d') },
  { weight: 2, arbitrary: fc.constantFrom('{', '}', '<', '>', '!', ',', '=', '=>', '/', '"', "'", '\\\n', '\n', '#c\n', '$m', 'm = "x"', '"a b"', 'smtp://h:1', '127.0.0.1', '::1', 'lo') },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
);

test('fuzz: config parser — any token soup gives a result, never an exception; errors are file:line: text', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(atom, { maxLength: 40 }), async (atoms) => {
      const text = atoms.join(' ');
      const r = await parseRaw(text);
      if (r.ok) {
        assert.ok(SmtpdConfigSchema.safeParse(r.config).success, 'a loaded configuration fails its own schema');
        const l = r.config.smtp.limits;
        assert.ok(l.idleTimeout >= 1 && l.lineTimeout >= 1 && l.maxSessions >= 0 && l.maxConnPerIp >= 0);
      } else {
        assert.ok(r.errors.length > 0);
        for (const e of r.errors) assert.match(e, /^[^:\n]+:\d+: [^\n]+$/, `input: ${JSON.stringify(text)}`);
      }
    }),
    params,
  );
});

test('fuzz: `smtp limit` — each hardening key with any value loads exactly or fails on line 1', async () => {
  const key = fc.constantFrom('max-sessions', 'max-conn-per-ip', 'max-conn-rate', 'idle-timeout', 'line-timeout');
  const value = fc.oneof(fc.integer({ min: -5, max: 2_000_000 }).map(String), fc.stringMatching(/^[0-9]{0,8}\/?(s|sec|min|m|h|hour|d|w|)$/), fc.string({ maxLength: 8 }).map((s) => JSON.stringify(s)));
  await fc.assert(
    fc.asyncProperty(key, value, async (k, v) => {
      const r = await parseRaw(`smtp limit ${k} ${v}\n`);
      if (!r.ok) for (const e of r.errors) assert.match(e, /^\/virtual\/smtpd\.conf:1: /, `${k} ${v}: ${e}`);
    }),
    params,
  );
});
