// The shared flag parsers: decimal numbers as people write them; anything else is a flag error naming the flag.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import { boundedNumber, integer, positiveNumber } from '../../src/cli/flags';

test('integers: decimal and exponent forms are read; hex, binary, octal, blanks and fractions are refused', () => {
  const budget = integer('--budget', 1);
  assert.deepEqual(['16', ' 16 ', '+16', '1e3', '1.0', '2E1'].map(budget), [16, 16, 16, 1000, 1, 20]);
  for (const text of ['0x10', '0b11', '0o7', '', ' ', '1.5', '16abc', '1e', 'Infinity', '-Infinity', 'NaN', '0']) {
    assert.throws(() => budget(text), (e: Error) => e instanceof InvalidArgumentError && e.message === `--budget must be an integer >= 1, got ${JSON.stringify(text)}`, text);
  }
  assert.throws(() => integer('--seed', 0, 10)('11'), /--seed must be an integer from 0 to 10, got "11"/);
});

test('numbers: .5, 5., 2.5e-4 read; 0x1p3-like and non-finite forms are refused', () => {
  const rate = positiveNumber('--rate');
  assert.deepEqual(['.5', '5.', '2.5e-4', '3'].map(rate), [0.5, 5, 2.5e-4, 3]);
  for (const text of ['0x1', 'Infinity', '-1', '0', 'abc']) assert.throws(() => rate(text), /--rate must be a number > 0/, text);
  assert.equal(boundedNumber('--timeout', 1, 10)('2.5'), 2.5);
  assert.throws(() => boundedNumber('--timeout', 1, 10)('0x2'), /--timeout/);
});
