// The queue key's sources: one line of stdin (LF stripped, nothing else, as OpenSMTPD), the
// terminal prompt (none: a clear error), and the 32-byte rule after either.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { parseConfigText, type SmtpdConfig } from '@tsmtpd/config';
import { fillQueueKey, readLine, type KeySources } from './queue-key.js';

const KEY = '00112233445566778899aabbccddeeff';

async function config(line: string): Promise<SmtpdConfig> {
  const r = await parseConfigText(`${line}\nlisten on 127.0.0.1\naction "l" mbox\nmatch for local action "l"\n`, '/etc/smtpd.conf', { readsStdinKey: true });
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  return r.config;
}

function sources(stdinText: string | null, typed: string | null = null): KeySources & { asked: string[] } {
  const stdin = new PassThrough();
  if (stdinText !== null) stdin.end(stdinText);
  else stdin.end();
  const asked: string[] = [];
  return { stdin, asked, prompt: async (q) => (asked.push(q), typed) };
}

test('stdin: the first line is the key; the rest of the input is not read into it', async () => {
  const r = await fillQueueKey(await config('queue encryption stdin'), sources(`${KEY}\nsecond line\n`));
  assert.ok(r.ok);
  assert.equal(r.config.queue.encryption?.key, KEY);
  // A bare - is a syntax error in OpenSMTPD's lexer (and ours): it is written quoted.
  const dash = await fillQueueKey(await config('queue encryption "-"'), sources(KEY)); // no LF before EOF
  assert.ok(dash.ok && dash.config.queue.encryption?.key === KEY);
});

test('stdin: nothing, or a CRLF line (33 bytes), is refused with the reason', async () => {
  const none = await fillQueueKey(await config('queue encryption stdin'), sources(null));
  assert.deepEqual(none, { ok: false, error: 'queue encryption stdin: no key on standard input' });
  const crlf = await fillQueueKey(await config('queue encryption stdin'), sources(`${KEY}\r\n`));
  assert.ok(!crlf.ok && /invalid key for queue encryption: 33 bytes, 32 needed/.test(crlf.error));
});

test('prompt: asks "queue key: "; without a terminal the start fails saying so', async () => {
  const s = sources(null, KEY);
  const r = await fillQueueKey(await config('queue encryption'), s);
  assert.ok(r.ok && r.config.queue.encryption?.key === KEY);
  assert.deepEqual(s.asked, ['queue key: ']);
  const noTty = await fillQueueKey(await config('queue encryption'), sources(null, null));
  assert.ok(!noTty.ok && /no terminal to ask for it/.test(noTty.error));
  const short = await fillQueueKey(await config('queue encryption'), sources(null, 'short'));
  assert.ok(!short.ok && /5 bytes, 32 needed/.test(short.error));
});

test('an inline key and no encryption pass through untouched', async () => {
  const inline = await config(`queue encryption ${KEY}`);
  assert.deepEqual(await fillQueueKey(inline, sources(null)), { ok: true, config: inline });
  const plain = await config('queue compression');
  assert.deepEqual(await fillQueueKey(plain, sources(null)), { ok: true, config: plain });
});

test('readLine gives up on an endless line', async () => {
  const s = new PassThrough();
  const line = readLine(s);
  s.write('x'.repeat(5000));
  assert.equal((await line)?.length, 5000);
});
