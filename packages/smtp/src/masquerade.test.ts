// Unit tests of the From: rewrite of `senders ... masquerade` (OpenSMTPD's cases).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { masqueradeFrom, rewriteAddress } from './masquerade.js';

const A = 'alice@example.org';

test('masquerade: the bracketed address, else the last word; display names, comments and folding kept', () => {
  assert.equal(masqueradeFrom('From: Bob <bob@example.net>\n', A), `From: Bob <${A}>\n`);
  assert.equal(masqueradeFrom('From: bob@example.net\n', A), `From: ${A}\n`);
  assert.equal(masqueradeFrom('From: bob@example.net (Bob B)\n', A), `From: ${A} (Bob B)\n`);
  assert.equal(masqueradeFrom('From: "Smith, Bob" <bob@example.net>\n', A), `From: "Smith, Bob" <${A}>\n`);
  assert.equal(masqueradeFrom('From: Bob\n\t<bob@example.net>\n', A), `From: Bob\n\t<${A}>\n`);
  assert.equal(masqueradeFrom('From: a@x.test, B <b@y.test>\n', A), `From: ${A}, B <${A}>\n`);
});

test('masquerade: groups and unbalanced quotes, comments or brackets are left alone', () => {
  for (const f of ['From: undisclosed: a@x.test;\n', 'From: "open <a@x.test>\n', 'From: (open a@x.test\n', 'From: Bob <a@x.test\n']) {
    assert.equal(masqueradeFrom(f, A), f);
  }
  assert.equal(rewriteAddress(' ', A), ' ');
  assert.equal(masqueradeFrom('From: b@x.test\n', ''), 'From: b@x.test\n');
});
