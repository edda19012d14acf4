// composeDsn, read back by an independent parser: Python's email package (test/lib/py/dsn_parse.py)
// parses head + returned content + tail; the structure, every delivery-status field, the returned
// content and the absence of defects are checked, plus header injection and folding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BounceReport } from '@tsmtpd/proto';
import { composeDsn, type DsnInput, type DsnRecipient } from './compose.js';

const PY = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const SCRIPT = fileURLToPath(new URL('../../../../test/lib/py/dsn_parse.py', import.meta.url));

type Fields = [string, string][];
interface Single { headers: Fields; body_b64: string; defects: string[] }
interface Part {
  content_type: string;
  params: Record<string, string>;
  headers: Fields;
  defects: string[];
  payload_b64?: string;
  content?: string;
  blocks?: Fields[];
  block_dates?: Record<string, number>[];
  message?: Single;
}
interface Parsed {
  is_multipart: boolean;
  content_type: string;
  params: Record<string, string>;
  headers: Fields;
  defects: string[];
  dates: Record<string, number>;
  parts: Part[];
}

function python<T>(mode: 'dsn' | 'message', input: Buffer): T {
  const r = spawnSync(PY, [SCRIPT, mode], { input, timeout: 20_000, maxBuffer: 16 << 20 });
  assert.equal(r.status, 0, `dsn_parse.py failed: ${r.stderr?.toString()}`);
  return JSON.parse(r.stdout.toString()) as T;
}

/** What the bounce builder stores: head, the returned content, tail. */
function build(input: DsnInput, content: Buffer): { raw: Buffer; parsed: Parsed } {
  const d = composeDsn(input);
  const raw = Buffer.concat([d.head, content, d.tail]);
  return { raw, parsed: python<Parsed>('dsn', raw) };
}

/** A field block as a map; a field named twice fails the test. */
function fieldMap(block: Fields): Map<string, string> {
  const m = new Map<string, string>();
  for (const [k, v] of block) {
    assert.ok(!m.has(k.toLowerCase()), `field ${k} twice`);
    m.set(k.toLowerCase(), v);
  }
  return m;
}

const T0 = 1_700_000_000;
const ARRIVAL = T0 - 5 * 3600;
const HEADERS = 'From: Ann <ann@example.org>\nTo: bob@example.net\nSubject: =?utf-8?q?R=C3=A9sum=C3=A9_d=C3=A9j=C3=A0_vu?=\nMessage-ID: <m1@example.org>\n';
const ORIGINAL = `${HEADERS}\nHello,\nFrom the start: this line begins with "From ".\n-- \nAnn\n`;

function report(over: Partial<BounceReport> = {}): BounceReport {
  return { kind: 'failed', status: '5.1.1', diagnostic: '550 5.1.1 <bob@example.net>: no such user', diagnosticType: 'smtp', lastAttempt: T0 - 60, arrival: ARRIVAL, ...over };
}

function input(over: Partial<DsnInput> = {}, recipients?: DsnRecipient[]): DsnInput {
  const kind = over.kind ?? 'failed';
  return {
    reportingMta: 'mx.example.org', kind, to: 'ann@example.org', arrival: ARRIVAL, returnContent: 'headers', now: T0, messageId: '0123456789abcdef',
    recipients: recipients ?? [{ finalRecipient: 'bob@example.net', originalRecipient: 'bob@example.net', report: report({ kind }) }],
    ...over,
  };
}

/** The checks every notification must pass; returns its three parts. */
function checkStructure(p: Parsed, kind: string, third: string): [Part, Part, Part] {
  assert.deepEqual(p.defects, []);
  assert.equal(p.is_multipart, true);
  assert.equal(p.content_type, 'multipart/report');
  assert.match(p.params['report-type'] ?? '', /^(global-)?delivery-status$/);
  assert.ok((p.params.boundary ?? '').length >= 50);
  const h = fieldMap(p.headers);
  assert.equal(h.get('from'), 'Mail Delivery System <MAILER-DAEMON@mx.example.org>');
  assert.equal(h.get('to'), 'ann@example.org');
  assert.equal(h.get('subject'), `Delivery Status Notification: ${kind}`);
  assert.equal(h.get('message-id'), '<0123456789abcdef@mx.example.org>');
  assert.equal(h.get('mime-version'), '1.0');
  assert.equal(h.get('auto-submitted'), 'auto-replied');
  assert.equal(p.dates.Date, T0);
  assert.equal(p.parts.length, 3);
  const [text, status, returned] = p.parts as [Part, Part, Part];
  assert.equal(text.content_type, 'text/plain');
  assert.equal(text.params.charset, 'utf-8');
  assert.match(status.content_type, /^message\/(global-)?delivery-status$/);
  assert.equal(returned.content_type, third);
  return [text, status, returned];
}

