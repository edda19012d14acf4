// sendmail's message handling: header parsing, -t recipients, the sender from -f or From:, the
// fields added and dropped, long lines in quoted-printable, and the offline file round trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, mkdirSync, statSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseOfflineHeader } from '@tsmtpd/proto/offline.js';
import { addressesOf, composeMessage, envelopeOf, parseMessage } from './sendmail-message.js';
import { writeOffline } from './sendmail-offline.js';
import { parseSendmailArgs, xtext } from './sendmail.js';

const msg = (s: string) => Buffer.from(s.replace(/\n/g, '\r\n'), 'latin1');

test('header section: fields, continuations, mbox From line, no header at all', () => {
  const m = parseMessage(msg('From bob Tue Dec  1 10:00:00 2026\nTo: a@x,\n b@y\nSubject: hi\n\nbody\n'));
  assert.deepEqual(m.fields.map((f) => f.name), ['to', 'subject']);
  assert.equal(m.body.toString(), 'body\n');
  const none = parseMessage(Buffer.from('just text\nmore'));
  assert.equal(none.noHeader, true);
  assert.equal(none.body.toString(), 'just text\nmore\n');
});

test('-t takes To, Cc and Bcc; bare names and argv are qualified; duplicates once', () => {
  const m = parseMessage(msg('To: root, "B, b" <b@y>\nCc: grp: c@z, root;\nBcc: d@w\nFrom: Me <me@here>\n\nx\n'));
  const e = envelopeOf(m, { login: 'u', host: 'h.example', tflag: true, argv: ['e@v,f'] });
  assert.deepEqual([...e.recipients].sort(), ['b@y', 'c@z', 'd@w', 'e@v', 'f@h.example', 'root@h.example']);
  assert.equal(e.sender, 'me@here', 'without -f the From: address is the sender (OpenSMTPD)');
  assert.equal(envelopeOf(m, { from: '<>', login: 'u', host: 'h', tflag: false, argv: [] }).sender, '');
  assert.equal(envelopeOf(parseMessage(msg('\nx\n')), { login: 'u', host: 'h', tflag: false, argv: [] }).sender, 'u@h');
  assert.deepEqual(addressesOf('undisclosed-recipients:;'), []);
});

test('composed: Bcc and Return-Path dropped, From/Date/Message-ID added once', () => {
  const m = parseMessage(msg('Return-Path: <x@y>\nBcc: secret@z\nSubject: s\n\nbody\n'));
  const out = composeMessage(m, { sender: 'u@h', fullName: 'Jörg Ü', date: new Date(0), host: 'h' }).toString('latin1');
  assert.doesNotMatch(out, /^(Bcc|Return-Path):/im);
  assert.match(out, /^From: =\?UTF-8\?Q\?J=C3=B6rg_=C3=9C\?= <u@h>$/m);
  assert.match(out, /^Date: \w{3}, 1 Jan 1970 /m);
  assert.match(out, /^Message-ID: <[^>]+@h>$/m);
  const kept = composeMessage(parseMessage(msg('Date: x\nMessage-ID: <a@b>\nFrom: f@g\n\nb\n')), { sender: 'u@h', date: new Date(), host: 'h' }).toString();
  assert.equal(kept, 'Date: x\nMessage-ID: <a@b>\nFrom: f@g\n\nb\n');
});

test('long lines: a plain body becomes quoted-printable, a multipart one is left alone', () => {
  const long = 'x'.repeat(1500);
  const out = composeMessage(parseMessage(msg(`Subject: s\n\n${long}\n`)), { sender: 'u@h', date: new Date(), host: 'h' }).toString();
  assert.match(out, /^Content-Transfer-Encoding: quoted-printable$/m);
  assert.match(out, /^MIME-Version: 1.0$/m);
  assert.ok(out.split('\n').every((l) => l.length <= 76));
  const mp = composeMessage(parseMessage(msg(`Content-Type: multipart/mixed; boundary=b\n\n--b\n\n${long}\n--b--\n`)), { sender: 'u@h', date: new Date(), host: 'h' }).toString();
  assert.ok(mp.includes(long));
  const header = composeMessage(parseMessage(msg(`Subject: ${'word '.repeat(300)}\n\nb\n`)), { sender: 'u@h', date: new Date(), host: 'h' }).toString();
  assert.ok(header.split('\n').every((l) => l.length < 990), 'a long header line is folded');
});

test('options: bundles, attached values, no-ops, DSN checks', () => {
  const a = parseSendmailArgs(['-tif', '<me@x>', '-oi', '-oem', '-bm', '-F', 'Full Name', '-N', 'failure,delay', '-R', 'hdrs', '-V', 'id 1', 'a', 'b']);
  assert.ok(typeof a !== 'string');
  assert.equal(a.from, '<me@x>');
  assert.equal(a.tflag, true);
  assert.deepEqual(a.recipients, ['a', 'b']);
  assert.equal(a.dsnNotify, 'FAILURE,DELAY');
  assert.equal(a.dsnRet, 'HDRS');
  assert.equal(xtext(a.dsnEnvid ?? ''), 'id+201');
  assert.equal((parseSendmailArgs(['-bi']) as { newaliases: boolean }).newaliases, true);
  assert.equal(typeof parseSendmailArgs(['-N', 'never,success']), 'string');
  assert.equal(typeof parseSendmailArgs(['-Z']), 'string');
});

test('offline file: JSON header line, then the message; O_EXCL, no symlink followed', () => {
  const spool = mkdtempSync(path.join(os.tmpdir(), 'tsmtpd-offline-unit-'));
  try {
    mkdirSync(path.join(spool, 'offline'));
    const p = writeOffline(spool, ['-f', 'a|b\nc', 'x'], Buffer.from('Subject: s\n\nbody\n'), 1234);
    const text = readFileSync(p, 'utf8');
    const nl = text.indexOf('\n');
    assert.deepEqual(parseOfflineHeader(text.slice(0, nl)), { version: 1, argv: ['-f', 'a|b\nc', 'x'], time: 1234 });
    assert.equal(text.slice(nl + 1), 'Subject: s\n\nbody\n');
    assert.equal(statSync(p).mode & 0o777, 0o600);
    assert.equal(parseOfflineHeader('a|b|c'), null);
    assert.equal(parseOfflineHeader('{"version":1,"argv":[],"time":1,"extra":1}'), null);
    // A name planted in advance (a symlink) is never written through.
    rmSync(path.join(spool, 'offline'), { recursive: true });
    mkdirSync(path.join(spool, 'offline'));
    symlinkSync('/nonexistent-target', path.join(spool, 'offline', 'x'));
    assert.throws(() => writeOffline(path.join(spool, 'missing'), [], Buffer.from('')), /ENOENT/);
  } finally {
    rmSync(spool, { recursive: true, force: true });
  }
});
