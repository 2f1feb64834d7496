// The gradients of the transfer tasks' ops (residual add, bias, products, sigmoid, tanh, embedding, split, stack,
// global average pooling) against central finite differences, alone and composed into an LSTM and a residual block.
import { test } from 'node:test';
import { OnnxDataType } from '../../../src/runtime/child/onnx-proto';
import * as ops from '../../../src/runtime/child/ops';
import { checkGradients } from '../../support/gradient-check';

const F64 = OnnxDataType.DOUBLE;
const F32 = OnnxDataType.FLOAT;
// Float64 graphs: central differences with eps 1e-6 are accurate to about 1e-9 on smooth functions.
const DOUBLE = { eps: 1e-6, tol: 1e-6 };

test('add and mul: both operands, and a value used twice gets both paths (float64)', async () => {
  await checkGradients(F64, [
    { name: 'x', shape: [3, 4], grad: true }, { name: 'y', shape: [3, 4], grad: true }, { name: 'r', shape: [3, 4], grad: false },
  ], (b, v) => ops.weightedSum(b, ops.add(b, ops.mul(b, v.x, v.y), ops.mul(b, v.x, v.x)), v.r), DOUBLE);
});

test('addBias: the bias gradient sums over every leading axis (float64)', async () => {
  await checkGradients(F64, [
    { name: 'x', shape: [2, 3, 4], grad: true }, { name: 'bias', shape: [4], grad: true }, { name: 'r', shape: [2, 3, 4], grad: false },
  ], (b, v) => ops.weightedSum(b, ops.addBias(b, v.x, v.bias), v.r), DOUBLE);
});

test('sigmoid and tanh (float64)', async () => {
  await checkGradients(F64, [
    { name: 'x', shape: [2, 5], grad: true, fill: (_, r) => 4 * (r() - 0.5) }, { name: 'r', shape: [2, 5], grad: false },
  ], (b, v) => ops.weightedSum(b, ops.mul(b, ops.sigmoid(b, v.x), ops.tanh(b, v.x)), v.r), DOUBLE);
});

test('linear (no bias): input and weight (float64)', async () => {
  await checkGradients(F64, [
    { name: 'x', shape: [3, 4], grad: true }, { name: 'w', shape: [5, 4], grad: true }, { name: 'r', shape: [3, 5], grad: false },
  ], (b, v) => ops.weightedSum(b, ops.linear(b, v.x, v.w), v.r), DOUBLE);
});

test('embedding: rows picked twice get the sum of both gradients, rows never picked get zero (float64)', async () => {
  const picks = [2, 0, 2, 4, 0, 2]; // rows 1 and 3 are never picked
  await checkGradients(F64, [
    { name: 'table', shape: [5, 3], grad: true }, { name: 'idx', shape: [2, 3], grad: false, int64: true, fill: (i) => picks[i] },
    { name: 'r', shape: [2, 3, 3], grad: false },
  ], (b, v) => ops.weightedSum(b, ops.embedding(b, v.table, v.idx), v.r), DOUBLE);
});

test('split: every piece, and zeros for a piece the loss does not use (float64)', async () => {
  await checkGradients(F64, [
    { name: 'x', shape: [2, 8], grad: true }, { name: 'r', shape: [2, 2], grad: false },
  ], (b, v) => {
    const [p0, p1, , p3] = ops.split(b, v.x, 1, 4); // the third piece is unused
    return ops.weightedSum(b, ops.add(b, ops.mul(b, p0, p1), p3), v.r);
  }, DOUBLE);
});

test('unstack, stack and reshape: a sequence taken apart and put back (float64)', async () => {
  await checkGradients(F64, [
    { name: 'x', shape: [4, 2, 3], grad: true }, { name: 'r', shape: [6, 3], grad: false },
  ], (b, v) => {
    const steps = ops.unstack(b, v.x);
    // Step 2 is dropped (its gradient is zero) and step 0 used twice.
    const kept = ops.stack(b, [ops.mul(b, steps[0], steps[1]), steps[3], steps[0]]);
    return ops.weightedSum(b, ops.reshape(b, kept, [6, 3]), v.r);
  }, DOUBLE);
});

