// Minibatch training: shuffle from a seed each epoch, fill the batch buffers, step, update in place, watch for
// divergence; a run can stop after any batch and go on later (successive halving trains several side by side).
import type { Split } from './data';
import type { SeededRandom } from './random';
import type { ChildTrainer } from './trainer';

/** What the loop needs of an optimizer (src/runtime/optimizer.ts's Optimizer has it). */
export interface ParameterUpdater {
  update(params: Float32Array[], grads: Float32Array[]): void;
}

export interface TrainOptions {
  epochs: number;
  /** Shuffles the example order each epoch. */
  rng: SeededRandom;
  /** Date.now() past which the run stops as 'timeout'. */
  deadline?: number;
  /** A loss above this multiple of the first batch's loss counts as divergence (default 1e3). */
  divergenceFactor?: number;
  onBatch?: (epoch: number, batch: number, batches: number, loss: number) => void;
}

export interface TrainResult {
  status: 'ok' | 'diverged' | 'timeout';
  steps: number;
  initialLoss: number;
  lastLoss: number;
  /** Why the run stopped early, in words. */
  reason?: string;
}

function allFinite(arrays: Float32Array[]): boolean {
  for (const a of arrays) for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

/**
 * Whole epochs of training (a trailing partial batch is dropped, as batches have a fixed size), trained a stretch at a
 * time: advance(n) trains until n batches in all are done. It works on the trainer's parameters as they are: a caller
 * that interleaves runs on one trainer swaps each run's parameters in and out around advance().
 */
export class TrainingRun {
  /** Batches per epoch, and in the whole run. */
  readonly batches: number;
  readonly totalBatches: number;
  private readonly order: Uint32Array;
  private epoch = 0;
  private batch = 0;
  private result: TrainResult = { status: 'ok', steps: 0, initialLoss: NaN, lastLoss: NaN };

  constructor(private readonly trainer: ChildTrainer, private readonly updater: ParameterUpdater, private readonly split: Split,
    private readonly options: TrainOptions) {
    this.batches = Math.floor(split.count / trainer.batchSize);
    if (this.batches < 1) throw new Error(`training split has ${split.count} examples, fewer than one batch of ${trainer.batchSize}`);
    this.totalBatches = options.epochs * this.batches;
    this.order = Uint32Array.from({ length: split.count }, (_, i) => i);
  }

  /** Batches trained so far. */
  get done(): number { return this.epoch * this.batches + this.batch; }

  /** Trains until `until` batches in all are done, or the run diverges or times out; returns where it stands. */
  async advance(until: number): Promise<TrainResult> {
    const { trainer, split, options } = this;
    const batchSize = trainer.batchSize;
    const [c, h, w] = trainer.model.inputShape;
    const pixels = c * h * w;
    const classes = trainer.model.classes;
    const factor = options.divergenceFactor ?? 1e3;
    const r = this.result;
    while (r.status === 'ok' && this.done < Math.min(until, this.totalBatches)) {
      if (this.batch === 0) options.rng.shuffle(this.order);
      if (options.deadline !== undefined && Date.now() > options.deadline) {
        return this.stop('timeout', `time limit reached after ${r.steps} steps`);
      }
      trainer.batchOneHot.fill(0);
      for (let j = 0; j < batchSize; j++) {
        const example = this.order[this.batch * batchSize + j];
        trainer.batchImages.set(split.images.subarray(example * pixels, (example + 1) * pixels), j * pixels);
        trainer.batchOneHot[j * classes + split.labels[example]] = 1;
      }
      const loss = await trainer.step();
      if (r.steps === 0) r.initialLoss = loss;
      r.lastLoss = loss;
      options.onBatch?.(this.epoch, this.batch, this.batches, loss);
      if (!Number.isFinite(loss) || loss > factor * r.initialLoss) {
        return this.stop('diverged', `loss ${loss} at step ${r.steps + 1} (first loss ${r.initialLoss})`);
      }
      this.updater.update(trainer.params, trainer.grads);
      r.steps++;
      if (++this.batch === this.batches) { this.batch = 0; this.epoch++; }
    }
    if (r.status === 'ok' && !allFinite(trainer.params)) return this.stop('diverged', 'parameters became NaN or infinite');
    return { ...r };
  }

  private stop(status: 'diverged' | 'timeout', reason: string): TrainResult {
    this.result = { ...this.result, status, reason };
    return { ...this.result };
  }
}

/** Trains for whole epochs in one go. */
export async function trainEpochs(trainer: ChildTrainer, updater: ParameterUpdater, split: Split, options: TrainOptions): Promise<TrainResult> {
  const run = new TrainingRun(trainer, updater, split, options);
  return run.advance(run.totalBatches);
}
