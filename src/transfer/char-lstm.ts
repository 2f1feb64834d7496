// The language-model task's network: a character LSTM (embedding, one LSTM layer, dense softmax) as ONNX graphs.
import * as ort from 'onnxruntime-node';
import { GraphBuilder, type Value } from '../runtime/child/graph';
import { initializeParams, type ParamSpec } from '../runtime/child/models';
import { OnnxDataType } from '../runtime/child/onnx-proto';
import * as ops from '../runtime/child/ops';
import { SeededRandom } from '../runtime/child/random';
import { sessionOptions } from '../runtime/child/trainer';

export interface CharLstmShape {
  /** Characters in the vocabulary (the softmax's width). */
  vocab: number;
  embed: number;
  hidden: number;
  /** Characters per training sequence (truncated backpropagation through time; each sequence starts from zeros). */
  steps: number;
}

/**
 * PyTorch's nn.Embedding(vocab, embed) -> nn.LSTM(embed, hidden) -> nn.Linear(hidden, vocab), parameter for
 * parameter, with PyTorch's default initialization (embedding N(0, 1); LSTM and dense uniform +-1/sqrt(hidden)).
 * Gate order i, f, g, o, as PyTorch.
 */
export function charLstmParams(shape: CharLstmShape): ParamSpec[] {
  const { vocab, embed, hidden } = shape;
  const bound = 1 / Math.sqrt(hidden);
  const uniform = { kind: 'uniform' as const, bound };
  return [
    { name: 'embedding.weight', shape: [vocab, embed], init: { kind: 'normal', std: 1 } },
    { name: 'lstm.weight_ih', shape: [4 * hidden, embed], init: uniform },
    { name: 'lstm.weight_hh', shape: [4 * hidden, hidden], init: uniform },
    { name: 'lstm.bias_ih', shape: [4 * hidden], init: uniform },
    { name: 'lstm.bias_hh', shape: [4 * hidden], init: uniform },
    { name: 'fc.weight', shape: [vocab, hidden], init: uniform },
    { name: 'fc.bias', shape: [vocab], init: uniform },
  ];
}

/**
 * Logits [steps * batch, vocab] (time-major: row t * batch + j is sequence j after t + 1 characters) from input
 * characters [steps, batch] (int64).  The input projection of every step is one GEMM; the recurrence is unrolled.
 */
export function charLstmLogits(b: GraphBuilder, shape: CharLstmShape, inputs: Value, batch: number, p: Record<string, Value>): Value {
  const { steps, embed, hidden } = shape;
  const embedded = ops.reshape(b, ops.embedding(b, p['embedding.weight'], inputs), [steps * batch, embed]);
  const projected = ops.addBias(b, ops.addBias(b, ops.linear(b, embedded, p['lstm.weight_ih']), p['lstm.bias_ih']), p['lstm.bias_hh']);
  const perStep = ops.unstack(b, ops.reshape(b, projected, [steps, batch, 4 * hidden]));
  let h: Value | null = null;
  let c: Value | null = null;
  const outputs: Value[] = [];
  for (const x of perStep) {
    const gates: Value = h ? ops.add(b, x, ops.linear(b, h, p['lstm.weight_hh'])) : x; // h0 = c0 = 0
    const [i, f, g, o] = ops.split(b, gates, 1, 4);
    const input = ops.mul(b, ops.sigmoid(b, i), ops.tanh(b, g));
    c = c ? ops.add(b, ops.mul(b, ops.sigmoid(b, f), c), input) : input;
    h = ops.mul(b, ops.sigmoid(b, o), ops.tanh(b, c));
    outputs.push(h);
  }
  const flat = ops.reshape(b, ops.stack(b, outputs), [steps * batch, hidden]);
  return ops.dense(b, flat, p['fc.weight'], p['fc.bias']);
}

/** Inputs: chars [steps, batch] int64, one-hot next chars [steps*batch, vocab], parameters; outputs loss and grads. */
export function buildCharLstmTrainingGraph(shape: CharLstmShape, batch: number): Uint8Array {
  const b = new GraphBuilder('char-lstm-train');
  const inputs = b.input('chars', [shape.steps, batch], false, OnnxDataType.INT64);
  const oneHot = b.input('onehot', [shape.steps * batch, shape.vocab]);
  const params: Record<string, Value> = {};
  const specs = charLstmParams(shape);
  for (const s of specs) params[s.name] = b.input(s.name, s.shape, true);
  const loss = ops.softmaxCrossEntropy(b, charLstmLogits(b, shape, inputs, batch, params), oneHot);
  b.backward(loss);
  b.output(loss, 'loss');
  for (const s of specs) b.output(b.gradOf(params[s.name]), `grad:${s.name}`);
  return b.toBytes();
}

/** Inputs as the training graph (a fixed batch); output: the summed negative log-likelihood of the next chars. */
export function buildCharLstmEvalGraph(shape: CharLstmShape, batch: number): Uint8Array {
  const b = new GraphBuilder('char-lstm-eval');
  const inputs = b.input('chars', [shape.steps, batch], false, OnnxDataType.INT64);
  const oneHot = b.input('onehot', [shape.steps * batch, shape.vocab]);
  const params: Record<string, Value> = {};
  for (const s of charLstmParams(shape)) params[s.name] = b.input(s.name, s.shape);
  const logits = charLstmLogits(b, shape, inputs, batch, params);
  const [logp] = b.node('LogSoftmax', [logits.name], 1, { axis: 1 });
  const [picked] = b.node('Mul', [oneHot.name, logp]);
  const [total] = b.node('ReduceSum', [picked], 1, { keepdims: 0 });
  const [nll] = b.node('Neg', [total]);
  b.output({ name: nll, shape: [], requiresGrad: false }, 'nll');
  return b.toBytes();
}

