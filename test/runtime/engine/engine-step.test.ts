// The child engine on its CPU twin against the onnxruntime path, step by step: same initial weights, same batches,
// several children (rules, learning rates, seeds) trained side by side.  At every step each child's loss, gradients
// and batch-norm running statistics must be within 1e-4 relative (norm-wise per tensor) of the onnxruntime trainer's
// from the same parameters, and its update must equal the CPU optimizer's on the same gradients bit for bit.
// (Parameters are not compared after an onnxruntime-gradient update: Adam's first steps are sign-like, so a
// gradient element near zero whose sign differs at 1e-7 moves its weight by 2 lr.)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compileRule } from '../../../src/compiler';
import { NOS_SCALAR_COUNT } from '../../../src/compiler/kernel-abi';
import { DEFAULT_DATA_PATH, loadTrainingData, prepareSplits, type PreparedData } from '../../../src/runtime/child/data';
import { createModel, type ModelKind } from '../../../src/runtime/child/models';
import { ChildTrainer } from '../../../src/runtime/child/trainer';
import { ChildEngine, EngineField } from '../../../src/runtime/engine/child-engine';
import { ChildInputs } from '../../../src/runtime/engine/child-inputs';
import { createOptimizer } from '../../../src/runtime/optimizer';
import { StepScalars } from '../../../src/runtime/scalars';
import { relativeError } from '../../support/relative-error';
import { seededRandom } from '../../support/seeded-random';

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-engine-step-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

let data: PreparedData;
before(() => { data = prepareSplits(loadTrainingData(DEFAULT_DATA_PATH), 200, 100); });

/** Standard-normal pixels of the given shape (CIFAR-10's 3x32x32 by default), 64 training and 16 held-out images. */
function normalImages([channels, height, width]: [number, number, number] = [3, 32, 32]): PreparedData {
  const random = seededRandom(21);
  const split = (count: number) => ({
    images: Float32Array.from({ length: count * channels * height * width }, () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())),
    labels: Uint8Array.from({ length: count }, () => Math.floor(random() * 10)), count,
  });
  const zeros = new Array<number>(channels).fill(0);
  return { train: split(64), validation: split(16), channels, height, width, classes: 10, mean: zeros, std: zeros.map(() => 1), source: 'synthetic' };
}

interface Child { rule: string; lr: number; seed: number }
const CHILDREN: Child[] = [
  { rule: 'adam', lr: 0.01, seed: 1 },
  { rule: 'sgd', lr: 0.1, seed: 1 },
  { rule: 'powersign-cd', lr: 0.02, seed: 7 },
];
const TOLERANCE = 1e-4;

