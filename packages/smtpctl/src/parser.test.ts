// The command grammar: exact words, unique abbreviations, typed ids, and OpenSMTPD's help.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandTree } from './parser.js';
import { queueLine } from './show-queue.js';
import { monitorLine } from './monitor.js';

const tree = new CommandTree()
  .install('show queue', 'q').install('show queue <msgid>', 'qm').install('show stats', 'st').install('show status', 'ss')
  .install('show message <msgid>', 'mm').install('show message <evpid>', 'me').install('remove all', 'ra').install('remove <evpid>', 're')
  .install('encrypt', 'e').install('encrypt <str>', 'es');

test('exact words, abbreviations and typed parameters', () => {
  assert.deepEqual(tree.parse(['show', 'queue']), { ok: true, cmd: 'q', params: [] });
  assert.deepEqual(tree.parse(['sh', 'q']), { ok: true, cmd: 'q', params: [] });
  assert.deepEqual(tree.parse(['sh', 'q', 'DEADBEEF']), { ok: true, cmd: 'qm', params: [{ type: 'msgid', value: 'deadbeef' }] });
  assert.deepEqual(tree.parse(['show', 'stats']), { ok: true, cmd: 'st', params: [] });
  assert.deepEqual(tree.parse(['show', 'message', '0123456789abcdef']).ok && tree.parse(['show', 'message', '0123456789abcdef']), { ok: true, cmd: 'me', params: [{ type: 'evpid', value: '0123456789abcdef' }] });
  assert.deepEqual(tree.parse(['encrypt', 'x y']), { ok: true, cmd: 'es', params: [{ type: 'str', value: 'x y' }] });
});

test('ambiguous, incomplete and wrong commands', () => {
  assert.deepEqual(tree.parse(['sh', 'stat']), { ok: false, message: 'possibilities are:\nshow queue\nshow stats\nshow status\nshow message' });
  assert.deepEqual(tree.parse(['show']), { ok: false, message: 'possibilities are:\nshow queue\nshow stats\nshow status\nshow message' });
  assert.equal(tree.parse(['show', 'queue', 'nothex!!']).ok, false);
  assert.equal(tree.parse(['remove', '00000000']).ok, false, 'a zero id is no id');
  assert.deepEqual(tree.parse(['show', 'queue', 'deadbeef', 'extra']), { ok: false, message: 'invalid command' });
  assert.throws(() => tree.install('show queue', 'again'), /duplicate/);
});

test('a show queue line has 14 fields and control characters stay visible', () => {
  const line = queueLine({
    evpid: '0123456789abcdef', family: 'local', type: 'mda', flags: ['bounce', 'suspend'], sender: '@', rcpt: 'a@b', dest: 'a@b',
    ctime: 1, expiry: 2, lasttry: 0, retry: 0, runstate: 'offline', delay: null, errorline: 'bad\nline|x',
  });
  assert.equal(line, '0123456789abcdef|local|mda|bounce,suspend|@|a@b|a@b|1|2|0|0|offline||bad\\012line|x');
});

test('monitor columns are deltas, current values are levels', () => {
  const z = { clt_connect: 0, clt_disconnect: 0, evp_enqueued: 0, evp_dequeued: 0, evp_expired: 0, evp_removed: 0, evp_bounce: 0, dlv_ok: 0, dlv_tempfail: 0, dlv_permfail: 0, dlv_loop: 0 };
  const a = { ...z, clt_connect: 5, clt_disconnect: 3, evp_enqueued: 10, evp_dequeued: 4, dlv_ok: 4 };
  const b = { ...a, clt_connect: 7, evp_enqueued: 12, dlv_tempfail: 1 };
  assert.deepEqual(monitorLine(b, a).trim().split(/\s+/).map(Number), [4, 2, 0, 8, 2, 0, 0, 1, 0, 0, 0, 0, 0]);
});
