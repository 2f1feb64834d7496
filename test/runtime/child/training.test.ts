// End-to-end training on synthetic data: the child networks learn, and divergence stops a run at once.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Split } from '../../../src/runtime/child/data';
import { convNet, mlp } from '../../../src/runtime/child/models';
import { SeededRandom } from '../../../src/runtime/child/random';
import { trainEpochs, TrainingRun } from '../../../src/runtime/child/train-loop';
import { ChildTrainer } from '../../../src/runtime/child/trainer';
import { createOptimizer } from '../../../src/runtime/optimizer';

const optimizers: Array<ReturnType<typeof createOptimizer>> = [];
after(() => { for (const o of optimizers) o.dispose(); });

/** The project's `sgd` rule as the updater: the fused kernel the protocol uses. */
function sgd(lr: number) {
  const o = createOptimizer('sgd', { lr, threads: 1 });
  optimizers.push(o);
  return o;
}

/** Class k is a bright k-th horizontal band (plus noise) on an 8x8 image: easy for a convnet or an MLP. */
function syntheticBands(count: number, classes: number, seed: number): Split {
  const r = new SeededRandom(seed);
  const images = new Float32Array(count * 64);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const k = Math.floor(r.next() * classes);
    labels[i] = k;
    for (let p = 0; p < 64; p++) images[i * 64 + p] = (Math.floor(p / 8) === k ? 1.5 : 0) + (r.next() - 0.5);
  }
  return { images, labels, count };
}

test('MLP learns synthetic bands well above chance', async () => {
  const trainer = await ChildTrainer.create(mlp([1, 8, 8], 4), { batchSize: 20, threads: 1 });
  trainer.initialize(1);
  const train = syntheticBands(400, 4, 2);
  const validation = syntheticBands(200, 4, 3);
  const before = await trainer.evaluate(validation);
  const result = await trainEpochs(trainer, sgd(0.1), train, { epochs: 3, rng: new SeededRandom(4) });
  assert.equal(result.status, 'ok');
  assert.equal(result.steps, 60);
  assert.ok(result.lastLoss < result.initialLoss, `loss falls: ${result.initialLoss} -> ${result.lastLoss}`);
  const after = await trainer.evaluate(validation);
  assert.ok(after.accuracy >= 0.9, `accuracy ${after.accuracy} (chance 0.25, before training ${before.accuracy})`);
  await trainer.dispose();
});

test('convnet (batch norm, running statistics) learns synthetic bands well above chance', async () => {
  const trainer = await ChildTrainer.create(convNet([1, 8, 8], 4, 20, 8), { batchSize: 20, threads: 1 });
  trainer.initialize(5);
  const train = syntheticBands(400, 4, 6);
  const validation = syntheticBands(200, 4, 7);
  const result = await trainEpochs(trainer, sgd(0.05), train, { epochs: 3, rng: new SeededRandom(8) });
  assert.equal(result.status, 'ok');
  // The running statistics moved away from their initial (0, 1).
  assert.ok(trainer.runningStats[0].some((v) => Math.abs(v) > 1e-3));
  const after = await trainer.evaluate(validation);
  assert.ok(after.accuracy >= 0.9, `accuracy ${after.accuracy} (chance 0.25)`);
  await trainer.dispose();
});

test('a huge learning rate is detected as divergence within a few steps', async () => {
  const trainer = await ChildTrainer.create(mlp([1, 8, 8], 4), { batchSize: 20, threads: 1 });
  trainer.initialize(1);
  const result = await trainEpochs(trainer, sgd(1e6), syntheticBands(400, 4, 2), { epochs: 50, rng: new SeededRandom(4) });
  assert.equal(result.status, 'diverged');
  assert.ok(result.steps <= 5, `stopped after ${result.steps} steps`);
  assert.match(result.reason ?? '', /loss/);
  await trainer.dispose();
});

test('training is reproducible from the seeds', async () => {
  const run = async () => {
    const trainer = await ChildTrainer.create(mlp([1, 8, 8], 4), { batchSize: 20, threads: 1 });
    trainer.initialize(9);
    const r = await trainEpochs(trainer, sgd(0.1), syntheticBands(100, 4, 2), { epochs: 1, rng: new SeededRandom(3) });
    const w = Float32Array.from(trainer.params[0]);
    await trainer.dispose();
    return { loss: r.lastLoss, w };
  };
  const a = await run();
  const b = await run();
  assert.equal(a.loss, b.loss);
  assert.deepEqual(a.w, b.w);
});

test('a past deadline stops the run as timeout', async () => {
  const trainer = await ChildTrainer.create(mlp([1, 8, 8], 4), { batchSize: 20, threads: 1 });
  trainer.initialize(1);
  const result = await trainEpochs(trainer, sgd(0.1), syntheticBands(100, 4, 2), { epochs: 1, rng: new SeededRandom(4), deadline: Date.now() - 1 });
  assert.equal(result.status, 'timeout');
  assert.equal(result.steps, 0);
  await trainer.dispose();
});

test('a run trained a stretch at a time (other runs on the trainer in between) equals one trained in one go', async () => {
  const trainer = await ChildTrainer.create(convNet([1, 8, 8], 4, 20, 8), { batchSize: 20, threads: 1 });
  const train = syntheticBands(400, 4, 2);
  trainer.initialize(5);
  const start = { params: trainer.params.map((p) => p.slice()), stats: trainer.runningStats.map((s) => s.slice()) };
  const whole = await trainEpochs(trainer, sgd(0.05), train, { epochs: 2, rng: new SeededRandom(6) });
  const expected = { params: trainer.params.map((p) => p.slice()), stats: trainer.runningStats.map((s) => s.slice()) };

  const load = (x: typeof start) => { trainer.params.forEach((p, i) => p.set(x.params[i])); trainer.runningStats.forEach((s, i) => s.set(x.stats[i])); };
  const save = (x: typeof start) => { x.params.forEach((p, i) => p.set(trainer.params[i])); x.stats.forEach((s, i) => s.set(trainer.runningStats[i])); };
  const mine = { params: start.params.map((p) => p.slice()), stats: start.stats.map((s) => s.slice()) };
  const other = { params: start.params.map((p) => p.slice()), stats: start.stats.map((s) => s.slice()) };
  const run = new TrainingRun(trainer, sgd(0.05), train, { epochs: 2, rng: new SeededRandom(6) });
  const intruder = new TrainingRun(trainer, sgd(0.2), train, { epochs: 2, rng: new SeededRandom(9) });
  for (const until of [3, 20, 21, 40]) { // stops inside an epoch, at its end, just after, at the end
    load(mine); const r = await run.advance(until); save(mine);
    assert.equal(run.done, until);
    assert.equal(r.steps, until);
    load(other); await intruder.advance(until); save(other);
  }
  assert.equal((await run.advance(1000)).status, 'ok', 'nothing left to train');
  assert.equal(whole.steps, run.totalBatches);
  mine.params.forEach((p, i) => assert.deepEqual(p, expected.params[i], `parameter ${i}`));
  mine.stats.forEach((s, i) => assert.deepEqual(s, expected.stats[i], `running statistic ${i}`));
});
