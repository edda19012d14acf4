// The reply table: every entry is a well-formed SMTP reply whose enhanced code agrees with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Replies, formatReply, replyWith, isTempReply } from './reply.js';

test('every reply has a 3-digit code and a matching enhanced class (RFC 3463)', () => {
  for (const [name, r] of Object.entries(Replies)) {
    assert.ok(r.code >= 200 && r.code <= 599, name);
    if (r.enhanced === '') continue;
    assert.match(r.enhanced, /^[245]\.\d{1,3}\.\d{1,3}$/, name);
    assert.equal(r.enhanced[0], String(r.code)[0], `${name}: ${r.code} with ${r.enhanced}`);
    assert.doesNotMatch(r.text, /[\r\n]/, name);
  }
});

test('the codes the mission names', () => {
  assert.equal(formatReply(Replies.relayDenied), '550 5.7.1 Relaying denied');
  assert.match(formatReply(Replies.unknownUser), /^550 5\.1\.1 /);
  assert.match(formatReply(Replies.loop), /^554 5\.4\.6 /);
  assert.match(formatReply(Replies.sizeTooBig), /^552 5\.3\.4 /);
  assert.equal(formatReply(Replies.dataStart), '354 Enter mail, end with "." on a line by itself');
});

test('replyWith keeps the codes and changes only the text, without touching the table', () => {
  const r = replyWith('relayDenied', '<x@y.z>: Relaying denied');
  assert.equal(formatReply(r), '550 5.7.1 <x@y.z>: Relaying denied');
  assert.equal(Replies.relayDenied.text, 'Relaying denied');
  assert.equal(isTempReply(Replies.tempFailure), true);
  assert.equal(isTempReply(Replies.rejected), false);
});