async function compareSteps(kind: ModelKind, batch: number, steps: number, shape: [number, number, number] = [1, 28, 28], split?: () => PreparedData): Promise<number> {
  const prepared = split ? split() : data;
  const model = createModel(kind, shape, 10, batch);
  const engine = ChildEngine.create({ device: 'host', model, capacity: 5, batchSize: batch, stepsPerRound: 1, cacheDir });
  const trainer = await ChildTrainer.create(model, { batchSize: batch, threads: 1 });
  const inputs = new ChildInputs(model, engine.offsets, engine.paramCount, prepared.train.count);
  let worst = 0;
  try {
    engine.setData(prepared.train, prepared.validation);
    // Slots 4, 0, 2: not in order and not contiguous, as a running search leaves them.
    const slots = [4, 0, 2];
    const flat = new Float32Array(CHILDREN.length * engine.paramCount);
    CHILDREN.forEach((c, k) => flat.set(inputs.initialWeights(c.seed), k * engine.paramCount));
    engine.start(slots, flat);
    const totalSteps = 50;
    const infos = CHILDREN.map((c) => compileRule(c.rule));
    const handles = infos.map((info) => engine.ruleHandle(info));
    const scalars = CHILDREN.map((c, k) => new StepScalars(infos[k], {
      lr: c.lr, schedule: { kind: 'constant' }, betas: [0.9, 0.999, 0.999], delta: 1e-8, momentum: 0.9, biasCorrection: true, totalSteps, seed: c.seed,
    }));
    // The reference: one trainer and one CPU optimizer per child, trained one after another.
    const reference = CHILDREN.map((c) => ({
      params: inputs.initialWeights(c.seed).slice(),
      running: trainer.runningStats.map((s, i) => new Float32Array(s.length).fill(i % 2 === 0 ? 0 : 1)),
      optimizer: createOptimizer(c.rule, { lr: c.lr, totalSteps, seed: c.seed, threads: 1 }),
    }));
    const views = (flatParams: Float32Array) => engine.offsets.map((o, i) => flatParams.subarray(o, o + trainer.params[i].length));
    for (let step = 0; step < steps; step++) {
      // Each step's batch comes first in its order (a one-step round reads the order's first batch).
      const orders = CHILDREN.map((c) => {
        const order = inputs.order(c.seed, 0);
        return Uint32Array.from({ length: order.length }, (_, i) => order[(i + step * batch) % order.length]);
      });
      const round = await engine.runRound({
        slots, orders, orderOf: [0, 1, 2], t0: slots.map(() => step), seeds: CHILDREN.map((c) => c.seed),
        scalars: scalars.map((s) => s.fill(step + 1).slice(0, NOS_SCALAR_COUNT)), rules: handles, steps: 1,
      });
      assert.deepEqual(round.dead, [false, false, false]);
      for (let k = 0; k < CHILDREN.length; k++) {
        const ref = reference[k];
        trainer.params.forEach((p, i) => p.set(views(ref.params)[i]));
        trainer.runningStats.forEach((s, i) => s.set(ref.running[i]));
        trainer.batchOneHot.fill(0);
        for (let j = 0; j < batch; j++) {
          const example = orders[k][j];
          const pixels = shape[0] * shape[1] * shape[2];
          trainer.batchImages.set(prepared.train.images.subarray(example * pixels, (example + 1) * pixels), j * pixels);
          trainer.batchOneHot[j * 10 + prepared.train.labels[example]] = 1;
        }
        const loss = await trainer.step();
        const where = `${kind} ${CHILDREN[k].rule} step ${step + 1}`;
        const lossError = Math.abs(round.lastLoss[k] - loss) / Math.abs(loss);
        assert.ok(lossError <= TOLERANCE, `${where}: loss ${round.lastLoss[k]} vs ${loss}`);
        worst = Math.max(worst, lossError);
        const grads = engine.read(slots[k], EngineField.grads);
        model.params.forEach((spec, i) => {
          const e = relativeError(views(grads)[i], trainer.grads[i]);
          assert.ok(e <= TOLERANCE, `${where}: gradient of ${spec.name} off by ${e.toExponential(2)} (relative)`);
          worst = Math.max(worst, e);
        });
        // The update: the CPU optimizer applied to the engine's own gradients gives the engine's parameters bit for
        // bit (same float steps); both paths then start the next step from the same parameters.
        ref.optimizer.step(views(ref.params), views(grads));
        trainer.runningStats.forEach((s, i) => ref.running[i].set(s));
        const params = engine.read(slots[k], EngineField.params);
        assert.ok(params.every((x, i) => Object.is(x, ref.params[i])), `${where}: the engine's update differs from the CPU optimizer's`);
        if (kind === 'convnet') {
          const running = engine.read(slots[k], EngineField.runningStats);
          const mine = [0, 1, 2, 3].map((i) => running.subarray(i * 32, (i + 1) * 32));
          mine.forEach((m, i) => assert.ok(relativeError(m, trainer.runningStats[i]) <= TOLERANCE, `${where}: running statistic ${i}`));
        }
      }
    }
    for (const r of reference) r.optimizer.dispose();
  } finally {
    engine.close();
    await trainer.dispose();
  }
  return worst;
}

test('MLP: three children side by side match the onnxruntime path at every step (loss, gradients, update)', async () => {
  const worst = await compareSteps('mlp', 25, 5);
  assert.ok(worst < TOLERANCE);
});

test('convnet (batch norm, max-pool ties): three children side by side match the onnxruntime path at every step', async () => {
  const worst = await compareSteps('convnet', 20, 3);
  assert.ok(worst < TOLERANCE);
});

test('convnet on CIFAR-10\'s shape (3x32x32): the first convolution\'s three channels match the onnxruntime path', async () => {
  const worst = await compareSteps('convnet', 8, 2, [3, 32, 32], () => normalImages());
  assert.ok(worst < TOLERANCE);
});

test('convnet on odd sides (2x15x13, pooled to 7x6, then 3x3): half-outside conv blocks and the rows and columns no window takes match the onnxruntime path', async () => {
  const worst = await compareSteps('convnet', 8, 2, [2, 15, 13], () => normalImages([2, 15, 13]));
  assert.ok(worst < TOLERANCE);
});

test('convnet on 30x30 (pooled to 15x15, then 7x7: only the second pooling leaves a row out) matches the onnxruntime path', async () => {
  const worst = await compareSteps('convnet', 8, 2, [1, 30, 30], () => normalImages([1, 30, 30]));
  assert.ok(worst < TOLERANCE);
});
