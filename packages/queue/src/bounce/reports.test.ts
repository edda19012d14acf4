// Which outcomes become reports (RFC 3461 NOTIFY), their status codes, and delay warnings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DsnNotify, type Envelope } from '@tsmtpd/proto';
import { BOUNCE_TTL, bounceEnvelope, delayWarningDue, reportFor, reportKind, statusOf } from './reports.js';

function env(over: Partial<Envelope> = {}): Envelope {
  return {
    id: 'aabbccdd00000001', msgid: 'aabbccdd', type: 'mda', dispatcher: 'local', smtpname: 'mx.test', helo: 'c.test',
    hostname: '', sockaddr: '127.0.0.1', sender: 'alice@client.test', rcpt: 'bob@mx.test', dest: 'bob@mx.test',
    ctime: 1000, lastTry: 0, lastBounce: 0, ttl: 3600, retry: 0, flags: [], dsnNotify: 0, ...over,
  };
}

test('failures are reported unless NOTIFY excludes them, the sender is null or it is a bounce', () => {
  assert.equal(reportKind(env(), { status: 'permfail', errorline: 'x' }).kind, 'failed');
  assert.equal(reportKind(env(), { status: 'expired', errorline: 'x' }).kind, 'failed');
  assert.equal(reportKind(env(), { status: 'loop', errorline: 'x' }).kind, 'failed');
  assert.deepEqual(reportKind(env({ sender: '' }), { status: 'permfail', errorline: 'x' }), { kind: null, why: 'null-sender' });
  assert.deepEqual(reportKind(env({ flags: ['bounce'] }), { status: 'permfail', errorline: 'x' }), { kind: null, why: 'double-bounce' });
  assert.deepEqual(reportKind(env({ type: 'bounce' }), { status: 'expired', errorline: 'x' }), { kind: null, why: 'double-bounce' });
  assert.deepEqual(reportKind(env({ dsnNotify: DsnNotify.never }), { status: 'permfail', errorline: 'x' }), { kind: null, why: 'notify' });
  assert.deepEqual(reportKind(env({ dsnNotify: DsnNotify.success }), { status: 'permfail', errorline: 'x' }), { kind: null, why: 'notify' });
  assert.equal(reportKind(env({ dsnNotify: DsnNotify.failure | DsnNotify.delay }), { status: 'permfail', errorline: 'x' }).kind, 'failed');
});

test('success is reported only when asked, and a relay reports only when the next hop could not', () => {
  assert.equal(reportKind(env(), { status: 'ok', errorline: '' }).kind, null);
  assert.equal(reportKind(env({ dsnNotify: DsnNotify.success }), { status: 'ok', errorline: '' }).kind, 'delivered');
  assert.equal(reportKind(env({ type: 'mta', dsnNotify: DsnNotify.success }), { status: 'ok', errorline: '' }).kind, null);
  assert.equal(reportKind(env({ type: 'mta', dsnNotify: DsnNotify.success }), { status: 'ok', errorline: '', relayed: true }).kind, 'relayed');
});

test('status codes come from the reply, with the class of the report', () => {
  assert.equal(statusOf('failed', { status: 'permfail', errorline: '550 5.1.1 no such user' }), '5.1.1');
  assert.equal(statusOf('failed', { status: 'permfail', errorline: '5.7.1 refused' }), '5.7.1');
  assert.equal(statusOf('failed', { status: 'permfail', errorline: '552 too big' }), '5.5.0');
  assert.equal(statusOf('failed', { status: 'permfail', errorline: 'no such mailbox' }), '5.0.0');
  assert.equal(statusOf('delayed', { status: 'tempfail', errorline: '451 4.3.0 later' }), '4.3.0');
  assert.equal(statusOf('failed', { status: 'expired', errorline: '' }), '5.4.7');
  assert.equal(statusOf('failed', { status: 'loop', errorline: '' }), '5.4.6');
  assert.equal(statusOf('delivered', { status: 'ok', errorline: '250 ok' }), '2.0.0');
});

test('an expiry reports the last error; a remote reply is an smtp diagnostic', () => {
  const r = reportFor(env({ errorline: '451 4.7.1 greylisted', lastTry: 1500 }), 'failed', { status: 'expired', errorline: '' }, 4700);
  assert.equal(r.status, '5.4.7');
  assert.match(r.diagnostic, /greylisted/);
  assert.equal(r.diagnosticType, 'smtp');
  assert.equal(r.lastAttempt, 1500);
  assert.equal(r.arrival, 1000);
  const local = reportFor(env(), 'failed', { status: 'permfail', errorline: 'mailbox closed' }, 2000);
  assert.equal(local.diagnosticType, 'x-local');
  const remote = reportFor(env({ type: 'mta' }), 'failed', { status: 'permfail', errorline: 'x', remote: true, remoteMta: 'mx.example' }, 2000);
  assert.equal(remote.diagnosticType, 'smtp');
  assert.equal(remote.remoteMta, 'mx.example');
  assert.equal(reportFor(env(), 'delayed', { status: 'tempfail', errorline: 'later' }, 2000).retryUntil, 4600);
});

test('a delay warning is due once per interval passed, never for bounces or without DELAY', () => {
  const iv = [600, 1800];
  assert.equal(delayWarningDue(env(), 1500, iv), false, 'before the first interval');
  assert.equal(delayWarningDue(env(), 1600, iv), true);
  assert.equal(delayWarningDue(env({ lastBounce: 1600 }), 1700, iv), false, 'already warned for 600');
  assert.equal(delayWarningDue(env({ lastBounce: 1600 }), 2800, iv), true, 'the 1800 interval');
  assert.equal(delayWarningDue(env({ sender: '' }), 1600, iv), false);
  assert.equal(delayWarningDue(env({ type: 'bounce' }), 1600, iv), false);
  assert.equal(delayWarningDue(env({ dsnNotify: DsnNotify.failure }), 1600, iv), false);
  assert.equal(delayWarningDue(env({ dsnNotify: DsnNotify.delay }), 1600, iv), true);
  assert.equal(delayWarningDue(env({ ttl: 500 }), 1600, iv), false, 'past its lifetime it expires instead');
});

test('a bounce envelope lives under the original message with the report and a fresh schedule', () => {
  const original = env({ retry: 3, lastTry: 1900, errorline: 'old' });
  const report = reportFor(original, 'failed', { status: 'permfail', errorline: 'gone' }, 2000);
  const b = bounceEnvelope(original, report, 2000, () => false);
  assert.equal(b.type, 'bounce');
  assert.equal(b.msgid, original.msgid);
  assert.ok(b.id.startsWith(original.msgid) && b.id !== original.id);
  assert.equal(b.ttl, BOUNCE_TTL);
  assert.equal(b.retry, 0);
  assert.equal(b.errorline, undefined);
  assert.equal(b.sender, original.sender);
  assert.deepEqual(b.report, report);
});
