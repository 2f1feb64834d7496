// The profiling engine (profile: true) on the CPU twin: every launch of a round and an evaluation is counted under
// its kernel and launch shape, so a network's layers show apart (bench/gpu-engine.ts reads it per training step).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRule } from '../../../src/compiler';
import { NOS_SCALAR_COUNT } from '../../../src/compiler/kernel-abi';
import { createModel } from '../../../src/runtime/child/models';
import { ChildEngine, type LayerVariants } from '../../../src/runtime/engine/child-engine';
import { ChildInputs } from '../../../src/runtime/engine/child-inputs';
import { StepScalars } from '../../../src/runtime/scalars';
import { seededRandom } from '../../support/seeded-random';

/** A profiling engine of two 16x16 convnet children with `kernels`, and a round of two adam steps run on it. */
async function profiledRound(kernels: { conv?: LayerVariants; wgrad?: LayerVariants } = {}) {
  const model = createModel('convnet', [1, 16, 16], 3, 4);
  const engine = ChildEngine.create({ device: 'host', model, capacity: 2, batchSize: 4, stepsPerRound: 2, profile: true, ...kernels });
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
    return engine;
  } catch (err) {
    engine.close();
    throw err;
  }
}

test('the profile counts every launch by kernel and launch shape: two conv layers, one update per step', async () => {
  const engine = await profiledRound();
  try {
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

test('each convolution layer runs the kernel variant chosen for it (by the launches\' names and shapes)', async () => {
  const shapes = async (kernels: { conv?: LayerVariants; wgrad?: LayerVariants }) => {
    const engine = await profiledRound(kernels);
    try {
      const of = (kernel: string) => engine.profile().filter((k) => k.kernel === kernel).map((k) => `${k.shape} x${k.launches}`).sort();
      return { conv: of('nos_conv3x3'), convTiled: of('nos_conv3x3_tiled'), wgrad: of('nos_conv3x3_wgrad'), wgradTiled: of('nos_conv3x3_wgrad_tiled') };
    } finally {
      engine.close();
    }
  };
  const direct = await shapes({});
  // The first layer's convolution runs once a step (forward), the second's twice (forward, input gradient).
  const [conv1] = direct.conv.filter((s) => s.endsWith(' x2'));
  const [conv2] = direct.conv.filter((s) => s.endsWith(' x4'));
  // The weight gradients: the first layer's blocks have one input channel's threads, the second's 32 (its filters).
  const block = (s: string) => Number(/block (\d+)/.exec(s)![1]);
  const [wgrad1, wgrad2] = [...direct.wgrad].sort((a, b) => block(a) - block(b));
  assert.ok(conv1 && conv2 && wgrad1 && wgrad2 && wgrad1 !== wgrad2, JSON.stringify(direct));
  assert.deepEqual(await shapes({ conv: ['tiled', 'direct'], wgrad: ['direct', 'tiled'] }), { conv: [conv2], convTiled: [conv1], wgrad: [wgrad1], wgradTiled: [wgrad2] });
  assert.deepEqual(await shapes({ conv: ['direct', 'tiled'], wgrad: ['tiled', 'direct'] }), { conv: [conv1], convTiled: [conv2], wgrad: [wgrad2], wgradTiled: [wgrad1] });
  assert.deepEqual(await shapes({ conv: 'tiled', wgrad: 'tiled' }), { conv: [], convTiled: [conv1, conv2].sort(), wgrad: [], wgradTiled: [wgrad1, wgrad2].sort() });
});
