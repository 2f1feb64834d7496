// Runs a child network in onnxruntime: one training graph (loss, logits, every gradient) and one evaluation graph.
import * as ort from 'onnxruntime-node';
import { GraphBuilder, type Value } from './graph';
import { BN_MOMENTUM, initializeParams, type ModelSpec } from './models';
import * as ops from './ops';
import { SeededRandom } from './random';
import type { Labels, Split } from './data';

export interface TrainerOptions {
  batchSize: number;
  /** onnxruntime intra-op threads (default 2). */
  threads?: number;
  /** Batch size of the evaluation graph (default 1000). */
  evalBatchSize?: number;
}

/** Builds the training graph: inputs x, one-hot targets and parameters; outputs loss, logits, grads, BN batch stats. */
export function buildTrainingGraph(model: ModelSpec, batchSize: number): Uint8Array {
  const b = new GraphBuilder(`${model.kind}-train`);
  const x = b.input('x', [batchSize, ...model.inputShape]);
  const oneHot = b.input('onehot', [batchSize, model.classes]);
  const params: Record<string, Value> = {};
  for (const p of model.params) params[p.name] = b.input(p.name, p.shape, true);
  const { logits, batchStats } = model.forward(b, x, params, 'train');
  const loss = ops.softmaxCrossEntropy(b, logits, oneHot);
  b.backward(loss);
  b.output(loss, 'loss');
  b.output(logits, 'logits');
  for (const p of model.params) b.output(b.gradOf(params[p.name]), `grad:${p.name}`);
  model.batchNorms.forEach((bn, i) => {
    b.output(batchStats[i].mean, `${bn.name}.batch_mean`);
    b.output(batchStats[i].variance, `${bn.name}.batch_var`);
  });
  return b.toBytes();
}

/** Builds the evaluation graph (batch statistics replaced by running statistics; any batch size). */
export function buildEvalGraph(model: ModelSpec): Uint8Array {
  const b = new GraphBuilder(`${model.kind}-eval`);
  const x = b.input('x', [-1, ...model.inputShape]);
  const params: Record<string, Value> = {};
  for (const p of model.params) params[p.name] = b.input(p.name, p.shape);
  const running: Record<string, Value> = {};
  for (const bn of model.batchNorms) {
    for (const s of ['running_mean', 'running_var']) running[`${bn.name}.${s}`] = b.input(`${bn.name}.${s}`, [bn.channels]);
  }
  const { logits } = model.forward(b, x, params, 'eval', running);
  b.output(logits, 'logits');
  return b.toBytes();
}

export function sessionOptions(threads: number): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableCpuMemArena: true,
    enableMemPattern: true,
    logSeverityLevel: 3, // errors only: no warnings on stderr for constants a graph does not use
    // Idle pool threads sleep instead of spinning: on shared cores (a search runs several workers) spinning took
    // CPU from the other processes and slowed the median step by about 20%; the best-case step is unchanged.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}

/** Mean cross-entropy and accuracy of logits [n, k] against labels, computed on the host. */
export function scoreLogits(logits: Float32Array, labels: Labels, n: number, k: number): { correct: number; lossSum: number } {
  let correct = 0;
  let lossSum = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    let max = -Infinity;
    for (let j = 0; j < k; j++) {
      const v = logits[i * k + j];
      if (v > max) { max = v; best = j; }
    }
    let sumExp = 0;
    for (let j = 0; j < k; j++) sumExp += Math.exp(logits[i * k + j] - max);
    lossSum += Math.log(sumExp) + max - logits[i * k + labels[i]];
    // A NaN row never counts as correct.
    if (best === labels[i] && Number.isFinite(max)) correct++;
  }
  return { correct, lossSum };
}

/**
 * Holds the parameters (Float32Arrays the optimizer updates in place), their gradients (written by onnxruntime
 * straight into preallocated arrays), the batch buffers and the two sessions.  No per-step allocation on our side.
 */
export class ChildTrainer {
  readonly params: Float32Array[];
  readonly grads: Float32Array[];
  /** Running mean and variance per batch-norm layer, in model order: [mean0, var0, mean1, var1, ...]. */
  readonly runningStats: Float32Array[];
  /** The batch the caller fills before `step`: images [batch, C, H, W] and one-hot targets [batch, classes]. */
  readonly batchImages: Float32Array;
  readonly batchOneHot: Float32Array;
  readonly batchLogits: Float32Array;
  private readonly lossOut = new Float32Array(1);
  private readonly batchStats: Float32Array[];
  private readonly feeds: Record<string, ort.Tensor>;
  private readonly fetches: Record<string, ort.Tensor>;
  private readonly evalBatchSize: number;

