// Message and envelope ids shaped as OpenSMTPD's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newMsgid, newEvpid, isMsgid, isEvpid, evpidMsgid, newSessionId } from './ids.js';

test('msgid is 8 hex digits, evpid 16 with the msgid first', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const m = newMsgid();
    assert.ok(isMsgid(m), m);
    assert.notEqual(m, '00000000');
    const e = newEvpid(m);
    assert.ok(isEvpid(e), e);
    assert.equal(evpidMsgid(e), m);
    assert.notEqual(e.slice(8), '00000000');
    seen.add(m);
  }
  assert.ok(seen.size > 990, 'random, not a counter stuck on a few values');
  assert.match(newSessionId(), /^[0-9a-f]{16}$/);
  assert.equal(isMsgid('0123456G'), false);
  assert.equal(isEvpid('0123456789abcdef0'), false);
});
