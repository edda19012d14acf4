// The table arithmetic: quantiles by nearest rank, medians of rounds, ratios and formatting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fmt, fmtRatio, median, quantile, ratio, sizeLabel } from './stats.js';

test('quantile: nearest rank, unsorted input, empty list', () => {
  const xs = [5, 1, 4, 2, 3];
  assert.equal(quantile(xs, 0.5), 3);
  assert.equal(quantile(xs, 0), 1);
  assert.equal(quantile(xs, 1), 5);
  assert.deepEqual(xs, [5, 1, 4, 2, 3], 'the input is not sorted in place');
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(quantile(hundred, 0.99), 99);
  assert.equal(quantile(hundred, 0.5), 50);
  assert.equal(quantile([...hundred, 1000], 0.99), 100, 'one outlier in 101 is above p99');
  assert.equal(quantile([7], 0.99), 7);
  assert.equal(quantile([], 0.5), undefined);
});

test('median: odd and even counts, undefined and NaN left out', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2, 'the lower middle of an even count');
  assert.equal(median([undefined, 5, Number.NaN]), 5);
  assert.equal(median([undefined]), undefined);
  assert.equal(median([]), undefined);
});

test('ratio and its formatting', () => {
  assert.equal(ratio(300, 150), 2);
  assert.equal(ratio(1, 0), undefined);
  assert.equal(ratio(undefined, 3), undefined);
  assert.equal(ratio(3, undefined), undefined);
  assert.equal(fmtRatio(ratio(100, 300)), '0.33x');
  assert.equal(fmtRatio(undefined), '-');
});

test('fmt and sizeLabel', () => {
  assert.equal(fmt(1.234, 2), '1.23');
  assert.equal(fmt(undefined), '-');
  assert.equal(fmt(Number.NaN), '-');
  assert.equal(fmt(Number.POSITIVE_INFINITY), '-');
  assert.equal(sizeLabel(1024), '1K');
  assert.equal(sizeLabel(102400), '100K');
  assert.equal(sizeLabel(1000), '1000B');
});
