// A configuration that uses what is not built yet is refused, each use named with its line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from '@tsmtpd/config';
import { unimplementedFeatures } from './features.js';

async function missing(text: string): Promise<string[]> {
  const r = await parseConfigText(text, '/etc/smtpd.conf');
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  return unimplementedFeatures(r.config);
}

test('a local-delivery configuration needs nothing unbuilt', async () => {
  assert.deepEqual(await missing('listen on 127.0.0.1 port 2525\naction "l" maildir\nmatch from any for local action "l"\n'), []);
});

test('a relay action needs nothing unbuilt', async () => {
  assert.deepEqual(await missing('listen on 127.0.0.1\naction "out" relay host smtp+tls://a@mx.example:587 tls\nmatch from any for any action "out"\n'), []);
});

test('builtin and proc filters need nothing unbuilt; a chroot and relay filters are named', async () => {
  const ok = await missing('proc p "x"\nfilter "a" phase connect match !rdns disconnect "550 no"\nfilter "b" proc p\nfilter "c" proc-exec "y" user nobody\nfilter "d" chain { "a", "b", "c" }\nlisten on 127.0.0.1 filter "d"\naction "l" mbox\nmatch for local action "l"\n');
  assert.deepEqual(ok, []);
  const no = await missing('filter "c" proc-exec "y" chroot "/var/empty"\nlisten on 127.0.0.1\naction "out" relay filter "c"\nmatch for any action "out"\n');
  assert.ok(no.some((l) => l.startsWith('/etc/smtpd.conf:1: filter "c": chroot')), no.join('\n'));
  assert.ok(no.some((l) => l.startsWith('/etc/smtpd.conf:3: action "out": relay filter')), no.join('\n'));
});

test('db, sqlite, passwd and proc tables need nothing unbuilt; filters neither', async () => {
  const out = await missing(
    [
      'table t proc:/nowhere',
      'listen on 127.0.0.1',
      'action "out" relay',
      'filter "f" phase connect match !rdns disconnect "550 no"',
      'match from any for any action "out"',
    ].join('\n'),
  );
  assert.ok(!out.some((l) => l.includes('relay')), out.join('\n'));
  assert.deepEqual(out, []);
});

test('queue compression and encryption need nothing unbuilt', async () => {
  const out = await missing('queue compression\nqueue encryption 0123456789abcdef0123456789abcdef\nlisten on 127.0.0.1\naction "l" mbox\nmatch for local action "l"\n');
  assert.deepEqual(out, []);
});
