// The profiling engine (profile: true) on the CPU twin: every launch of a round and an evaluation is counted under
// its kernel and launch shape, so a network's layers show apart (bench/gpu-engine.ts reads it per training step).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRule } from '../../../src/compiler';
import { NOS_SCALAR_COUNT } from '../../../src/compiler/kernel-abi';
import { createModel } from '../../../src/runtime/child/models';
import { ChildEngine } from '../../../src/runtime/engine/child-engine';
import { ChildInputs } from '../../../src/runtime/engine/child-inputs';
import { StepScalars } from '../../../src/runtime/scalars';
import { seededRandom } from '../../support/seeded-random';

test('the profile counts every launch by kernel and launch shape: two conv layers, one update per step', async () => {
  const model = createModel('convnet', [1, 16, 16], 3, 4);
  const engine = ChildEngine.create({ device: 'host', model, capacity: 2, batchSize: 4, stepsPerRound: 2, profile: true });
  try {
    const random = seededRandom(5);
    const split = (count: number) => ({ images: Float32Array.from({ length: count * 256 }, () => random() - 0.5), labels: Uint8Array.from({ length: count }, (_, i) => i % 3), count });
    engine.setData(split(8), split(4));
    const inputs = new ChildInputs(model, engine.offsets, engine.paramCount, 8);
    const flat = new Float32Array(2 * engine.paramCount);
    [0, 1].forEach((s) => flat.set(inputs.initialWeights(s), s * engine.paramCount));
    engine.start([0, 1], flat);
    const info = compileRule('adam');
    const handle = engine.ruleHandle(info);
    const rows = new StepScalars(info, { lr: 1e-3, schedule: { kind: 'constant' }, betas: [0.9, 0.999, 0.999], delta: 1e-8, momentum: 0.9, biasCorrection: true, totalSteps: 10, seed: 0 });
    const scalars = Float32Array.from([...rows.fill(1), ...rows.fill(2)]);
    assert.equal(scalars.length, 2 * NOS_SCALAR_COUNT);
    await engine.runRound({ slots: [0, 1], orders: [inputs.order(0, 0)], orderOf: [0, 0], t0: [0, 0], seeds: [0, 0], scalars: [scalars, scalars], rules: [handle, handle], steps: 2 });
    const training = engine.profile();
    const update = training.filter((k) => k.kernel === 'nos_update_children');
    assert.equal(update.reduce((a, k) => a + k.launches, 0), 2, 'one update launch per step');
    // conv1 (16x16) and conv2 (8x8) forward, and conv2's backward through the data: two launch shapes.
    const conv = training.filter((k) => k.kernel === 'nos_conv3x3');
    assert.equal(conv.length, 2, JSON.stringify(conv));
    assert.equal(conv.reduce((a, k) => a + k.launches, 0), 6);
    for (const k of training) {
      assert.match(k.shape, /^grid \d+x\d+ block \d+$/, k.kernel);
      assert.ok(k.seconds >= 0 && k.launches > 0, k.kernel);
    }
    await engine.evaluate([0, 1]);
    const after = engine.profile();
    const convAfter = after.filter((k) => k.kernel === 'nos_conv3x3').reduce((a, k) => a + k.launches, 0);
    assert.equal(convAfter, 6 + 2, 'the evaluation: one batch of 4, two convolutions');
  } finally {
    engine.close();
  }
});