/**
 * The LSTM's parameters (Float32Arrays the optimizer updates in place), gradients, batch buffers and sessions.
 * Each `step` trains on the batch in `chars`/`oneHot`; `evaluate` scores whole sequences with a fixed eval batch.
 */
export class CharLstmTrainer {
  readonly specs: ParamSpec[];
  readonly params: Float32Array[];
  readonly grads: Float32Array[];
  /** Time-major [steps, batch] input ids and one-hot targets [steps*batch, vocab], filled by `fillBatch`. */
  private readonly chars: BigInt64Array;
  private readonly oneHot: Float32Array;
  private readonly evalChars: BigInt64Array;
  private readonly evalOneHot: Float32Array;
  private readonly lossOut = new Float32Array(1);
  private readonly feeds: Record<string, ort.Tensor>;
  private readonly evalFeeds: Record<string, ort.Tensor>;
  private readonly fetches: Record<string, ort.Tensor>;

  private constructor(
    readonly shape: CharLstmShape,
    readonly batch: number,
    readonly evalBatch: number,
    private readonly trainSession: ort.InferenceSession,
    private readonly evalSession: ort.InferenceSession,
  ) {
    const { steps, vocab } = shape;
    this.specs = charLstmParams(shape);
    const numel = (s: number[]) => s.reduce((p, q) => p * q, 1);
    this.params = this.specs.map((s) => new Float32Array(numel(s.shape)));
    this.grads = this.specs.map((s) => new Float32Array(numel(s.shape)));
    this.chars = new BigInt64Array(steps * batch);
    this.oneHot = new Float32Array(steps * batch * vocab);
    this.evalChars = new BigInt64Array(steps * evalBatch);
    this.evalOneHot = new Float32Array(steps * evalBatch * vocab);
    this.feeds = {
      chars: new ort.Tensor('int64', this.chars, [steps, batch]),
      onehot: new ort.Tensor('float32', this.oneHot, [steps * batch, vocab]),
    };
    this.evalFeeds = {
      chars: new ort.Tensor('int64', this.evalChars, [steps, evalBatch]),
      onehot: new ort.Tensor('float32', this.evalOneHot, [steps * evalBatch, vocab]),
    };
    this.specs.forEach((s, i) => {
      this.feeds[s.name] = new ort.Tensor('float32', this.params[i], s.shape);
      this.evalFeeds[s.name] = this.feeds[s.name];
    });
    this.fetches = { loss: new ort.Tensor('float32', this.lossOut, []) };
    this.specs.forEach((s, i) => { this.fetches[`grad:${s.name}`] = new ort.Tensor('float32', this.grads[i], s.shape); });
  }

  static async create(shape: CharLstmShape, options: { batch: number; evalBatch?: number; threads?: number }): Promise<CharLstmTrainer> {
    const evalBatch = options.evalBatch ?? 64;
    const opts = sessionOptions(options.threads ?? 2);
    const trainSession = await ort.InferenceSession.create(buildCharLstmTrainingGraph(shape, options.batch), opts);
    const evalSession = await ort.InferenceSession.create(buildCharLstmEvalGraph(shape, evalBatch), opts);
    return new CharLstmTrainer(shape, options.batch, evalBatch, trainSession, evalSession);
  }

  /** Fresh parameters with PyTorch's default initialization drawn from `seed`. */
  initialize(seed: number): void {
    initializeParams({ params: this.specs }, this.params, new SeededRandom(seed));
  }

  /** Writes sequences (steps + 1 ids each) time-major into the input and one-hot target buffers. */
  private fill(chars: BigInt64Array, oneHot: Float32Array, width: number, sequences: Uint16Array[]): void {
    const { steps, vocab } = this.shape;
    oneHot.fill(0);
    for (let j = 0; j < width; j++) {
      const s = sequences[j];
      if (!s) { for (let t = 0; t < steps; t++) chars[t * width + j] = 0n; continue; } // padding: no target, no loss
      for (let t = 0; t < steps; t++) {
        chars[t * width + j] = BigInt(s[t]);
        oneHot[(t * width + j) * vocab + s[t + 1]] = 1;
      }
    }
  }

  /** Forward and backward on `batch` sequences: fills `grads`; returns the mean loss per character. */
  async step(sequences: Uint16Array[]): Promise<number> {
    if (sequences.length !== this.batch) throw new Error(`step: expected ${this.batch} sequences, got ${sequences.length}`);
    this.fill(this.chars, this.oneHot, this.batch, sequences);
    await this.trainSession.run(this.feeds, this.fetches);
    return this.lossOut[0];
  }

  /**
   * Mean negative log-likelihood per predicted character (nats) over the given sequences.  `beforeBatch` runs before
   * each evaluation batch (a caller with a time limit throws from it).
   */
  async evaluate(sequences: Uint16Array[], beforeBatch?: () => void): Promise<number> {
    let nll = 0;
    for (let start = 0; start < sequences.length; start += this.evalBatch) {
      beforeBatch?.();
      const chunk = sequences.slice(start, start + this.evalBatch);
      this.fill(this.evalChars, this.evalOneHot, this.evalBatch, chunk);
      const out = await this.evalSession.run(this.evalFeeds);
      nll += (out.nll.data as Float32Array)[0];
    }
    return nll / (sequences.length * this.shape.steps);
  }

  async dispose(): Promise<void> {
    await this.trainSession.release();
    await this.evalSession.release();
  }
}
