// Each transfer task on tiny data (--quick sizes): it trains, scores, draws its curve, and refuses data too small.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataError } from '../../src/runtime/child/data';
import { BASELINES } from '../../src/transfer/optimizers';
import { createTask, TASK_NAMES } from '../../src/transfer/tasks';
import { RunInterrupted, type RunContext } from '../../src/transfer/task';
import { npyBytes } from '../support/npy-write';
import { tinyText, writeBandImages } from './tiny-data';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-tasks-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const running: RunContext = { stopped: () => false, progress: () => undefined };

/** A context whose time runs out once the last training step is done: only the final evaluation is left. */
function stoppingAtEvaluation(): RunContext & { checksAfterTraining: number } {
  let trained = false;
  const context = {
    checksAfterTraining: 0,
    stopped: () => { if (trained) context.checksAfterTraining++; return trained; },
    progress: (fraction: number) => { trained = fraction >= 1; },
  };
  return context;
}

/** A limit reached during the last evaluation stops the run there (it is not run to its end). */
async function assertEvaluationInterrupts(run: (context: RunContext) => Promise<unknown>): Promise<void> {
  const context = stoppingAtEvaluation();
  await assert.rejects(run(context), (e: Error) => e instanceof RunInterrupted);
  assert.equal(context.checksAfterTraining, 1);
}

test('the task names', () => {
  assert.deepEqual(TASK_NAMES, ['rosenbrock', 'convnet-large', 'lm']);
});

test('convnet-large on tiny images with a test file: tunes on validation, trains, curves of test accuracy', async () => {
  const data = path.join(dir, 'with-test');
  writeBandImages(data, 1200, 300);
  const task = await createTask('convnet-large', { quick: true, dataPath: data, threads: 1 });
  try {
    assert.equal(task.metric.better, 'higher');
    assert.match(String(task.settings.test), /t10k-images-idx3-ubyte$/);
    assert.deepEqual([task.settings.trainImages, task.settings.tuneImages, task.settings.validationImages, task.settings.testImages], [1200, 700, 500, 300]);
    const tune = await task.run(BASELINES.momentum, 0.05, 0, 'tune', running);
    assert.equal(tune.status, 'ok');
    assert.equal(tune.curve.length, 1);
    const final = await task.run(BASELINES.momentum, 0.05, 0, 'final', running);
    assert.equal(final.status, 'ok');
    assert.deepEqual(final.curve.map((p) => p.x), [0.5, 1]);
    assert.ok(final.score! > 0.9, `test accuracy ${final.score} (chance 0.25)`);
    assert.equal((await task.run(BASELINES.momentum, 0.05, 0, 'final', running)).score, final.score); // seeded
    const wild = await task.run(BASELINES.sgd, 1e4, 0, 'tune', running);
    assert.deepEqual([wild.status, wild.score], ['diverged', null]);
    await assertEvaluationInterrupts((context) => task.run(BASELINES.momentum, 0.05, 0, 'final', context));
  } finally {
    await task.dispose();
  }
});

test('convnet-large without a test file holds out the end of the training file; too few images are refused', async () => {
  const data = path.join(dir, 'no-test');
  writeBandImages(data, 2200, 0);
  const task = await createTask('convnet-large', { quick: true, dataPath: data, threads: 1 });
  assert.match(String(task.settings.test), /the last 1000 images of .*train-images-idx3-ubyte/);
  assert.equal(task.settings.trainImages, 1200);
  await task.dispose();
  const small = path.join(dir, 'small');
  writeBandImages(small, 1200, 0);
  await assert.rejects(createTask('convnet-large', { quick: true, dataPath: small, threads: 1 }), (e: Error) => e instanceof DataError && /1200 images are too few for convnet-large/.test(e.message));
});

test('convnet-large refuses feature rows (NumPy (N, D)) naming the data and where they train instead', async () => {
  const rows = path.join(dir, 'rows');
  fs.mkdirSync(rows);
  fs.writeFileSync(path.join(rows, 'x_train.npy'), npyBytes('<f4', [2200, 4], Array.from({ length: 8800 }, (_, i) => (i % 7) - 3)));
  fs.writeFileSync(path.join(rows, 'y_train.npy'), npyBytes('<i8', [2200], Array.from({ length: 2200 }, (_, i) => i % 2)));
  await assert.rejects(createTask('convnet-large', { quick: true, dataPath: rows, threads: 1 }), (e: Error) => e instanceof DataError &&
    e.message.startsWith(`${rows}: images of 4x1x1 (channels x height x width) do not fit convnet-large's residual network: resnet: input 1x1`) &&
    /feature rows are not images: they train on the MLP of nos eval and nos search/.test(e.message));
});

test('lm on a tiny text: the loss per character falls far below the uniform one; curves at each evaluation', async () => {
  const file = path.join(dir, 'tiny.txt');
  fs.writeFileSync(file, tinyText(3000));
  const task = await createTask('lm', { quick: true, textPath: file, threads: 1 });
  try {
    assert.equal(task.metric.better, 'lower');
    const vocab = task.settings.vocabulary as number;
    const final = await task.run(BASELINES.adam, 0.01, 0, 'final', running);
    assert.equal(final.status, 'ok');
    assert.deepEqual(final.curve.map((p) => p.x), [20, 40, 60]);
    assert.ok(final.score! < 0.75 * Math.log(vocab), `test loss ${final.score} nats/char (uniform ${Math.log(vocab)})`);
    const tune = await task.run(BASELINES.adam, 0.01, 0, 'tune', running);
    assert.deepEqual([tune.status, tune.curve.length], ['ok', 1]);
    await assertEvaluationInterrupts((context) => task.run(BASELINES.adam, 0.01, 0, 'tune', context));
  } finally {
    await task.dispose();
  }
  fs.writeFileSync(path.join(dir, 'short.txt'), 'too short');
  await assert.rejects(createTask('lm', { quick: true, textPath: path.join(dir, 'short.txt'), threads: 1 }), /short\.txt: 9 characters are too few for the lm task/);
});
