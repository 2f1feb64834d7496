// Task `convnet-large`: a residual network several times the child's size on a whole image training set, with
// curves of held-out accuracy.
import { channelStatistics, DataError, DEFAULT_DATA_PATH, loadTestData, loadTrainingData, normalizeImages, type Split } from '../runtime/child/data';
import { resNet, type ModelSpec, type ResNetShape } from '../runtime/child/models';
import { SeededRandom } from '../runtime/child/random';
import { ChildTrainer } from '../runtime/child/trainer';
import { createOptimizer } from '../runtime/optimizer';
import { interruptWhenStopped, type CurvePoint, type Metric, type OptimizerSpec, type Phase, type RunContext, type RunOutcome, type TaskOptions, type TransferTask } from './task';

export interface ConvnetLargeSettings {
  network: ResNetShape;
  batchSize: number;
  /** Tuning: one short run on the first `tuneExamples` training images, scored on the last `validationExamples`. */
  tuneExamples: number;
  tuneEpochs: number;
  validationExamples: number;
  /** Final runs: up to `finalExamples` training images (all of them by default) for `finalEpochs`. */
  finalExamples: number;
  finalEpochs: number;
  /** Held-out evaluations per epoch of a final run (the curve's points). */
  evalsPerEpoch: number;
  /** Test images used (the test file's; or, without one, the last ones of the training file, then not trained on). */
  testExamples: number;
}

/** Sized so this task's part of a 7-optimizer transfer run takes about 35 minutes on 2 idle cores (docs/transfer.md). */
export const CONVNET_LARGE_FULL: ConvnetLargeSettings = {
  network: { widths: [16, 32, 64], blocks: 1 }, batchSize: 100,
  tuneExamples: 10000, tuneEpochs: 1, validationExamples: 5000,
  finalExamples: 60000, finalEpochs: 1, evalsPerEpoch: 4, testExamples: 10000,
};

export const CONVNET_LARGE_QUICK: ConvnetLargeSettings = {
  network: { widths: [8, 16], blocks: 1 }, batchSize: 50,
  tuneExamples: 2000, tuneEpochs: 1, validationExamples: 500,
  finalExamples: 5000, finalEpochs: 1, evalsPerEpoch: 2, testExamples: 1000,
};

/** The paper's sweep for the child (10^-5..10^1) narrowed to the decades where any of these optimizers trains. */
export const CONVNET_LARGE_LRS = [1e-4, 1e-3, 1e-2, 1e-1, 1];

/** A loss above this multiple of the first batch's stops the run as diverged (as the search protocol). */
const DIVERGENCE_FACTOR = 1e3;

interface Prepared { tuneTrain: Split; validation: Split; finalTrain: Split; test: Split; testSource: string; shape: [number, number, number]; classes: number }

/** Loads and splits the images; throws DataError (the CLI exits 2) for missing or malformed files or too few images. */
function prepare(dataPath: string, s: ConvnetLargeSettings): Prepared {
  const raw = loadTrainingData(dataPath);
  const testRaw = loadTestData(raw);
  // Without a test file the last images of the training file are the test set, and are never trained on.
  const trainCount = testRaw ? raw.count : raw.count - s.testExamples;
  const finalCount = Math.min(s.finalExamples, trainCount);
  const tuneCount = Math.min(s.tuneExamples, trainCount - s.validationExamples);
  if (tuneCount < s.batchSize || finalCount < s.batchSize || (testRaw?.count ?? s.testExamples) < 1) {
    throw new DataError(raw.files[0], `${raw.count} images are too few for convnet-large (needs ${s.validationExamples} for validation, ${testRaw ? '' : `${s.testExamples} for test, `}and a batch of ${s.batchSize} to train)`);
  }
  const stats = channelStatistics(raw, finalCount);
  const test = testRaw ? normalizeImages(testRaw, 0, Math.min(s.testExamples, testRaw.count), stats) : normalizeImages(raw, raw.count - s.testExamples, s.testExamples, stats);
  return {
    tuneTrain: normalizeImages(raw, 0, tuneCount, stats),
    validation: normalizeImages(raw, trainCount - s.validationExamples, s.validationExamples, stats),
    finalTrain: normalizeImages(raw, 0, finalCount, stats),
    test,
    testSource: testRaw ? testRaw.files[0] : `the last ${s.testExamples} images of ${raw.files[0]}`,
    shape: [raw.channels, raw.height, raw.width],
    classes: raw.classes,
  };
}