test('failed, two recipients, headers returned: every field, 7-bit throughout', () => {
  const recipients: DsnRecipient[] = [
    { finalRecipient: 'bob@example.net', originalRecipient: 'Bob@Example.net', report: report({ remoteMta: 'mx1.example.net' }) },
    { finalRecipient: 'carol@example.org', report: report({ status: '5.2.2', diagnostic: 'mailbox full', diagnosticType: 'x-local', lastAttempt: T0 - 30 }) },
  ];
  const { raw, parsed } = build(input({ envid: 'QQ+id-42' }, recipients), Buffer.from(HEADERS));
  assert.ok(raw.every((b) => b < 0x80), 'an all-ASCII report is 7-bit');
  assert.ok(!raw.includes('\r'), 'LF line ends');
  const [text, status, returned] = checkStructure(parsed, 'failed', 'text/rfc822-headers');
  assert.match(text.content ?? '', /could not deliver/);
  assert.match(text.content ?? '', /<bob@example\.net>: 550 5\.1\.1 <bob@example\.net>: no such user/);
  assert.match(text.content ?? '', /<carol@example\.org>: mailbox full/);
  assert.equal(status.content_type, 'message/delivery-status');
  const blocks = status.blocks ?? [];
  assert.equal(blocks.length, 3);
  const msg = fieldMap(blocks[0] ?? []);
  assert.deepEqual([...msg.keys()], ['original-envelope-id', 'reporting-mta', 'arrival-date']);
  assert.equal(msg.get('original-envelope-id'), 'QQ+id-42');
  assert.equal(msg.get('reporting-mta'), 'dns; mx.example.org');
  assert.equal(status.block_dates?.[0]?.['Arrival-Date'], ARRIVAL);
  const bob = fieldMap(blocks[1] ?? []);
  assert.equal(bob.get('original-recipient'), 'rfc822; Bob@Example.net');
  assert.equal(bob.get('final-recipient'), 'rfc822; bob@example.net');
  assert.equal(bob.get('action'), 'failed');
  assert.equal(bob.get('status'), '5.1.1');
  assert.equal(bob.get('remote-mta'), 'dns; mx1.example.net');
  assert.equal(bob.get('diagnostic-code'), 'smtp; 550 5.1.1 <bob@example.net>: no such user');
  assert.equal(status.block_dates?.[1]?.['Last-Attempt-Date'], T0 - 60);
  assert.equal(bob.has('will-retry-until'), false);
  const carol = fieldMap(blocks[2] ?? []);
  assert.equal(carol.has('original-recipient'), false);
  assert.equal(carol.has('remote-mta'), false);
  assert.equal(carol.get('final-recipient'), 'rfc822; carol@example.org');
  assert.equal(carol.get('status'), '5.2.2');
  assert.equal(carol.get('diagnostic-code'), 'x-local; mailbox full');
  assert.equal(status.block_dates?.[2]?.['Last-Attempt-Date'], T0 - 30);
  assert.equal(Buffer.from(returned.payload_b64 ?? '', 'base64').toString(), HEADERS);
});

test('failed with RET=FULL: message/rfc822 equal to the original, "From " line and all', () => {
  const { parsed } = build(input({ returnContent: 'full' }), Buffer.from(ORIGINAL));
  const [text, , returned] = checkStructure(parsed, 'failed', 'message/rfc822');
  assert.match(text.content ?? '', /your original message/);
  const alone = python<Single>('message', Buffer.from(ORIGINAL));
  assert.equal(alone.headers.find(([k]) => k === 'Subject')?.[1], 'Résumé déjà vu');
  assert.deepEqual(returned.message?.headers, alone.headers);
  assert.equal(Buffer.from(returned.message?.body_b64 ?? '', 'base64').toString(), ORIGINAL.slice(HEADERS.length + 1));
});

