// Unit tests of the Received header, the RFC 5322 date and the Message-ID format, and of
// the chunk sink that carries bodies to the queue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fail, ok, type Result } from '@tsmtpd/proto';
import { newMessageId, receivedHeader, rfc5322Date, type ReceivedInfo } from './received.js';
import { ChunkSink } from './sink.js';

const base: ReceivedInfo = {
  helo: 'client.example', rdns: 'host.example', remote: '192.0.2.1', maskSrc: false, name: 'mx.example',
  esmtp: true, msgid: '0123abcd', rcpt: 'a@example.org', date: new Date(Date.UTC(2026, 2, 26, 18, 38, 28)),
  tls: null, authUser: null, receivedAuth: false,
};

test('Received: one clause a line, tab continuations, LF, REFERENCE 7.4 order', () => {
  const h = receivedHeader(base);
  const lines = h.split('\n');
  assert.equal(lines[0], 'Received: from client.example (host.example [192.0.2.1])');
  assert.equal(lines[1], '\tby mx.example (tsmtpd) with ESMTP id 0123abcd');
  assert.equal(lines[2], '\tfor <a@example.org>;');
  assert.match(lines[3] ?? '', /^\t\w{3}, \d{1,2} \w{3} 2026 \d\d:\d\d:\d\d [+-]\d{4}/);
  assert.equal(lines[4], '');
  assert.equal(lines.length, 5);
});

test('Received: TLS tuple, ESMTPS/ESMTPSA, received-auth (under TLS only)', () => {
  const tls = { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', bits: 256, verified: false };
  assert.match(receivedHeader({ ...base, tls }), /\n\tby mx\.example \(tsmtpd\) with ESMTPS id 0123abcd \(TLSv1\.3:TLS_AES_256_GCM_SHA384:256:NO\)\n/);
  const authed = receivedHeader({ ...base, tls: { ...tls, verified: true }, authUser: 'alice', receivedAuth: true });
  assert.match(authed, /with ESMTPSA id 0123abcd \(TLSv1\.3:TLS_AES_256_GCM_SHA384:256:YES\) auth=yes user=alice\n/);
  assert.match(receivedHeader({ ...base, tls, receivedAuth: true }), /:NO\) auth=no\n/);
  assert.doesNotMatch(receivedHeader({ ...base, authUser: 'alice', receivedAuth: true }), /auth=/);
  assert.match(receivedHeader({ ...base, tls, authUser: 'a\u00e9 b', receivedAuth: true }), /user=a\?\?b\n/);
});

test('Received: mask-src, unknown rdns, IPv6, several recipients, HELO', () => {
  assert.match(receivedHeader({ ...base, maskSrc: true }), /^Received: by mx\.example \(tsmtpd\) with ESMTP id 0123abcd\n\tfor <a@example\.org>;\n\t/);
  assert.match(receivedHeader({ ...base, rdns: null, remote: '2001:db8::1' }), /^Received: from client\.example \(unknown \[IPv6:2001:db8::1\]\)\n/);
  assert.match(receivedHeader({ ...base, rcpt: null, esmtp: false }), /\n\tby mx\.example \(tsmtpd\) with SMTP id 0123abcd;\n\t\w{3}, /);
  assert.match(receivedHeader({ ...base, remote: 'local' }), /^Received: from client\.example \(localhost \[local\]\)\n/);
});

test('rfc5322Date: fields and offset agree with the Date', () => {
  const d = new Date(Date.UTC(2024, 0, 5, 3, 4, 5));
  const s = rfc5322Date(d);
  const m = /^(\w{3}), (\d{1,2}) (\w{3}) (\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$/.exec(s);
  assert.ok(m, s);
  assert.equal(Date.parse(s), d.getTime());
  assert.equal(rfc5322Date(d, true).startsWith(s), true);
});

test('newMessageId: <16 hex@host>, fresh every time', () => {
  const a = newMessageId('mx.example');
  assert.match(a, /^<[0-9a-f]{16}@mx\.example>$/);
  assert.notEqual(a, newMessageId('mx.example'));
});

test('ChunkSink: chunks of exactly chunkSize then the rest, bytes in order', async () => {
  const got: Buffer[] = [];
  const sink = new ChunkSink(async (ab) => {
    got.push(Buffer.from(ab));
    return ok(undefined);
  }, { chunkSize: 10, maxInFlight: 2 });
  const input = Buffer.from('abcdefghijklmnopqrstuvwxyz0123456789');
  for (let i = 0; i < input.length; i += 7) await (sink.write(input.subarray(i, i + 7)) ?? Promise.resolve());
  assert.equal(await sink.finish(), null);
  assert.deepEqual(got.map((b) => b.length), [10, 10, 10, 6]);
  assert.deepEqual(Buffer.concat(got), input);
  assert.equal(sink.bytes, input.length);
});

test('ChunkSink: at most maxInFlight appends outstanding; writers wait', async () => {
  const pending: ((r: Result<void>) => void)[] = [];
  const sink = new ChunkSink(() => new Promise((resolve) => pending.push(resolve)), { chunkSize: 4, maxInFlight: 2 });
  assert.equal(sink.write(Buffer.from('aaaa')), null);
  const wait = sink.write(Buffer.from('bbbb'));
  assert.ok(wait, 'second outstanding append makes the writer wait');
  assert.equal(pending.length, 2);
  let released = false;
  void wait.then(() => (released = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(released, false);
  pending.shift()?.(ok(undefined));
  await new Promise((r) => setImmediate(r));
  assert.equal(released, true);
  pending.shift()?.(ok(undefined));
  assert.equal(await sink.finish(), null);
});

test('ChunkSink: the first failure stops further appends and is reported', async () => {
  let calls = 0;
  const sink = new ChunkSink(async () => {
    calls++;
    return calls === 1 ? fail('ERR_DISK', 'temp', 'disk full') : ok(undefined);
  }, { chunkSize: 2, maxInFlight: 1 });
  await (sink.write(Buffer.from('aa')) ?? Promise.resolve());
  await new Promise((r) => setImmediate(r));
  assert.equal(sink.write(Buffer.from('bbbb')), null);
  assert.equal(await sink.finish(), 'ERR_DISK: disk full');
  assert.equal(calls, 1);
});
