// The one error shape: each error nos throws on purpose names itself by its class and carries the exit code that
// `nos` and `nos-compile` end with; commander's usage errors are 2, anything else 1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommanderError, InvalidArgumentError } from 'commander';
import { NosSyntaxError } from '../src/compiler/errors';
import { InvalidRuleError } from '../src/controller/decisions';
import { SearchSpaceError } from '../src/controller/search-space';
import { asInputError, exitCodeOf, InputError, NosError } from '../src/errors';
import { DataError } from '../src/runtime/child/data-error';
import { ProtocolError } from '../src/runtime/child/protocol';
import { GpuUnusableError } from '../src/search/backend';
import { WriteError } from '../src/search/checked-write';
import { LedgerDamagedError } from '../src/search/ledger';
import { OptimizerListError } from '../src/transfer/optimizers';

test('every error class of nos is a NosError named by its class, with its exit code', () => {
  const cases: Array<[NosError, string, number]> = [
    [new NosError('x'), 'NosError', 1],
    [new InputError('x'), 'InputError', 2],
    [new NosSyntaxError('unknown-name', 'x', 'sgn(g)', 0, 3), 'NosSyntaxError', 2],
    [new SearchSpaceError('space.json', '/ops', 'x'), 'SearchSpaceError', 2],
    [new InvalidRuleError(['g'], -1, 'x'), 'InvalidRuleError', 2],
    [new DataError('data.npz', 'x'), 'DataError', 2],
    [new ProtocolError('x'), 'ProtocolError', 2],
    [new LedgerDamagedError('ledger.jsonl', []), 'LedgerDamagedError', 2],
    [new OptimizerListError('x'), 'OptimizerListError', 2],
    [new WriteError('summary.md', Object.assign(new Error('full'), { code: 'ENOSPC' })), 'WriteError', 1],
    [new GpuUnusableError('x'), 'GpuUnusableError', 1],
  ];
  for (const [error, name, code] of cases) {
    assert.ok(error instanceof NosError && error instanceof Error, name);
    assert.equal(error.name, name);
    assert.equal(exitCodeOf(error), code, name);
    assert.match(String(error), new RegExp(`^${name}: `), 'String(error) starts with the class name');
  }
});

test('exitCodeOf: commander\'s usage errors are 2 (its help 0), any other error 1', () => {
  assert.equal(exitCodeOf(new CommanderError(1, 'commander.unknownOption', 'x')), 2);
  assert.equal(exitCodeOf(new InvalidArgumentError('x')), 2);
  assert.equal(exitCodeOf(new CommanderError(0, 'commander.helpDisplayed', '')), 0);
  assert.equal(exitCodeOf(new Error('x')), 1);
  assert.equal(exitCodeOf(Object.assign(new Error('x'), { name: 'InputError' })), 1, 'a name alone does not make bad input');
  assert.equal(exitCodeOf('thrown text'), 1);
});

test('asInputError: a failure only the input explains becomes exit 2 with its message; bad input stays as it is', () => {
  const data = new DataError('x_train.npy', 'shape (3,) is not images');
  assert.equal(asInputError(data), data);
  const wrapped = asInputError(new Error('ENOENT: no such file, open \'rules.txt\''));
  assert.ok(wrapped instanceof InputError);
  assert.equal(wrapped.message, 'ENOENT: no such file, open \'rules.txt\'');
  assert.equal(exitCodeOf(wrapped), 2);
  assert.equal(exitCodeOf(asInputError(new GpuUnusableError('no GPU'))), 2);
  assert.equal(asInputError('text').message, 'text');
});
