// The protocol lines: what we write never carries CR/LF/NUL in a field; what a filter writes is
// parsed strictly (anything malformed is a fault), and reject replies are checked as OpenSMTPD does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dataField, field, filterLine, parseProcLine, reportLine, validRejectReply } from './protocol.js';

test('fields: control characters never reach a filter; data lines lose bare CR and NUL', () => {
  assert.equal(field('a\r\nfilter|0.7|x'), 'a??filter|0.7|x');
  assert.equal(field('x\0y\x7f'), 'x?y?');
  assert.equal(dataField('body\rline\0'), 'bodyline');
  const l = reportLine('link-identify', '0123456789abcdef', ['EHLO', 'evil\nreport|0.7|1|smtp-in|tx-commit']);
  assert.equal(l.split('\n').length, 1);
  assert.match(filterLine('mail-from', '0123456789abcdef', 'fedcba9876543210', ['a|b@example.test']), /^filter\|0\.7\|\d+\.\d{6}\|smtp-in\|mail-from\|0123456789abcdef\|fedcba9876543210\|a\|b@example\.test$/);
});

test('filter lines: results, data lines, registrations; malformed is bad', () => {
  assert.deepEqual(parseProcLine('filter-result|0123456789abcdef|00000000000000ff|reject|550 5.7.1 no|really'), {
    kind: 'result', sid: '0123456789abcdef', token: '00000000000000ff', result: { kind: 'reject', reply: '550 5.7.1 no|really' },
  });
  assert.deepEqual(parseProcLine('filter-result|1|2|proceed'), { kind: 'result', sid: '0000000000000001', token: '0000000000000002', result: { kind: 'proceed' } });
  assert.deepEqual(parseProcLine('filter-dataline|1|2|.'), { kind: 'dataline', sid: '0000000000000001', token: '0000000000000002', line: '.' });
  assert.deepEqual(parseProcLine('register|filter|smtp-in|quit'), { kind: 'register', what: 'filter', phase: 'quit' });
  assert.deepEqual(parseProcLine('register|report|smtp-in|*'), { kind: 'register', what: 'report', event: '*' });
  for (const bad of ['filter-result|zz|1|proceed', 'filter-result|1|2|maybe', 'filter-result|1|2|reject', 'filter-result|1|2|proceed|x', 'register|filter|smtp-in|nonsense', 'hello', 'register|report|smtp-up|*']) {
    assert.equal(parseProcLine(bad).kind, 'bad', bad);
  }
});

test('reject replies: 4xx/5xx text only', () => {
  for (const ok of ['550 no', '451 4.7.1 later', '550-multi', '421']) assert.ok(validRejectReply(ok), ok);
  for (const bad of ['250 fine', 'go away', '55 short', '550 a\rb', '6xx']) assert.ok(!validRejectReply(bad), bad);
});