test('SMTPUTF8: global types, raw UTF-8 address and header kept', () => {
  const original = Buffer.from('From: Jörg <jörg@bücher.example>\nSubject: Grüße\n\nHallo\n');
  const recipients = [{ finalRecipient: 'zoë@example.net', originalRecipient: 'Zoë@example.net', report: report({ diagnostic: '550 unknown zoë' }) }];
  const { parsed } = build(input({ to: 'jörg@bücher.example', returnContent: 'full' }, recipients), original);
  // Python's address parser does not know RFC 6532 and flags UTF-8 in To: (ours) and From: (the
  // original's); nothing else may be flagged.
  const rfc6532 = /^(To|From): (NonASCIILocalPartDefect|UndecodableBytesDefect)$/;
  assert.deepEqual(parsed.defects.filter((d) => !rfc6532.test(d)), []);
  assert.equal(fieldMap(parsed.headers).get('to'), 'jörg@bücher.example');
  const [text, status, returned] = parsed.parts as [Part, Part, Part];
  assert.equal(parsed.parts.length, 3);
  assert.match(text.content ?? '', /<zoë@example\.net>: 550 unknown zoë/);
  assert.equal(status.content_type, 'message/global-delivery-status');
  assert.equal(parsed.params['report-type'], 'global-delivery-status', 'report-type names the second part (RFC 6522)');
  const rcpt = fieldMap(status.blocks?.[1] ?? []);
  assert.equal(rcpt.get('final-recipient'), 'utf-8; zoë@example.net');
  assert.equal(rcpt.get('original-recipient'), 'utf-8; Zoë@example.net');
  assert.equal(rcpt.get('diagnostic-code'), 'smtp; 550 unknown zoë');
  assert.equal(returned.content_type, 'message/global');
  assert.equal(returned.message?.headers.find(([k]) => k === 'Subject')?.[1], 'Grüße');
});

test('non-ASCII recipient without SMTPUTF8: utf-8-addr-xtext, quoted-printable text, still 7-bit', () => {
  const recipients = [{ finalRecipient: 'zoë+x=1@example.net', report: report({ diagnostic: 'kein Postfach für zoë' }) }];
  const { raw, parsed } = build(input({}, recipients), Buffer.from(HEADERS));
  assert.ok(raw.every((b) => b < 0x80), 'RFC 6533 downgrade keeps the report 7-bit');
  const [text, status] = checkStructure(parsed, 'failed', 'text/rfc822-headers');
  assert.equal(fieldMap(text.headers).get('content-transfer-encoding'), 'quoted-printable');
  assert.match(text.content ?? '', /<zoë\+x=1@example\.net>: kein Postfach für zoë/);
  const rcpt = fieldMap(status.blocks?.[1] ?? []);
  assert.equal(rcpt.get('final-recipient'), 'utf-8; zo\\x{EB}\\x{2B}x\\x{3D}1@example.net');
  assert.equal(rcpt.get('diagnostic-code'), 'smtp; kein Postfach f\\x{FC}r zo\\x{EB}');
});

test('delayed: Will-Retry-Until, and the text says how long and until when', () => {
  const until = ARRIVAL + 4 * 86400;
  const r = report({ kind: 'delayed', status: '4.4.1', diagnostic: 'connection refused', diagnosticType: 'x-local', retryUntil: until });
  const { parsed } = build(input({ kind: 'delayed' }, [{ finalRecipient: 'bob@example.net', report: r }]), Buffer.from(HEADERS));
  const [text, status] = checkStructure(parsed, 'delayed', 'text/rfc822-headers');
  assert.match(text.content ?? '', /keeps trying/);
  assert.match(text.content ?? '', /5 hours/);
  assert.match((text.content ?? '').replace(/\s+/g, ' '), /until Sat, 18 Nov 2023 17:13:20 \+0000/);
  const rcpt = fieldMap(status.blocks?.[1] ?? []);
  assert.equal(rcpt.get('action'), 'delayed');
  assert.equal(rcpt.get('status'), '4.4.1');
  assert.equal(status.block_dates?.[1]?.['Will-Retry-Until'], until);
});

test('delivered and relayed: positive text, Action and Status', () => {
  for (const kind of ['delivered', 'relayed'] as const) {
    const r = report({ kind, status: '2.0.0', diagnostic: kind === 'relayed' ? '250 2.0.0 queued as 1234' : 'delivered to maildir', diagnosticType: kind === 'relayed' ? 'smtp' : 'x-local', remoteMta: kind === 'relayed' ? 'relay.example.net' : undefined });
    if (r.remoteMta === undefined) delete r.remoteMta;
    const { parsed } = build(input({ kind, returnContent: 'full' }, [{ finalRecipient: 'bob@example.net', report: r }]), Buffer.from(ORIGINAL));
    const [text, status] = checkStructure(parsed, kind, 'message/rfc822');
    assert.match(text.content ?? '', kind === 'delivered' ? /has been delivered/ : /passed your message on/);
    const rcpt = fieldMap(status.blocks?.[1] ?? []);
    assert.equal(rcpt.get('action'), kind);
    assert.equal(rcpt.get('status'), '2.0.0');
    assert.equal(rcpt.has('remote-mta'), kind === 'relayed');
  }
});

