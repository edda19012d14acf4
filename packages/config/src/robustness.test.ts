// The parser never throws on arbitrary input: every failure is a `file:line: message` value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KEYWORDS } from './lexer.js';
import { parseRaw } from './test-util.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s * 1_664_525 + 1_013_904_223) >>> 0; return s / 2 ** 32; };
}

const ATOMS = [...KEYWORDS, '{', '}', '<', '>', '!', ',', '=', '=>', '"q s"', 'x', '10.0.0.1', '25', '4d', '35M',
  '$m', '\\\n', '\n', '#c\n', '"', '/p', 'smtp://h:1', 'm = "local"', 'lo', 'egress', '::1'];

test('robustness: 2000 random inputs parse to a result without throwing', async () => {
  const next = rng(42);
  for (let i = 0; i < 2000; i++) {
    const n = 1 + Math.floor(next() * 30);
    let text = '';
    for (let j = 0; j < n; j++) text += `${ATOMS[Math.floor(next() * ATOMS.length)] ?? ''} `;
    const r = await parseRaw(text);
    if (!r.ok) for (const e of r.errors) assert.match(e, /^[^:]+:\d+: .+/, `input: ${JSON.stringify(text)}`);
  }
});