function allFinite(arrays: Float32Array[]): boolean {
  for (const a of arrays) for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

/** The residual network for these images; a DataError naming the data when it cannot take them (tabular rows, images under 4x4). */
function networkFor(dataPath: string, data: Prepared, s: ConvnetLargeSettings): ModelSpec {
  try {
    return resNet(data.shape, data.classes, s.batchSize, s.network);
  } catch (e) {
    throw new DataError(dataPath, `images of ${data.shape.join('x')} (channels x height x width) do not fit convnet-large's residual network: ${(e as Error).message}` +
      (data.shape[1] === 1 && data.shape[2] === 1 ? ' (feature rows are not images: they train on the MLP of nos eval and nos search)' : ''));
  }
}

export async function createConvnetLargeTask(options: TaskOptions): Promise<TransferTask> {
  const s = options.quick ? CONVNET_LARGE_QUICK : CONVNET_LARGE_FULL;
  const dataPath = options.dataPath ?? DEFAULT_DATA_PATH;
  const data = prepare(dataPath, s);
  const model = networkFor(dataPath, data, s);
  const trainer = await ChildTrainer.create(model, { batchSize: s.batchSize, threads: options.threads });
  const parameters = model.params.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
  const batchesOf = (split: Split) => Math.floor(split.count / s.batchSize);
  const metric: Metric = { name: `test accuracy after ${s.finalEpochs} epoch${s.finalEpochs === 1 ? '' : 's'}`, short: 'accuracy', better: 'higher', digits: 4 };

  /** Trains from a fresh init; evaluates `heldOut` at each of `evalAt` (steps); returns the curve or divergence. */
  const train = async (spec: OptimizerSpec, lr: number, seed: number, split: Split, epochs: number, heldOut: Split, evalAt: Set<number>, context: RunContext) => {
    const batches = batchesOf(split);
    const total = epochs * batches;
    trainer.initialize(seed);
    const optimizer = createOptimizer(spec.rule, { ...spec.options, lr, totalSteps: total, seed, threads: 1 });
    const [c, h, w] = data.shape;
    const pixels = c * h * w;
    const order = Uint32Array.from({ length: split.count }, (_, i) => i);
    const rng = new SeededRandom(seed + 1);
    const curve: CurvePoint[] = [];
    let firstLoss = NaN;
    const interrupt = interruptWhenStopped(context);
    try {
      for (let step = 0; step < total; step++) {
        if (step % batches === 0) rng.shuffle(order);
        interrupt();
        const batch = step % batches;
        trainer.batchOneHot.fill(0);
        for (let j = 0; j < s.batchSize; j++) {
          const example = order[batch * s.batchSize + j];
          trainer.batchImages.set(split.images.subarray(example * pixels, (example + 1) * pixels), j * pixels);
          trainer.batchOneHot[j * data.classes + split.labels[example]] = 1;
        }
        const loss = await trainer.step();
        if (step === 0) firstLoss = loss;
        if (!Number.isFinite(loss) || loss > DIVERGENCE_FACTOR * firstLoss) {
          return { diverged: `loss ${loss} at step ${step + 1} (first loss ${firstLoss})`, curve };
        }
        optimizer.update(trainer.params, trainer.grads);
        context.progress((step + 1) / total);
        if (evalAt.has(step + 1)) {
          if (!allFinite(trainer.params)) return { diverged: `parameters became NaN or infinite by step ${step + 1}`, curve };
          curve.push({ x: Number(((step + 1) / batches).toFixed(4)), value: (await trainer.evaluate(heldOut, interrupt)).accuracy });
        }
      }
    } finally {
      optimizer.dispose();
    }
    return { diverged: null, curve };
  };

  return {
    name: 'convnet-large',
    metric,
    lrs: options.lrs ?? CONVNET_LARGE_LRS,
    curve: { x: 'epoch', y: 'test accuracy' },
    settings: {
      ...s, network: { ...s.network, parameters, note: 'resnet: conv3x3 stem, one basic block per stage, 2x2 max pool between stages, global average pool, dense' },
      data: dataPath, trainImages: data.finalTrain.count, tuneImages: data.tuneTrain.count, validationImages: data.validation.count,
      test: data.testSource, testImages: data.test.count, imageShape: data.shape,
    },
    secondsPerUnit: 1 / 800, // examples per second of one training step with 2 threads, measured
    cost: (phase: Phase) => (phase === 'tune' ? s.tuneEpochs * batchesOf(data.tuneTrain) : s.finalEpochs * batchesOf(data.finalTrain)) * s.batchSize,
    async run(spec, lr, seed, phase, context): Promise<RunOutcome> {
      if (phase === 'tune') {
        const steps = s.tuneEpochs * batchesOf(data.tuneTrain);
        const r = await train(spec, lr, seed, data.tuneTrain, s.tuneEpochs, data.validation, new Set([steps]), context);
        if (r.diverged) return { status: 'diverged', score: null, curve: r.curve, reason: r.diverged };
        return { status: 'ok', score: r.curve[r.curve.length - 1].value, curve: r.curve };
      }
      const batches = batchesOf(data.finalTrain);
      const total = s.finalEpochs * batches;
      const evalAt = new Set<number>();
      for (let k = 1; k <= s.finalEpochs * s.evalsPerEpoch; k++) evalAt.add(Math.round((k * batches) / s.evalsPerEpoch));
      evalAt.add(total);
      const r = await train(spec, lr, seed, data.finalTrain, s.finalEpochs, data.test, evalAt, context);
      if (r.diverged) return { status: 'diverged', score: null, curve: r.curve, reason: r.diverged };
      return { status: 'ok', score: r.curve[r.curve.length - 1].value, curve: r.curve };
    },
    async dispose() {
      await trainer.dispose();
    },
  };
}
