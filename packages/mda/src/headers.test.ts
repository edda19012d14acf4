// Return-Path/Delivered-To prepending and loop detection (REFERENCE 8.1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deliveryPrefix, HeaderScanner, isLoop, parseHeaderBlock } from './headers.js';

function scan(text: string, splitEvery = 0): ReturnType<HeaderScanner['result']> {
  const s = new HeaderScanner();
  const b = Buffer.from(text);
  if (splitEvery <= 0) s.feed(b);
  else for (let i = 0; i < b.length && !s.done; i += splitEvery) s.feed(b.subarray(i, i + splitEvery));
  return s.result();
}

test('the prefix is Return-Path then Delivered-To, LF endings; <> for the null sender', () => {
  assert.equal(deliveryPrefix('bob@x.org', 'alice@y.org').toString(), 'Return-Path: <bob@x.org>\nDelivered-To: alice@y.org\n');
  assert.equal(deliveryPrefix('', 'alice@y.org').toString(), 'Return-Path: <>\nDelivered-To: alice@y.org\n');
});

test('a Delivered-To equal to the destination (any case, brackets, folding) is a loop', () => {
  const msg = 'Received: from a\n\tby b\nDelivered-To: other@y.org\nDelivered-To:\n <ALICE@Y.org>\nSubject: x\n\nDelivered-To: body@y.org\n';
  for (const split of [0, 1, 2, 7]) {
    const info = scan(msg, split);
    assert.equal(info.complete, true);
    assert.ok(isLoop(info, 'alice@y.org'), `split ${split}`);
    assert.ok(isLoop(info, 'other@y.org'));
    assert.equal(isLoop(info, 'body@y.org'), false, 'a body line is not a header');
    assert.equal(isLoop(info, 'carol@y.org'), false);
  }
});

test('no loop without the header; the empty line ends the header block', () => {
  const info = scan('Subject: hi\n\nDelivered-To: alice@y.org\n');
  assert.equal(isLoop(info, 'alice@y.org'), false);
  const none = scan('\nDelivered-To: alice@y.org\n');
  assert.equal(none.deliveredTo.size, 0);
});

test('the block end is found across a chunk boundary between the two LFs', () => {
  const s = new HeaderScanner();
  s.feed(Buffer.from('Delivered-To: a@b.c\n'));
  assert.equal(s.done, false);
  s.feed(Buffer.from('\nDelivered-To: z@b.c\n'));
  assert.equal(s.done, true);
  const info = s.result();
  assert.deepEqual([...info.deliveredTo], ['a@b.c']);
});

test('X-Spam: yes and X-Spam-Flag: YES mark junk; other values do not', () => {
  assert.equal(parseHeaderBlock('X-Spam: yes\n\n', true).spam, true);
  assert.equal(parseHeaderBlock('x-spam-flag: YES\n\n', true).spam, true);
  assert.equal(parseHeaderBlock('X-Spam: no\n\n', true).spam, false);
  assert.equal(parseHeaderBlock('X-Spam-Status: yes\n\n', true).spam, false);
});
