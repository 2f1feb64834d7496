// Every differentiable op's gradient (and the whole child network's) against central finite differences.
import { test } from 'node:test';
import { OnnxDataType } from '../../../src/runtime/child/onnx-proto';
import { convNet } from '../../../src/runtime/child/models';
import * as ops from '../../../src/runtime/child/ops';
import { ChildTrainer } from '../../../src/runtime/child/trainer';
import { seededRandom } from '../../support/seeded-random';
import { checkGradients, checkTrainerGradients } from '../../support/gradient-check';

const F64 = OnnxDataType.DOUBLE;
const F32 = OnnxDataType.FLOAT;
// Float64 graphs: central differences with eps 1e-6 are accurate to about 1e-9 on smooth functions.
const DOUBLE = { eps: 1e-6, tol: 1e-6 };

test('dense: gradients of input, weight and bias (float64)', async () => {
  await checkGradients(F64, [
    { name: 'x', shape: [3, 4], grad: true }, { name: 'w', shape: [5, 4], grad: true },
    { name: 'bias', shape: [5], grad: true }, { name: 'r', shape: [3, 5], grad: false },
  ], (b, v) => ops.weightedSum(b, ops.dense(b, v.x, v.w, v.bias), v.r), DOUBLE);
});

test('relu: gradient away from the kink (float64)', async () => {
  // Inputs kept at |x| >= 0.1 so the eps-perturbation never crosses zero.
  await checkGradients(F64, [
    { name: 'x', shape: [2, 6], grad: true, fill: (_, r) => (r() < 0.5 ? -1 : 1) * (0.1 + r()) },
    { name: 'r', shape: [2, 6], grad: false },
  ], (b, v) => ops.weightedSum(b, ops.relu(b, v.x), v.r), DOUBLE);
});

/**
 * maxPool2's gradient on an input of `shape` holding 0..n-1 shuffled: onnxruntime's Resize (used by the backward pass)
 * has no float64 kernel, so distinct values one apart keep every window free of ties and a 0.25 step never changes
 * the winner: the loss is then locally linear and central differences are exact up to float32 rounding of the loss
 * (about 1e-4 of the gradient here).
 */
async function checkMaxPoolGradient(shape: [number, number, number, number], seed: number): Promise<void> {
  const perm = Array.from({ length: shape.reduce((p, q) => p * q, 1) }, (_, i) => i);
  const r = seededRandom(seed);
  for (let i = perm.length - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [perm[i], perm[j]] = [perm[j], perm[i]]; }
  const [n, c, h, w] = shape;
  await checkGradients(F32, [
    { name: 'x', shape, grad: true, fill: (i) => perm[i] },
    { name: 'r', shape: [n, c, Math.floor(h / 2), Math.floor(w / 2)], grad: false },
  ], (b, v) => ops.weightedSum(b, ops.maxPool2(b, v.x), v.r), { eps: 0.25, tol: 1e-3 });
}

test('maxPool2: gradient routes to the selected element of each window (float32)', () => checkMaxPoolGradient([2, 3, 4, 4], 7));

test('maxPool2 on odd sides (5x7): floored as PyTorch, the row and column left out get zero gradient (float32)', () => checkMaxPoolGradient([2, 2, 5, 7], 11));

test('batchNormTrain: gradients of input, gamma and beta over NCHW (float64)', async () => {
  await checkGradients(F64, [
    { name: 'x', shape: [3, 2, 2, 3], grad: true }, { name: 'gamma', shape: [2], grad: true, fill: (_, r) => 0.5 + r() },
    { name: 'beta', shape: [2], grad: true }, { name: 'r', shape: [3, 2, 2, 3], grad: false },
  ], (b, v) => ops.weightedSum(b, ops.batchNormTrain(b, v.x, v.gamma, v.beta, 1e-5).y, v.r), DOUBLE);
});

test('batchNormTrain: gradients over NC input (float64)', async () => {
  await checkGradients(F64, [
    { name: 'x', shape: [4, 3], grad: true }, { name: 'gamma', shape: [3], grad: true, fill: (_, r) => 0.5 + r() },
    { name: 'beta', shape: [3], grad: true }, { name: 'r', shape: [4, 3], grad: false },
  ], (b, v) => ops.weightedSum(b, ops.batchNormTrain(b, v.x, v.gamma, v.beta, 1e-5).y, v.r), DOUBLE);
});

