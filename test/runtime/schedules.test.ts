// Learning-rate schedules against TensorFlow's formulas (tf.compat.v1.train.*_decay), restated here, and their seeding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkSchedule, learningRate, type ScheduleSpec } from '../../src/runtime/schedules';

const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

test('constant and step (exponential_decay with staircase)', () => {
  for (let t = 0; t < 30; t++) {
    close(learningRate({ kind: 'constant' }, 0.1, t, undefined, 0), 0.1, `constant t=${t}`);
    close(learningRate({ kind: 'step', decaySteps: 7, rate: 0.5 }, 0.1, t, undefined, 0), 0.1 * 0.5 ** Math.floor(t / 7), `step t=${t}`);
  }
});

test('cosine_decay: 0.5 * (1 + cos(pi * min(t, D) / D)) blended with alpha', () => {
  const D = 20;
  for (let t = 0; t <= 25; t++) {
    const s = Math.min(t, D);
    const want = 0.3 * ((1 - 0.1) * 0.5 * (1 + Math.cos(Math.PI * s / D)) + 0.1);
    close(learningRate({ kind: 'cosine', alpha: 0.1 }, 0.3, t, D, 0), want, `t=${t}`);
  }
  close(learningRate({ kind: 'cosine', decaySteps: 20 }, 1, 20, undefined, 0), 0, 'reaches 0 at D');
});

test('linear_cosine_decay: (alpha + (D - t)/D) * 0.5 * (1 + cos(2 pi periods t / D)) + beta', () => {
  const D = 50;
  for (const [periods, alpha, beta] of [[0.5, 0, 0.001], [2, 0.1, 0.01]]) {
    for (let t = 0; t <= 60; t += 3) {
      const s = Math.min(t, D);
      const want = 2 * ((alpha + (D - s) / D) * 0.5 * (1 + Math.cos(Math.PI * 2 * periods * s / D)) + beta);
      close(learningRate({ kind: 'linear-cosine', numPeriods: periods, alpha, beta }, 2, t, D, 0), want, `t=${t} periods=${periods}`);
    }
  }
});

test('noisy_linear_cosine_decay: seeded noise of variance initialVariance / (1 + t)^varianceDecay', () => {
  const spec: ScheduleSpec = { kind: 'noisy-linear-cosine', decaySteps: 1000 };
  const a = Array.from({ length: 200 }, (_, t) => learningRate(spec, 1, t, undefined, 42));
  const b = Array.from({ length: 200 }, (_, t) => learningRate(spec, 1, t, undefined, 42));
  const c = Array.from({ length: 200 }, (_, t) => learningRate(spec, 1, t, undefined, 43));
  assert.deepEqual(a, b, 'same seed, same sequence');
  assert.notDeepEqual(a, c, 'another seed, another sequence');
  // eps_t = (lr_t - beta) / cosine_t - linear_t, standardized by its std, should look standard normal.
  const z = a.map((lr, t) => {
    const cosine = 0.5 * (1 + Math.cos(Math.PI * t / 1000));
    const eps = (lr - 0.001) / cosine - (1000 - t) / 1000;
    return eps / Math.sqrt(1 / (1 + t) ** 0.55);
  });
  const mean = z.reduce((x, y) => x + y, 0) / z.length;
  const variance = z.reduce((x, y) => x + (y - mean) ** 2, 0) / (z.length - 1);
  assert.ok(Math.abs(mean) < 0.25, `mean of standardized noise ${mean}`);
  assert.ok(variance > 0.7 && variance < 1.35, `variance of standardized noise ${variance}`);
  const quiet = learningRate({ ...spec, initialVariance: 0 }, 1, 100, undefined, 42);
  close(quiet, learningRate({ kind: 'linear-cosine', decaySteps: 1000 }, 1, 100, undefined, 0), 'zero variance is linear cosine');
});