test('header injection: CR/LF in a value from outside creates no field and no part', () => {
  const evil = '\r\nBcc: victim@example.com\r\n\r\n--x\n';
  const r = report({ diagnostic: `550 no${evil}`, remoteMta: `mx.example.net${evil}` });
  const { raw, parsed } = build(
    input({ envid: `id${evil}` }, [{ finalRecipient: `bob@example.net${evil}`, originalRecipient: `bob${evil}`, report: r }]),
    Buffer.from(HEADERS),
  );
  assert.ok(!/^Bcc:/im.test(raw.toString()), 'no line starts a Bcc field');
  assert.deepEqual(parsed.defects, []);
  assert.equal(parsed.parts.length, 3);
  const all = [parsed.headers, ...parsed.parts.flatMap((p) => [p.headers, ...(p.blocks ?? [])])];
  for (const block of all) assert.ok(!block.some(([k]) => k.toLowerCase() === 'bcc'));
  const blocks = parsed.parts[1]?.blocks ?? [];
  assert.equal(blocks.length, 2);
  const rcpt = fieldMap(blocks[1] ?? []);
  assert.equal(rcpt.get('diagnostic-code'), 'smtp; 550 no Bcc: victim@example.com --x');
  assert.equal(rcpt.get('final-recipient'), 'rfc822; bob@example.net Bcc: victim@example.com --x');
  assert.equal(rcpt.get('remote-mta'), 'dns; mx.example.netBcc:victimexample.com--x');
  assert.equal(fieldMap(blocks[0] ?? []).get('original-envelope-id'), 'id+0D+0ABcc:+20victim@example.com+0D+0A+0D+0A--x+0A');
});

test('header injection through our own names and the sender: still no field (the addresses are garbage)', () => {
  const evil = '\nBcc: victim@example.com\n\n--x';
  const { raw, parsed } = build(input({ to: `ann@example.org${evil}`, reportingMta: `mx.example.org${evil}`, messageId: `0123${evil}` }), Buffer.from(HEADERS));
  assert.ok(!/^Bcc:/im.test(raw.toString()));
  assert.equal(parsed.parts.length, 3);
  assert.ok(!parsed.headers.some(([k]) => k.toLowerCase() === 'bcc'));
  assert.match(raw.toString(), /^Message-ID: <0123Bccvictimexample\.com--x@mx\.example\.orgBcc:victimexample\.com--x>$/m);
  assert.match(raw.toString(), /^Reporting-MTA: dns; mx\.example\.orgBcc:victimexample\.com--x$/m);
});

test('a 2 KiB diagnostic is folded within 78 columns and unfolds to itself', () => {
  const words = Array.from({ length: 500 }, (_, i) => `w${i}`).join(' ');
  const diagnostic = `550 5.7.1 ${words}`.slice(0, 2048);
  const { raw, parsed } = build(input({}, [{ finalRecipient: 'bob@example.net', report: report({ diagnostic }) }]), Buffer.from(HEADERS));
  assert.ok(diagnostic.length >= 2000);
  const head = raw.subarray(0, raw.indexOf(HEADERS));
  for (const line of head.toString().split('\n')) assert.ok(line.length <= 78, `line of ${line.length}: ${line.slice(0, 40)}`);
  assert.deepEqual(parsed.defects, []);
  assert.equal(fieldMap(parsed.parts[1]?.blocks?.[1] ?? []).get('diagnostic-code'), `smtp; ${diagnostic}`);
  assert.ok((parsed.parts[0]?.content ?? '').replace(/\s+/g, ' ').includes(diagnostic));
});

test('a 2 KiB word with no space to fold at is cut within 998 octets', () => {
  const diagnostic = 'x'.repeat(2048);
  const { raw, parsed } = build(input({}, [{ finalRecipient: 'bob@example.net', report: report({ diagnostic }) }]), Buffer.from(HEADERS));
  for (const line of raw.toString().split('\n')) assert.ok(Buffer.byteLength(line) <= 998);
  assert.deepEqual(parsed.defects, []);
  const value = fieldMap(parsed.parts[1]?.blocks?.[1] ?? []).get('diagnostic-code') ?? '';
  assert.equal(value.replace(/ /g, ''), `smtp;${diagnostic}`);
});

test('a random boundary each time; no recipients is a bug', () => {
  const a = composeDsn(input());
  const b = composeDsn(input());
  assert.notDeepEqual(Buffer.from(a.tail), Buffer.from(b.tail));
  assert.throws(() => composeDsn(input({}, [])));
  assert.throws(() => composeDsn(input({ to: '' })));
});