test('globalAvgPool (float32; the loss is linear in x)', async () => {
  // onnxruntime's GlobalAveragePool has no float64 kernel; the loss is linear, so central differences are exact up to
  // float32 rounding of the loss.
  await checkGradients(F32, [
    { name: 'x', shape: [2, 3, 4, 4], grad: true }, { name: 'r', shape: [2, 3], grad: false },
  ], (b, v) => ops.weightedSum(b, ops.globalAvgPool(b, v.x), v.r), { eps: 0.05, tol: 1e-3 });
});

test('an LSTM unrolled over 3 steps: embedding, gates, cell, output layer and cross-entropy (float64)', async () => {
  const [steps, batch, hidden, vocab] = [3, 2, 3, 4];
  const inputs = [1, 3, 0, 1, 2, 2];
  const targets = [3, 0, 1, 1, 2, 0];
  await checkGradients(F64, [
    { name: 'table', shape: [vocab, 4 * hidden], grad: true }, { name: 'bias', shape: [4 * hidden], grad: true },
    { name: 'wh', shape: [4 * hidden, hidden], grad: true }, { name: 'wo', shape: [vocab, hidden], grad: true },
    { name: 'bo', shape: [vocab], grad: true },
    { name: 'idx', shape: [steps, batch], grad: false, int64: true, fill: (i) => inputs[i] },
    { name: 'onehot', shape: [steps * batch, vocab], grad: false, fill: (i) => (targets[Math.floor(i / vocab)] === i % vocab ? 1 : 0) },
  ], (b, v) => {
    const xs = ops.unstack(b, ops.addBias(b, ops.embedding(b, v.table, v.idx), v.bias));
    let h = null as ReturnType<typeof ops.tanh> | null;
    let c = null as ReturnType<typeof ops.tanh> | null;
    const hs = [];
    for (const x of xs) {
      const gates = h ? ops.add(b, x, ops.linear(b, h, v.wh)) : x;
      const [i, f, g, o] = ops.split(b, gates, 1, 4);
      const ig = ops.mul(b, ops.sigmoid(b, i), ops.tanh(b, g));
      c = c ? ops.add(b, ops.mul(b, ops.sigmoid(b, f), c), ig) : ig;
      h = ops.mul(b, ops.sigmoid(b, o), ops.tanh(b, c));
      hs.push(h);
    }
    const flat = ops.reshape(b, ops.stack(b, hs), [steps * batch, hidden]);
    return ops.softmaxCrossEntropy(b, ops.dense(b, flat, v.wo, v.bo), v.onehot);
  }, DOUBLE);
});

test('a residual block with a 1x1 projection, batch norm and global average pooling (float32)', async () => {
  // Non-linear end to end in float32: eps 1e-2 balances rounding and truncation, as for the whole child network.
  const labels = [1, 0];
  await checkGradients(F32, [
    { name: 'x', shape: [2, 2, 4, 4], grad: false },
    { name: 'w1', shape: [3, 2, 3, 3], grad: true }, { name: 'g1', shape: [3], grad: true, fill: (_, r) => 0.5 + r() },
    { name: 'b1', shape: [3], grad: true }, { name: 'w2', shape: [3, 3, 3, 3], grad: true },
    { name: 'proj', shape: [3, 2, 1, 1], grad: true },
    { name: 'wd', shape: [2, 3], grad: true }, { name: 'bd', shape: [2], grad: true },
    { name: 'onehot', shape: [2, 2], grad: false, fill: (i) => (labels[Math.floor(i / 2)] === i % 2 ? 1 : 0) },
  ], (b, v) => {
    const h = ops.relu(b, ops.batchNormTrain(b, ops.conv2d(b, v.x, v.w1, null, 1), v.g1, v.b1, 1e-5).y);
    const y = ops.relu(b, ops.add(b, ops.conv2d(b, h, v.w2, null, 1), ops.conv2d(b, v.x, v.proj, null, 0)));
    return ops.softmaxCrossEntropy(b, ops.dense(b, ops.globalAvgPool(b, y), v.wd, v.bd), v.onehot);
  }, { eps: 1e-2, tol: 5e-3, seed: 3 });
});