test('cosine_decay_restarts: periods grow by tMul, peaks scale by mMul', () => {
  const spec: ScheduleSpec = { kind: 'restarts', firstDecaySteps: 10, tMul: 2, mMul: 0.5, alpha: 0 };
  const lr = (t: number): number => learningRate(spec, 1, t, undefined, 0);
  close(lr(0), 1, 'starts at lr');
  close(lr(5), 0.5 * (1 + Math.cos(Math.PI * 0.5)), 'half way through the first period');
  close(lr(10), 0.5, 'restart after 10 steps with the peak halved');
  close(lr(20), 0.5 * 0.5 * (1 + Math.cos(Math.PI * 0.5)), 'the second period lasts 20 steps');
  close(lr(30), 0.25, 'second restart after 10 + 20 steps');
  const flat: ScheduleSpec = { kind: 'restarts', firstDecaySteps: 4, tMul: 1 };
  for (let t = 0; t < 12; t++) close(learningRate(flat, 1, t, undefined, 0), 0.5 * (1 + Math.cos(Math.PI * (t % 4) / 4)), `tMul 1, t=${t}`);
});

test('bad specs name the field and what was received', () => {
  assert.throws(() => learningRate({ kind: 'step', decaySteps: 0, rate: 0.5 }, 1, 0, undefined, 0), /schedule 'step': decaySteps must be a positive number, received 0/);
  assert.throws(() => learningRate({ kind: 'cosine' }, 1, 0, undefined, 0), /needs decaySteps or the optimizer's totalSteps/);
  assert.throws(() => learningRate({ kind: 'restarts' } as never, 1, 0, undefined, 0), /firstDecaySteps must be a positive number, received undefined/);
  assert.throws(() => learningRate('cosine' as never, 1, 0, 10, 0), /expected an object with kind one of constant, step/);
  assert.throws(() => learningRate({ kind: 'linear-cosine', alpha: Infinity }, 1, 0, 10, 0), /alpha must be a finite number/);
});

test('a field the kind does not take is refused (a misspelt one would be ignored)', () => {
  assert.throws(() => checkSchedule({ kind: 'cosine', alhpa: 0.1 } as never, 10), /schedule 'cosine': unknown field 'alhpa' \(it takes decaySteps, alpha\)/);
  assert.throws(() => checkSchedule({ kind: 'step', decay_steps: 10, decaySteps: 10, rate: 0.5 } as never, 10), /unknown field 'decay_steps'/);
  assert.throws(() => checkSchedule({ kind: 'constant', decaySteps: 4 } as never, 10), /schedule 'constant': unknown field 'decaySteps' \(it takes no fields\)/);
  checkSchedule({ kind: 'noisy-linear-cosine', decaySteps: 5, numPeriods: 1, alpha: 0, beta: 0.001, initialVariance: 1, varianceDecay: 0.55 }, undefined);
  checkSchedule({ kind: 'restarts', firstDecaySteps: 4, tMul: 2, mMul: 1, alpha: 0 }, undefined);
});

test('restarts with tMul < 1: the shrinking periods end, so a run past their end is refused when the optimizer is made', () => {
  const spec: ScheduleSpec = { kind: 'restarts', firstDecaySteps: 4, tMul: 0.5 };
  // The periods 4, 2, 1, ... sum to 8: steps 0..7 are inside them, and follow TensorFlow's formula there.
  for (let t = 0; t < 8; t++) assert.ok(Number.isFinite(learningRate(spec, 1, t, undefined, 0)), `t=${t}`);
  assert.throws(() => learningRate(spec, 1, 8, undefined, 0), /with tMul 0.5 < 1 the periods shrink and end after 8 steps; step 8 is past them/);
  checkSchedule(spec, 8);
  assert.throws(() => checkSchedule(spec, 9), /end after 8 steps; step 8 is past them/);
  assert.throws(() => checkSchedule(spec, undefined), /tMul 0.5 < 1 needs the optimizer's totalSteps/);
});
