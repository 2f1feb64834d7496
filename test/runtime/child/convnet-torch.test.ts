// The paper's child against PyTorch's: the same weights and batch give the same loss, gradients and batch-norm running
// statistics (within 1e-4 relative per tensor) as torch.nn's Conv2d, BatchNorm2d, MaxPool2d(2) and Linear, at the
// paper's 28x28 and at odd sides, where both pool floored (an odd last row or column is in no window).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { convNet } from '../../../src/runtime/child/models';
import { ChildTrainer } from '../../../src/runtime/child/trainer';
import { relativeError } from '../../support/relative-error';
import { seededRandom } from '../../support/seeded-random';
import { runTorchScript } from '../../support/torch';

interface TorchStep { loss: number; grads: Record<string, number[]>; running: number[][] }
const TOLERANCE = 1e-4;

async function compareWithTorch(shape: [number, number, number], filters: number, batch: number): Promise<void> {
  const classes = 10;
  const trainer = await ChildTrainer.create(convNet(shape, classes, batch, filters), { batchSize: batch, threads: 1 });
  try {
    trainer.initialize(5);
    const random = seededRandom(17);
    const labels = Array.from({ length: batch }, () => Math.floor(random() * classes));
    trainer.batchImages.set(Float32Array.from(trainer.batchImages, () => 2 * random() - 1));
    trainer.batchOneHot.fill(0);
    labels.forEach((label, b) => { trainer.batchOneHot[b * classes + label] = 1; });
    const loss = await trainer.step();
    const params = Object.fromEntries(trainer.model.params.map((p, i) => [p.name, [...trainer.params[i]]]));
    const torch = runTorchScript<TorchStep>('convnet-torch-step.py', { shape, classes, filters, params, images: [...trainer.batchImages], labels });
    const where = `${shape.join('x')}`;
    assert.ok(Math.abs(loss - torch.loss) <= TOLERANCE * Math.abs(torch.loss), `${where}: loss ${loss} vs PyTorch ${torch.loss}`);
    trainer.model.params.forEach((p, i) => {
      const e = relativeError(trainer.grads[i], Float32Array.from(torch.grads[p.name]));
      assert.ok(e <= TOLERANCE, `${where}: gradient of ${p.name} off by ${e.toExponential(2)} (relative)`);
    });
    torch.running.forEach((r, i) => {
      const e = relativeError(trainer.runningStats[i], Float32Array.from(r));
      assert.ok(e <= TOLERANCE, `${where}: running statistic ${i} off by ${e.toExponential(2)}`);
    });
  } finally {
    await trainer.dispose();
  }
}

test('the convnet at 28x28 gives PyTorch\'s loss, gradients and running statistics', () => compareWithTorch([1, 28, 28], 8, 6));
test('the convnet at odd sides (3x15x13, pooled to 7x6, then 3x3) gives PyTorch\'s, whose MaxPool2d(2) floors too', () => compareWithTorch([3, 15, 13], 8, 6));
test('the convnet at 30x30 (only the second pooling leaves a row out) gives PyTorch\'s', () => compareWithTorch([1, 30, 30], 8, 4));
