// The language model's network: its whole graph's gradient against finite differences (float64), the training and
// evaluation graphs agreeing, padding in evaluation, and learning a tiny repetitive text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OnnxDataType } from '../../src/runtime/child/onnx-proto';
import * as ops from '../../src/runtime/child/ops';
import { SeededRandom } from '../../src/runtime/child/random';
import { createOptimizer } from '../../src/runtime/optimizer';
import { charLstmLogits, charLstmParams, CharLstmTrainer } from '../../src/transfer/char-lstm';
import { checkGradients } from '../support/gradient-check';

const shape = { vocab: 5, embed: 3, hidden: 4, steps: 3 };

test('char LSTM: parameters as PyTorch nn.Embedding + nn.LSTM + nn.Linear', () => {
  assert.deepEqual(charLstmParams(shape).map((p) => `${p.name}:${p.shape.join('x')}`), [
    'embedding.weight:5x3', 'lstm.weight_ih:16x3', 'lstm.weight_hh:16x4', 'lstm.bias_ih:16', 'lstm.bias_hh:16', 'fc.weight:5x4', 'fc.bias:5',
  ]);
});

test('char LSTM graph: every parameter gradient against central differences (float64)', async () => {
  const batch = 2;
  const inputs = [1, 4, 0, 2, 2, 3]; // [steps, batch], time-major; id 2 repeats so its embedding row sums two paths
  const targets = [4, 0, 2, 1, 3, 3];
  await checkGradients(OnnxDataType.DOUBLE, [
    ...charLstmParams(shape).map((p) => ({ name: p.name, shape: p.shape, grad: true })),
    { name: 'chars', shape: [shape.steps, batch], grad: false, int64: true, fill: (i) => inputs[i] },
    { name: 'onehot', shape: [shape.steps * batch, shape.vocab], grad: false, fill: (i) => (targets[Math.floor(i / shape.vocab)] === i % shape.vocab ? 1 : 0) },
  ], (b, v) => ops.softmaxCrossEntropy(b, charLstmLogits(b, shape, v.chars, batch, v), v.onehot), { eps: 1e-6, tol: 1e-6 });
});

const sequence = (ids: number[]) => Uint16Array.from(ids);

test('char LSTM trainer: the evaluation graph scores what the training graph does; padding adds no loss', async () => {
  const trainer = await CharLstmTrainer.create(shape, { batch: 2, evalBatch: 3, threads: 1 });
  trainer.initialize(4);
  const seqs = [sequence([1, 2, 3, 4]), sequence([4, 3, 2, 1])];
  const trainLoss = await trainer.step(seqs);
  // Two sequences in an evaluation batch of three: the third slot is padding.
  const evalLoss = await trainer.evaluate(seqs);
  assert.ok(Math.abs(trainLoss - evalLoss) < 1e-5, `train ${trainLoss} vs eval ${evalLoss}`);
  // Four sequences: a full batch of three and one of one (two padding slots).
  const four = [...seqs, ...seqs];
  assert.ok(Math.abs((await trainer.evaluate(four)) - evalLoss) < 1e-5);
  await assert.rejects(trainer.step([seqs[0]]), /expected 2 sequences, got 1/);
  await trainer.dispose();
});

test('char LSTM learns a repeating text far below the uniform loss', async () => {
  const lstm = { vocab: 6, embed: 8, hidden: 16, steps: 10 };
  const trainer = await CharLstmTrainer.create(lstm, { batch: 8, threads: 1 });
  trainer.initialize(1);
  const text = Uint16Array.from({ length: 400 }, (_, i) => 1 + (i % 5)); // 1 2 3 4 5 1 2 ...
  const rng = new SeededRandom(2);
  const windows = () => Array.from({ length: 8 }, () => {
    const start = Math.floor(rng.next() * (text.length - 11));
    return text.subarray(start, start + 11);
  });
  const optimizer = createOptimizer('adam', { lr: 0.02, threads: 1 });
  for (let i = 0; i < 150; i++) {
    await trainer.step(windows());
    optimizer.update(trainer.params, trainer.grads);
  }
  optimizer.dispose();
  const loss = await trainer.evaluate(windows());
  // Uniform over 6 ids is ln 6 = 1.79; the first character of each window is unpredictable (ln 5 / 10 = 0.16).
  assert.ok(loss < 0.4, `held-out loss ${loss}`);
  await trainer.dispose();
});
