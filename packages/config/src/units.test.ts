import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, parseSize } from './units.js';

test('parseDuration: s m h d', () => {
  assert.equal(parseDuration('30s'), 30);
  assert.equal(parseDuration('5m'), 300);
  assert.equal(parseDuration('4h'), 14_400);
  assert.equal(parseDuration('4d'), 345_600);
});

test('parseDuration: invalid forms', () => {
  for (const s of ['0s', '4', 'd', '4w', '-1d', '1.5h', '', ' 4d', '4D']) assert.equal(parseDuration(s), undefined, s);
});

test('parseSize: bytes and scaled', () => {
  assert.equal(parseSize('35M'), 36_700_160);
  assert.equal(parseSize('1G'), 1024 ** 3);
  assert.equal(parseSize('512k'), 524_288);
  assert.equal(parseSize('1.5K'), 1536);
  assert.equal(parseSize('100'), 100);
  assert.equal(parseSize(4096), 4096);
  assert.equal(parseSize('10B'), 10);
});

test('parseSize: invalid forms', () => {
  for (const s of ['', 'M', '-1', '1.5', '10X', '1 M']) assert.equal(parseSize(s), undefined, s);
  assert.equal(parseSize(-1), undefined);
});