test('softmaxCrossEntropy: gradient of the logits (float64)', async () => {
  const labels = [2, 0, 3];
  await checkGradients(F64, [
    { name: 'logits', shape: [3, 4], grad: true, fill: (_, r) => 3 * (r() - 0.5) },
    { name: 'onehot', shape: [3, 4], grad: false, fill: (i) => (labels[Math.floor(i / 4)] === i % 4 ? 1 : 0) },
  ], (b, v) => ops.softmaxCrossEntropy(b, v.logits, v.onehot), DOUBLE);
});

test('flatten then dense: gradient reshapes back (float64)', async () => {
  await checkGradients(F64, [
    { name: 'x', shape: [2, 2, 2, 2], grad: true }, { name: 'w', shape: [3, 8], grad: true },
    { name: 'bias', shape: [3], grad: false }, { name: 'r', shape: [2, 3], grad: false },
  ], (b, v) => ops.weightedSum(b, ops.dense(b, ops.flatten(b, v.x), v.w, v.bias), v.r), DOUBLE);
});

// onnxruntime has no float64 Conv, so convolution is checked in float32.  The loss is linear in each of x and w,
// so central differences carry no truncation error, only float32 rounding of the loss (about 1e-6 relative):
// with eps 0.05 that is a few 1e-5 in the gradient, hence tol 1e-3 of the largest gradient.
const FLOAT_LINEAR = { eps: 0.05, tol: 1e-3 };

test('conv2d: gradients of input, weight and bias, pad 1 (float32)', async () => {
  await checkGradients(F32, [
    { name: 'x', shape: [2, 3, 5, 5], grad: true }, { name: 'w', shape: [4, 3, 3, 3], grad: true },
    { name: 'bias', shape: [4], grad: true }, { name: 'r', shape: [2, 4, 5, 5], grad: false },
  ], (b, v) => ops.weightedSum(b, ops.conv2d(b, v.x, v.w, v.bias, 1), v.r), FLOAT_LINEAR);
});

test('conv2d: gradients without padding or bias (float32)', async () => {
  await checkGradients(F32, [
    { name: 'x', shape: [2, 2, 4, 4], grad: true }, { name: 'w', shape: [3, 2, 3, 3], grad: true },
    { name: 'r', shape: [2, 3, 2, 2], grad: false },
  ], (b, v) => ops.weightedSum(b, ops.conv2d(b, v.x, v.w, null, 0), v.r), FLOAT_LINEAR);
});

test('whole child network: conv, batch norm, relu, max pool, dense, cross-entropy (float32)', async () => {
  // Non-linear end to end, so float32 central differences carry both rounding and truncation error: eps 1e-2
  // balances them, and a kink crossed by relu or a max-pool switch shows up as an error far above tol.
  const labels = [1, 0];
  await checkGradients(F32, [
    { name: 'x', shape: [2, 1, 4, 4], grad: false },
    { name: 'w1', shape: [3, 1, 3, 3], grad: true },
    { name: 'g1', shape: [3], grad: true, fill: (_, r) => 0.5 + r() }, { name: 'b1', shape: [3], grad: true },
    { name: 'wd', shape: [2, 12], grad: true }, { name: 'bd', shape: [2], grad: true },
    { name: 'onehot', shape: [2, 2], grad: false, fill: (i) => (labels[Math.floor(i / 2)] === i % 2 ? 1 : 0) },
  ], (b, v) => {
    const bn = ops.batchNormTrain(b, ops.conv2d(b, v.x, v.w1, null, 1), v.g1, v.b1, 1e-5);
    const pooled = ops.maxPool2(b, ops.relu(b, bn.y));
    return ops.softmaxCrossEntropy(b, ops.dense(b, ops.flatten(b, pooled), v.wd, v.bd), v.onehot);
  }, { eps: 1e-2, tol: 5e-3, seed: 3 });
});

test('the trainer\'s convnet graph: every parameter gradient against central differences of its loss (float32)', async () => {
  const trainer = await ChildTrainer.create(convNet([1, 8, 8], 3, 4, 3), { batchSize: 4, threads: 1 });
  trainer.initialize(7);
  // A conv1 weight moves every pre-pool activation, and batch norm over this tiny batch magnifies it, so a step of
  // 1e-2 switches max-pool winners (kinks).  With 3e-4 no winner switches here.
  await checkTrainerGradients(trainer, { imageSeed: 21, eps: 3e-4 });
  await trainer.dispose();
});

test('the trainer\'s convnet graph on odd sides (11x9: pooled to 5x4, then 2x2): every parameter gradient against central differences', async () => {
  const trainer = await ChildTrainer.create(convNet([1, 11, 9], 3, 4, 3), { batchSize: 4, threads: 1 });
  trainer.initialize(7);
  await checkTrainerGradients(trainer, { imageSeed: 21, eps: 3e-4 });
  await trainer.dispose();
});
