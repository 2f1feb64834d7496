// Successive halving inside the learning-rate sweep: every rate trains a ninth of the sweep, the best third go on to
// a third of it, the best of those to the whole sweep, and only that one is scored on the whole held-out set.
import type { Optimizer } from '../optimizer';
import type { PreparedData, Split } from './data';
import { SeededRandom } from './random';
import { TrainingRun } from './train-loop';
import type { ChildTrainer } from './trainer';

/** The fractions of the sweep the rungs train to, and the share of rates kept from one rung to the next (1/ETA). */
export const HALVING_RUNGS = [1 / 9, 1 / 3, 1];
export const HALVING_ETA = 3;
/** Before the last rung, rates are ranked by their accuracy on the first examples of the held-out set. */
export const HALVING_SUBSET = 1000;

/** A rate of the sweep: the accuracy where it stopped (on the subset before the last rung), and epochs trained. */
export interface HalvingEntry { lr: number; accuracy: number; loss: number; status: 'ok' | 'diverged'; epochs: number }

export interface HalvingContext {
  trainer: ChildTrainer;
  data: PreparedData;
  lrs: readonly number[];
  /** Epochs of the whole sweep (each rate's decays and schedule see this length, as in the full sweep). */
  sweepEpochs: number;
  seed: number;
  deadline: number;
  makeOptimizer(lr: number, totalSteps: number): Optimizer;
  onBatch?: (lr: number, epoch: number, batch: number, batches: number) => void;
}

/** One rate's run, and its copy of the network between its turns on the shared trainer. */
interface RateRun { lr: number; index: number; run: TrainingRun; optimizer: Optimizer; params: Float32Array[]; stats: Float32Array[] }

function head(split: Split, count: number, pixels: number): Split {
  const n = Math.min(count, split.count);
  return { images: split.images.subarray(0, n * pixels), labels: split.labels.subarray(0, n), count: n };
}

/** Runs the sweep by successive halving: one entry per rate (in the order given), and the chosen rate (null if none). */
export async function halvingSweep(ctx: HalvingContext): Promise<{ sweep: HalvingEntry[]; bestLr: number | null }> {
  const { trainer, data } = ctx;
  const [c, h, w] = trainer.model.inputShape;
  const subset = head(data.validation, HALVING_SUBSET, c * h * w);
  trainer.initialize(ctx.seed); // every rate starts from the same weights, as in the full sweep
  const start = { params: trainer.params.map((p) => p.slice()), stats: trainer.runningStats.map((s) => s.slice()) };
  const entries: HalvingEntry[] = [];
  const runs: RateRun[] = [];
  try {
    for (const [index, lr] of ctx.lrs.entries()) {
      const batches = Math.floor(data.train.count / trainer.batchSize) * ctx.sweepEpochs;
      const optimizer = ctx.makeOptimizer(lr, batches);
      const onBatch = ctx.onBatch ? (e: number, b: number, n: number) => ctx.onBatch!(lr, e, b, n) : undefined;
      const run = new TrainingRun(trainer, optimizer, data.train, { epochs: ctx.sweepEpochs, rng: new SeededRandom(ctx.seed + 1), deadline: ctx.deadline, onBatch });
      runs.push({ lr, index, run, optimizer, params: start.params.map((p) => p.slice()), stats: start.stats.map((s) => s.slice()) });
    }
    let alive = runs;
    for (const [rung, fraction] of HALVING_RUNGS.entries()) {
      const last = rung === HALVING_RUNGS.length - 1;
      const scored: Array<{ r: RateRun; accuracy: number }> = [];
      for (const r of alive) {
        trainer.params.forEach((p, i) => p.set(r.params[i]));
        trainer.runningStats.forEach((s, i) => s.set(r.stats[i]));
        const result = await r.run.advance(Math.max(1, Math.round(fraction * r.run.totalBatches)));
        const epochs = r.run.done / r.run.batches;
        if (result.status === 'timeout') throw new Error(`${result.reason} (the sweep's run at lr ${r.lr})`);
        if (result.status === 'diverged') {
          entries[r.index] = { lr: r.lr, accuracy: 0, loss: Number.isFinite(result.lastLoss) ? result.lastLoss : Number.MAX_VALUE, status: 'diverged', epochs };
          continue;
        }
        const score = await trainer.evaluate(last ? data.validation : subset);
        entries[r.index] = { lr: r.lr, accuracy: score.accuracy, loss: score.loss, status: 'ok', epochs };
        scored.push({ r, accuracy: score.accuracy });
        r.params.forEach((p, i) => p.set(trainer.params[i]));
        r.stats.forEach((s, i) => s.set(trainer.runningStats[i]));
      }
      // Best accuracy first; on a tie the rate listed first, as the full sweep picks.
      scored.sort((a, b) => b.accuracy - a.accuracy || a.r.index - b.r.index);
      if (last || scored.length === 0) return { sweep: entries, bestLr: scored[0]?.r.lr ?? null };
      alive = scored.slice(0, Math.ceil(alive.length / HALVING_ETA)).map((s) => s.r).sort((a, b) => a.index - b.index);
    }
    return { sweep: entries, bestLr: null }; // not reached: the last rung returns
  } finally {
    for (const r of runs) r.optimizer.dispose();
  }
}
