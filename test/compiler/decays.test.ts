// Sign decays against the sign_decay.py formulas, and the scalar slots the host fills for a kernel step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decayValue, fillScalars } from '../../src/compiler/decays';
import { DECAY_BASE, NOS_SCALAR_COUNT, Scalar } from '../../src/compiler/kernel-abi';

function close(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected}`);
}

test('linear decay falls from 1 to 0 and stays at 0 after T', () => {
  assert.equal(decayValue('ld', 0, 0, 100), 1);
  assert.equal(decayValue('ld', 0, 25, 100), 0.75);
  assert.equal(decayValue('ld', 0, 100, 100), 0);
  assert.equal(decayValue('ld', 0, 250, 100), 0);
  close(decayValue('ld', 0, 1, 3), 2 / 3, 1e-7, 'ld 1/3');
});

test('cosine decay follows 0.5 * (1 + cos(2 pi n t / T)), clamped at T', () => {
  for (const [n, t, T] of [[0.5, 0, 100], [0.5, 25, 100], [0.5, 50, 100], [0.5, 100, 100], [2, 30, 90], [3, 7, 11], [0.5, 500, 100]]) {
    const expected = 0.5 * (1 + Math.cos((Math.PI * 2 * n * Math.min(t, T)) / T));
    close(decayValue('cd', n, t, T), expected, 2e-7, `cd(${n}) at ${t}/${T}`);
  }
  close(decayValue('cd', 0.5, 100, 100), 0, 1e-7, 'cd reaches 0 at T');
});

test('restart decay follows 0.5 * (1 + cos(pi * ((n t) mod T) / T)), clamped at T', () => {
  for (const [n, t, T] of [[10, 0, 1000], [10, 50, 1000], [10, 99, 1000], [10, 100, 1000], [20, 333, 1000], [3, 5, 7], [10, 5000, 1000]]) {
    const expected = 0.5 * (1 + Math.cos((Math.PI * ((n * Math.min(t, T)) % T)) / T));
    close(decayValue('rd', n, t, T), expected, 2e-7, `rd(${n}) at ${t}/${T}`);
  }
  // A restart: just before the period ends the decay is near 0, at the period boundary it is back to 1.
  assert.ok(decayValue('rd', 10, 99, 1000) < 0.01);
  assert.equal(decayValue('rd', 10, 100, 1000), 1);
});

test('decays reject bad steps, bad periods and unknown names with a message', () => {
  assert.throws(() => decayValue('ld', 0, 1, 0), /total steps T must be a positive integer, got 0/);
  assert.throws(() => decayValue('cd', 0.5, -1, 10), /global step must be an integer >= 0, got -1/);
  assert.throws(() => decayValue('rd', 0, 1, 10), /rd\(0\): the period count n must be a positive number/);
  assert.throws(() => decayValue('xd' as 'ld', 1, 1, 10), /unknown decay 'xd'/);
});

test('fillScalars fills the fixed slots and one slot per decay in rule order', () => {
  const info = { decays: [{ name: 'ld' as const, n: 0 }, { name: 'rd' as const, n: 10 }] };
  const sc = fillScalars(info, { lr: 0.5, betas: [0.9, 0.99, 0.999], delta: 1e-6, momentum: 0.8 }, 3, 100);
  assert.equal(sc.length, NOS_SCALAR_COUNT);
  assert.equal(sc[Scalar.lr], 0.5);
  assert.equal(sc[Scalar.beta1], Math.fround(0.9));
  assert.equal(sc[Scalar.beta2], Math.fround(0.99));
  assert.equal(sc[Scalar.invBc1], Math.fround(1 / (1 - 0.9 ** 3)));
  assert.equal(sc[Scalar.invBc2], Math.fround(1 / (1 - 0.99 ** 3)));
  assert.equal(sc[Scalar.invBc3], Math.fround(1 / (1 - 0.999 ** 3)));
  assert.equal(sc[Scalar.delta], Math.fround(1e-6));
  assert.equal(sc[Scalar.momentum], Math.fround(0.8));
  assert.equal(sc[Scalar.noiseStd], Math.fround(0.1));
  assert.equal(sc[Scalar.anoiseStd], Math.fround(Math.sqrt(1 / 3 ** 0.55)));
  // Step t = 3 is global step 2.
  assert.equal(sc[DECAY_BASE], decayValue('ld', 0, 2, 100));
  assert.equal(sc[DECAY_BASE + 1], decayValue('rd', 10, 2, 100));
  assert.equal(sc[DECAY_BASE + 2], 0);
});

test('fillScalars without bias correction leaves the averages raw', () => {
  const sc = fillScalars({ decays: [] }, { lr: 1, biasCorrection: false }, 1, undefined);
  assert.equal(sc[Scalar.invBc1], 1);
  assert.equal(sc[Scalar.invBc2], 1);
  assert.equal(sc[Scalar.invBc3], 1);
});

test('fillScalars rejects bad steps, betas and a missing T', () => {
  assert.throws(() => fillScalars({ decays: [] }, { lr: 1 }, 0, 10), /1-based and must be an integer >= 1, got 0/);
  assert.throws(() => fillScalars({ decays: [] }, { lr: 1, betas: [1, 0.9, 0.9] }, 1, 10), /beta1 must be in \[0, 1\), got 1/);
  assert.throws(() => fillScalars({ decays: [] }, { lr: NaN }, 1, 10), /lr must be a finite number/);
  assert.throws(() => fillScalars({ decays: [{ name: 'ld', n: 0 }] }, { lr: 1 }, 1, undefined), /uses decay ld, so total steps T must be given/);
  assert.throws(() => fillScalars({ decays: [] }, { lr: 1 }, 1, 10, new Float32Array(4)), /Float32Array of at least 32/);
});

test('fillScalars names a missing rule, missing options, betas that are not a list and an lr that is not a number', () => {
  const rule = { decays: [] };
  assert.throws(() => fillScalars(undefined as never, { lr: 1 }, 1, undefined), /scalars: expected a compiled rule \(compileRule\(text\)\), received undefined/);
  assert.throws(() => fillScalars(rule, undefined as never, 1, undefined), /scalars: options must be an object \(\{ lr, ... \}\), received undefined/);
  assert.throws(() => fillScalars(rule, null as never, 1, undefined), /options must be an object .* received null/);
  assert.throws(() => fillScalars(rule, { lr: 1, betas: 5 as never }, 1, undefined), /scalars: betas must be \[beta1, beta2, beta3\], got 5/);
  assert.throws(() => fillScalars(rule, { lr: 1, betas: [0.9, 0.99] as never }, 1, undefined), /betas must be \[beta1, beta2, beta3\], got \[0.9,0.99\]/);
  // A string that looks like a number is named as a string (it printed as 'got 1').
  assert.throws(() => fillScalars(rule, { lr: '1' as never }, 1, undefined), /scalars: lr must be a finite number, got string "1"/);
});
