// The transfer task's residual network: parameter layout, every parameter's gradient through the trainer against
// central differences, and learning synthetic data with its running statistics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Split } from '../../../src/runtime/child/data';
import { createModel, resNet } from '../../../src/runtime/child/models';
import { SeededRandom } from '../../../src/runtime/child/random';
import { trainEpochs } from '../../../src/runtime/child/train-loop';
import { ChildTrainer } from '../../../src/runtime/child/trainer';
import { createOptimizer } from '../../../src/runtime/optimizer';
import { OnnxDataType } from '../../../src/runtime/child/onnx-proto';
import * as ops from '../../../src/runtime/child/ops';
import { checkGradients, checkTrainerGradients } from '../../support/gradient-check';

test('resnet: stem, one block per stage, a 1x1 projection where the width changes, batch norms in order', () => {
  const model = resNet([1, 8, 8], 3, 4, { widths: [2, 4], blocks: 1 });
  assert.deepEqual(model.params.map((p) => `${p.name}:${p.shape.join('x')}`), [
    'stem.weight:2x1x3x3', 'stem.bn.weight:2', 'stem.bn.bias:2',
    'stage1.block1.conv1.weight:2x2x3x3', 'stage1.block1.bn1.weight:2', 'stage1.block1.bn1.bias:2',
    'stage1.block1.conv2.weight:2x2x3x3', 'stage1.block1.bn2.weight:2', 'stage1.block1.bn2.bias:2',
    'stage2.block1.conv1.weight:4x2x3x3', 'stage2.block1.bn1.weight:4', 'stage2.block1.bn1.bias:4',
    'stage2.block1.conv2.weight:4x4x3x3', 'stage2.block1.bn2.weight:4', 'stage2.block1.bn2.bias:4',
    'stage2.block1.shortcut.weight:4x2x1x1', 'fc.weight:3x4', 'fc.bias:3',
  ]);
  // Batch statistics count N*H*W per channel: 8x8 in stage 1, 4x4 after the pooling.
  assert.deepEqual(model.batchNorms.map((b) => b.elementsPerChannel), [256, 256, 256, 64, 64]);
  // Odd sides pool floored, as PyTorch's MaxPool2d(2): 6x6 -> 3x3 -> 1x1; two poolings need sides of at least 4.
  assert.deepEqual(resNet([1, 6, 6], 3, 4, { widths: [2, 4, 8], blocks: 1 }).batchNorms.map((b) => b.elementsPerChannel), [144, 144, 144, 36, 36, 4, 4]);
  assert.throws(() => resNet([1, 3, 6], 3, 4, { widths: [2, 4, 8], blocks: 1 }), /resnet: input 3x6 is too small: 2 2x2 poolings need sides of at least 4/);
  assert.equal(createModel('resnet', [1, 28, 28], 10, 100).params.length, 25);
});

test('the resnet forward graph (train mode): every parameter gradient against central differences (float32)', async () => {
  const model = resNet([1, 4, 4], 3, 4, { widths: [2, 3], blocks: 1 });
  const labels = [0, 2, 1, 0];
  await checkGradients(OnnxDataType.FLOAT, [
    { name: 'x', shape: [4, 1, 4, 4], grad: false },
    // Batch-norm scales in [0.5, 1.5], as after training; everything else uniform in [-1, 1].
    ...model.params.map((p) => ({ name: p.name, shape: p.shape, grad: true, fill: /bn\d?\.weight$/.test(p.name) ? (_: number, r: () => number) => 0.5 + r() : undefined })),
    { name: 'onehot', shape: [4, 3], grad: false, fill: (i) => (labels[Math.floor(i / 3)] === i % 3 ? 1 : 0) },
  ], (b, v) => ops.softmaxCrossEntropy(b, model.forward(b, v.x, v, 'train').logits, v.onehot), { eps: 1e-2, tol: 5e-3, seed: 3 });
});

test('the trainer\'s resnet graph: every parameter gradient against central differences of its loss (float32)', async () => {
  const trainer = await ChildTrainer.create(resNet([1, 4, 4], 3, 4, { widths: [2, 3], blocks: 1 }), { batchSize: 4, threads: 1 });
  // Seed 3: with other seeds some ReLU input of this tiny network (4 images, batch norm over 16 values) lies within
  // 1e-4 of zero, so the central difference straddles the kink (seed 11: a stage-2 input at 2e-5, one-sided slopes
  // -0.513 and -0.352, the analytic gradient -0.513 is the left one).
  trainer.initialize(3);
  // As for the child convnet: a small step so no ReLU or max-pool switch is crossed.
  await checkTrainerGradients(trainer, { imageSeed: 5, eps: 3e-4 });
  await trainer.dispose();
});

test('the trainer\'s resnet graph on odd sides (5x7, pooled to 2x3): every parameter gradient against central differences', async () => {
  const trainer = await ChildTrainer.create(resNet([1, 5, 7], 3, 4, { widths: [2, 3], blocks: 1 }), { batchSize: 4, threads: 1 });
  // As above, some seeds put a ReLU input of this tiny network within eps of its kink, at even sides as well (4x6 and
  // 6x8 fail at seeds 5 and 6 as 5x7 does at 3, 5 and 6, each on one element); seed 4 has none at either eps.
  trainer.initialize(4);
  await checkTrainerGradients(trainer, { imageSeed: 5, eps: 3e-4 });
  await trainer.dispose();
});

/** Class k is a bright k-th horizontal band (plus noise) on an 8x8 image. */
function bands(count: number, seed: number): Split {
  const r = new SeededRandom(seed);
  const images = new Float32Array(count * 64);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const k = Math.floor(r.next() * 4);
    labels[i] = k;
    for (let p = 0; p < 64; p++) images[i * 64 + p] = (Math.floor(p / 8) === k ? 1.5 : 0) + (r.next() - 0.5);
  }
  return { images, labels, count };
}

test('resnet learns synthetic bands well above chance, in eval mode with its running statistics', async () => {
  const trainer = await ChildTrainer.create(resNet([1, 8, 8], 4, 20, { widths: [4, 8], blocks: 1 }), { batchSize: 20, threads: 1 });
  trainer.initialize(3);
  const optimizer = createOptimizer('momentum', { lr: 0.05, threads: 1 });
  const result = await trainEpochs(trainer, optimizer, bands(400, 1), { epochs: 3, rng: new SeededRandom(2) });
  optimizer.dispose();
  assert.equal(result.status, 'ok');
  const score = await trainer.evaluate(bands(200, 4));
  assert.ok(score.accuracy >= 0.9, `accuracy ${score.accuracy} (chance 0.25)`);
  await trainer.dispose();
});
