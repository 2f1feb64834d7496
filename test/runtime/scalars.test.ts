// StepScalars (the optimizer's per-step fill) gives exactly the compiler's fillScalars values, step after step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRule } from '../../src/compiler';
import { StepScalars, stepScalars, type ScalarSettings } from '../../src/runtime/scalars';

const base: ScalarSettings = {
  lr: 0.05, schedule: { kind: 'constant' }, betas: [0.9, 0.999, 0.99], delta: 1e-7, momentum: 0.8,
  biasCorrection: true, totalSteps: 40, seed: 9,
};

test('the per-step fill equals fillScalars for rules with decays, schedules and no bias correction', () => {
  const cases: Array<[string, Partial<ScalarSettings>]> = [
    ['adam', {}],
    ['powersign-ld', { schedule: { kind: 'cosine' } }],
    ['addsign-rd20', { schedule: { kind: 'noisy-linear-cosine' } }],
    ['exp(ld*cd*rd(3)*sign(g)*sign(m))*g + anoise', { biasCorrection: false, schedule: { kind: 'restarts', firstDecaySteps: 7 } }],
    ['rmsprop', { biasCorrection: false, schedule: { kind: 'step', decaySteps: 5, rate: 0.5 } }],
  ];
  for (const [rule, extra] of cases) {
    const info = compileRule(rule);
    const settings = { ...base, ...extra };
    const fast = new StepScalars(info, settings);
    for (let t = 1; t <= 50; t++) {
      assert.deepEqual(fast.fill(t), stepScalars(info, settings, t), `${rule} at step ${t}`);
    }
  }
});

test('bad settings are refused when the filler is made, with the compiler fill\'s message', () => {
  assert.throws(() => new StepScalars(compileRule('adam'), { ...base, betas: [0.9, 1.5, 0.9] }), /beta2 must be in \[0, 1\)/);
  assert.throws(() => new StepScalars(compileRule('powersign-ld'), { ...base, totalSteps: undefined }), /total steps T must be given/);
});

test('a scheduled learning rate that leaves float32 stops the step with an error instead of an infinite update', () => {
  const fill = new StepScalars(compileRule('sgd'), { ...base, lr: 1, schedule: { kind: 'step', decaySteps: 1, rate: 1e10 } });
  for (let t = 1; t <= 4; t++) assert.equal(fill.fill(t)[0], Math.fround(1e10 ** (t - 1)));
  assert.throws(() => fill.fill(5), /step: the learning rate of step 5 is 1e\+40, not a finite float32 \(lr 1, schedule \{"kind":"step","decaySteps":1,"rate":10000000000\}\)/);
});