  private constructor(
    readonly model: ModelSpec,
    readonly batchSize: number,
    private readonly trainSession: ort.InferenceSession,
    private readonly evalSession: ort.InferenceSession,
    evalBatchSize: number,
  ) {
    this.evalBatchSize = evalBatchSize;
    const numel = (s: number[]) => s.reduce((p, q) => p * q, 1);
    this.params = model.params.map((p) => new Float32Array(numel(p.shape)));
    this.grads = model.params.map((p) => new Float32Array(numel(p.shape)));
    this.runningStats = model.batchNorms.flatMap((bn) => [new Float32Array(bn.channels), new Float32Array(bn.channels).fill(1)]);
    this.batchStats = model.batchNorms.flatMap((bn) => [new Float32Array(bn.channels), new Float32Array(bn.channels)]);
    const inputShape = [batchSize, ...model.inputShape];
    this.batchImages = new Float32Array(numel(inputShape));
    this.batchOneHot = new Float32Array(batchSize * model.classes);
    this.batchLogits = new Float32Array(batchSize * model.classes);
    // Tensors wrap our arrays, so refilling the arrays refills the feeds and fetches.
    this.feeds = {
      x: new ort.Tensor('float32', this.batchImages, inputShape),
      onehot: new ort.Tensor('float32', this.batchOneHot, [batchSize, model.classes]),
    };
    model.params.forEach((p, i) => { this.feeds[p.name] = new ort.Tensor('float32', this.params[i], p.shape); });
    this.fetches = {
      loss: new ort.Tensor('float32', this.lossOut, []),
      logits: new ort.Tensor('float32', this.batchLogits, [batchSize, model.classes]),
    };
    model.params.forEach((p, i) => { this.fetches[`grad:${p.name}`] = new ort.Tensor('float32', this.grads[i], p.shape); });
    model.batchNorms.forEach((bn, i) => {
      this.fetches[`${bn.name}.batch_mean`] = new ort.Tensor('float32', this.batchStats[2 * i], [bn.channels]);
      this.fetches[`${bn.name}.batch_var`] = new ort.Tensor('float32', this.batchStats[2 * i + 1], [bn.channels]);
    });
  }

  static async create(model: ModelSpec, options: TrainerOptions): Promise<ChildTrainer> {
    const threads = options.threads ?? 2;
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be a positive integer, got ${threads}`);
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) throw new Error(`batchSize must be a positive integer, got ${options.batchSize}`);
    const opts = sessionOptions(threads);
    const trainSession = await ort.InferenceSession.create(buildTrainingGraph(model, options.batchSize), opts);
    const evalSession = await ort.InferenceSession.create(buildEvalGraph(model), opts);
    return new ChildTrainer(model, options.batchSize, trainSession, evalSession, options.evalBatchSize ?? 1000);
  }

  /** Fresh parameters (PyTorch's default init from `seed`) and fresh running statistics. */
  initialize(seed: number): void {
    initializeParams(this.model, this.params, new SeededRandom(seed));
    this.runningStats.forEach((s, i) => s.fill(i % 2 === 0 ? 0 : 1));
  }

  /** Forward and backward on the current batch buffers: fills `grads`, folds batch stats in; returns the loss. */
  async step(): Promise<number> {
    await this.trainSession.run(this.feeds, this.fetches);
    this.model.batchNorms.forEach((bn, i) => {
      const mean = this.batchStats[2 * i];
      const variance = this.batchStats[2 * i + 1];
      const runMean = this.runningStats[2 * i];
      const runVar = this.runningStats[2 * i + 1];
      // As PyTorch: the running variance takes the unbiased batch variance.
      const unbias = bn.elementsPerChannel / Math.max(bn.elementsPerChannel - 1, 1);
      for (let c = 0; c < bn.channels; c++) {
        runMean[c] = (1 - BN_MOMENTUM) * runMean[c] + BN_MOMENTUM * mean[c];
        runVar[c] = (1 - BN_MOMENTUM) * runVar[c] + BN_MOMENTUM * variance[c] * unbias;
      }
    });
    return this.lossOut[0];
  }

  /**
   * Accuracy and mean cross-entropy over a split with the running statistics.  `beforeBatch` runs before each
   * evaluation batch; a caller with a time limit throws from it to cut a long evaluation short.
   */
  async evaluate(split: Split, beforeBatch?: () => void): Promise<{ accuracy: number; loss: number }> {
    const [c, h, w] = this.model.inputShape;
    const k = this.model.classes;
    const pixels = c * h * w;
    const feeds: Record<string, ort.Tensor> = {};
    for (const p of this.model.params) feeds[p.name] = this.feeds[p.name];
    this.model.batchNorms.forEach((bn, i) => {
      feeds[`${bn.name}.running_mean`] = new ort.Tensor('float32', this.runningStats[2 * i], [bn.channels]);
      feeds[`${bn.name}.running_var`] = new ort.Tensor('float32', this.runningStats[2 * i + 1], [bn.channels]);
    });
    let correct = 0;
    let lossSum = 0;
    for (let start = 0; start < split.count; start += this.evalBatchSize) {
      beforeBatch?.();
      const n = Math.min(this.evalBatchSize, split.count - start);
      feeds.x = new ort.Tensor('float32', split.images.subarray(start * pixels, (start + n) * pixels), [n, c, h, w]);
      const out = await this.evalSession.run(feeds);
      const s = scoreLogits(out.logits.data as Float32Array, split.labels.subarray(start, start + n), n, k);
      correct += s.correct;
      lossSum += s.lossSum;
    }
    return { accuracy: correct / split.count, loss: lossSum / split.count };
  }

  async dispose(): Promise<void> {
    await this.trainSession.release();
    await this.evalSession.release();
  }
}
