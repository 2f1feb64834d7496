// The optimizers a transfer compares: rules then baselines, each optimizer once whatever its spelling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASELINES, OptimizerListError, resolveOptimizers } from '../../src/transfer/optimizers';

test('a rule in two spellings, or a baseline that is a given rule with its default options, is compared once', () => {
  const notes: string[] = [];
  const list = resolveOptimizers(['powersign', 'exp(sign(g)*sign(m))*g', 'PowerSign', 'g', 'g'], ['sgd', 'momentum', 'rmsprop'], (m) => notes.push(m));
  assert.deepEqual(list.map((o) => o.label), ['powersign', 'g', 'momentum', 'rmsprop']);
  assert.deepEqual(notes, [
    'exp(sign(g)*sign(m))*g is the same rule as powersign: compared once, as powersign',
    'PowerSign is the same rule as powersign: compared once, as powersign',
    'the baseline sgd is the rule g: compared once, as g',
  ]);
});

test('a baseline with options of its own stays beside the same rule; a rule named as a baseline replaces it', () => {
  const notes: string[] = [];
  // torch's RMSprop has no bias correction and another beta2: not the rule g/sqrt(v) with nos's defaults.
  const list = resolveOptimizers(['g/sqrt(v)', 'm/sqrt(v)'], ['rmsprop', 'adam'], (m) => notes.push(m));
  assert.deepEqual(list.map((o) => [o.label, o.options]), [['g/sqrt(v)', {}], ['m/sqrt(v)', {}], ['rmsprop', BASELINES.rmsprop.options]]);
  assert.deepEqual(notes, ['the baseline adam is the rule m/sqrt(v): compared once, as m/sqrt(v)']);
  // The same name: the rule as given (as before), without a note.
  assert.deepEqual(resolveOptimizers(['adam'], ['adam', 'sgd'], (m) => notes.push(m)).map((o) => [o.label, o.options]), [['adam', {}], ['sgd', {}]]);
  assert.equal(notes.length, 1);
  assert.throws(() => resolveOptimizers([], ['adamw']), (e: Error) => e instanceof OptimizerListError && /unknown baseline 'adamw'/.test(e.message));
});
