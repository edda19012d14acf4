// Unit tests of the reply bridge: our tagged replies pass exactly; every fixed reply the
// library writes is mapped to our table; nothing goes out with the library's guessed code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Replies, formatReply } from '@tsmtpd/proto';
import { acceptedReply, bridgeReply, replyError, replyText } from './replies.js';

const S = { name: 'mx.example', helo: 'client.example', remote: '192.0.2.1', transaction: true, offerAuth: false };

function line(code: number, text: string | string[], context?: string | false, s = S): string {
  const r = bridgeReply(code, text, context, s);
  return r.lines.map((l, i) => `${r.code}${i < r.lines.length - 1 ? '-' : ' '}${l}`).join('\n');
}

test('our replies pass through exactly, whatever the basic code suggests', () => {
  for (const r of [Replies.relayDenied, Replies.unknownUser, Replies.loop, Replies.sizeTooBig, Replies.tempFailure, Replies.dataStart]) {
    assert.equal(line(r.code, replyText(r)), formatReply(r));
    const e = replyError(r);
    assert.equal(line(e.responseCode, e.message), formatReply(r));
  }
  assert.equal(line(250, replyText(acceptedReply('0123abcd')), 'DATA_OK'), '250 2.0.0 0123abcd Message accepted for delivery');
  // A reply without an enhanced code (an lka table value, say) gets none added.
  assert.equal(line(550, replyText({ code: 550, enhanced: '', text: 'Invalid recipient' })), '550 Invalid recipient');
});

test('the library fixed replies become ours', () => {
  const cases: [number, string, string | false | undefined, string][] = [
    [250, 'Accepted', 'MAIL_FROM_OK', '250 2.1.0 Ok'],
    [250, 'Accepted', 'RCPT_TO_OK', '250 2.1.5 Destination address valid: Recipient ok'],
    [250, 'OK', undefined, '250 2.0.0 Ok'],
    [250, 'Flushed', undefined, '250 2.0.0 Reset state'],
    [221, 'Bye', undefined, '221 2.0.0 Bye'],
    [354, 'End data with <CR><LF>.<CR><LF>', undefined, '354 Enter mail, end with "." on a line by itself'],
    [421, 'Timeout - closing connection', undefined, '421 4.4.2 Timeout'],
    [421, 'Server shutting down', 'MAIL', '421 4.3.2 Service shutting down'],
    [421, 'Error: Command line too long', undefined, '500 5.5.2 Line too long'],
    [421, 'Error: too many unrecognized commands', 'FOO', '421 4.7.0 Too many errors, closing connection'],
    [500, 'Error: command not recognized', 'FOO', '500 5.5.1 Invalid command: Command unrecognized'],
    [503, 'Error: send HELO/EHLO first', undefined, '503 5.5.1 Invalid command: Send HELO/EHLO first'],
    [503, 'Error: nested MAIL command', undefined, '503 5.5.1 Invalid command: Command not allowed at this point.'],
    [503, 'Error: need RCPT command', undefined, '503 5.5.1 Invalid command: No recipient specified'],
    [501, 'Error: Bad sender address syntax', 'SENDER_SYNTAX_ERROR', '553 5.1.7 Sender address syntax error'],
    [501, 'Error: Bad recipient address syntax', 'MAILBOX_SYNTAX_ERROR', '501 5.1.3 Recipient address syntax error'],
    [501, 'Error: duplicate SIZE parameter', undefined, '501 5.5.4 duplicate SIZE parameter'],
    [501, 'Error: syntax: EHLO hostname', false, '501 5.5.4 Syntax error in parameters or arguments'],
    [552, 'Error: message exceeds fixed maximum message size 10', 'MESSAGE_TOO_BIG', '552 5.3.4 Message size exceeds fixed maximum message size'],
    [451, 'Error: internal server error', undefined, '451 4.3.0 Temporary failure'],
    [220, 'mx.example ESMTP tsmtpd', false, '220 mx.example ESMTP tsmtpd'],
  ];
  for (const [code, text, ctx, want] of cases) assert.equal(line(code, text, ctx), want, text);
  assert.equal(line(503, 'Error: need RCPT command', undefined, { ...S, transaction: false }), '503 5.5.1 Invalid command: Command not allowed at this point.');
});

test('HELO and EHLO answers carry our greeting line and no enhanced code', () => {
  assert.equal(line(250, 'mx.example Nice to meet you, [192.0.2.1]', false), '250 mx.example Hello client.example [192.0.2.1], pleased to meet you');
  assert.equal(line(250, ['x', 'PIPELINING', 'SIZE 10'], false), '250-mx.example Hello client.example [192.0.2.1], pleased to meet you\n250-PIPELINING\n250 SIZE 10');
});

test('an unknown library reply keeps its words with the class code, never a guessed detail', () => {
  assert.equal(line(550, 'Error: Not allowed', 'NOT_AUTHORIZED'), '550 5.0.0 Not allowed');
  assert.equal(line(454, 'Error: something'), '454 4.0.0 something');
});

test('EHLO lists AUTH only when the session may authenticate (under TLS, not yet done); AUTH replies are ours', () => {
  const ehlo = ['ignored', 'PIPELINING', 'AUTH PLAIN LOGIN', 'STARTTLS', 'SIZE 10'];
  assert.doesNotMatch(line(250, ehlo, false), /AUTH/);
  assert.match(line(250, ehlo, false, { ...S, offerAuth: true }), /^250-AUTH PLAIN LOGIN$/m);
  assert.equal(line(538, 'Error: Must issue a STARTTLS command first'), '530 5.7.0 Must issue a STARTTLS command first');
  assert.equal(line(235, 'Authentication successful'), '235 2.0.0 Authentication succeeded');
  assert.equal(line(503, 'Error: No identity changes permitted'), '503 5.5.1 Invalid command: Already authenticated');
  assert.equal(line(504, 'Error: Unrecognized authentication type'), '504 5.5.4 Unrecognized authentication type');
  assert.equal(line(220, 'Ready to start TLS'), '220 2.0.0 Ready to start TLS');
});
