// Task `lm`: a character-level LSTM language model on a plain-text corpus, with curves of held-out loss per character.
import { SeededRandom } from '../runtime/child/random';
import { createOptimizer } from '../runtime/optimizer';
import { CharLstmTrainer } from './char-lstm';
import { DataError } from '../runtime/child/data';
import { DEFAULT_TEXT_PATH, randomSequence, readCorpus, sequencesOf, splitCorpus } from './text-corpus';
import { interruptWhenStopped, type CurvePoint, type Metric, type OptimizerSpec, type Phase, type RunContext, type RunOutcome, type TaskOptions, type TransferTask } from './task';

export interface LmSettings {
  embed: number;
  hidden: number;
  /** Characters per training sequence (each starts from a zero state). */
  steps: number;
  batch: number;
  /** At most this many distinct characters (the rest share one id). */
  maxVocab: number;
  /** Fractions of the text (its end) held out for tuning and for the test. */
  validationFraction: number;
  testFraction: number;
  tuneSteps: number;
  finalSteps: number;
  /** Held-out evaluations of a final run (the curve's points). */
  evals: number;
  /** Sequences scored: validation (tuning) and test (curves, table). */
  validationSequences: number;
  testSequences: number;
  /** The gradient's global norm is clipped to this (the paper's PTB model clips at 5). */
  clipNorm: number;
}

/** Sized so this task's part of a 7-optimizer transfer run takes about 22 minutes on 2 idle cores (docs/transfer.md). */
export const LM_FULL: LmSettings = {
  embed: 64, hidden: 128, steps: 64, batch: 32, maxVocab: 128, validationFraction: 0.05, testFraction: 0.05,
  tuneSteps: 250, finalSteps: 1200, evals: 6, validationSequences: 256, testSequences: 384, clipNorm: 5,
};

export const LM_QUICK: LmSettings = {
  embed: 16, hidden: 32, steps: 16, batch: 8, maxVocab: 64, validationFraction: 0.1, testFraction: 0.1,
  tuneSteps: 30, finalSteps: 60, evals: 3, validationSequences: 16, testSequences: 32, clipNorm: 5,
};

export const LM_LRS = [1e-4, 1e-3, 1e-2, 1e-1, 1];

/** Scales the gradients in place so their global norm is at most `maxNorm`; returns the norm before. */
export function clipGradientNorm(grads: Float32Array[], maxNorm: number): number {
  let sq = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
  const norm = Math.sqrt(sq);
  if (norm > maxNorm) {
    const scale = maxNorm / norm;
    for (const g of grads) for (let i = 0; i < g.length; i++) g[i] *= scale;
  }
  return norm;
}

export async function createLmTask(options: TaskOptions): Promise<TransferTask> {
  const s = options.quick ? LM_QUICK : LM_FULL;
  const textPath = options.textPath ?? DEFAULT_TEXT_PATH;
  const corpus = readCorpus(textPath);
  const splits = splitCorpus(corpus.text, { validation: s.validationFraction, test: s.testFraction }, s.maxVocab);
  const validation = sequencesOf(splits.validation, s.steps, s.validationSequences);
  const test = sequencesOf(splits.test, s.steps, s.testSequences);
  if (splits.train.length < 2 * (s.steps + 1) || validation.length === 0 || test.length === 0) {
    throw new DataError(textPath, `${corpus.text.length} characters are too few for the lm task: each held-out part (${s.validationFraction * 100}% and ${s.testFraction * 100}% of the text) needs at least ${s.steps + 1}`);
  }
  const shape = { vocab: splits.vocab.chars.length, embed: s.embed, hidden: s.hidden, steps: s.steps };
  const trainer = await CharLstmTrainer.create(shape, { batch: s.batch, evalBatch: Math.min(64, Math.max(validation.length, test.length)), threads: options.threads });
  const parameters = trainer.params.reduce((n, p) => n + p.length, 0);
  const metric: Metric = { name: `test loss per character (nats) after ${s.finalSteps} steps`, short: 'loss/char', better: 'lower', digits: 4 };

  /** Trains `total` steps from a fresh init, scoring `heldOut` after each step in `evalAt`. */
  const train = async (spec: OptimizerSpec, lr: number, seed: number, total: number, heldOut: Uint16Array[], evalAt: Set<number>, context: RunContext) => {
    trainer.initialize(seed);
    const optimizer = createOptimizer(spec.rule, { ...spec.options, lr, totalSteps: total, seed, threads: 1 });
    const rng = new SeededRandom(seed + 1);
    const curve: CurvePoint[] = [];
    const batch: Uint16Array[] = new Array(s.batch);
    let firstLoss = NaN;
    const interrupt = interruptWhenStopped(context);
    try {
      for (let step = 0; step < total; step++) {
        interrupt();
        for (let j = 0; j < s.batch; j++) batch[j] = randomSequence(splits.train, s.steps, rng);
        const loss = await trainer.step(batch);
        if (step === 0) firstLoss = loss;
        if (!Number.isFinite(loss) || loss > 1e3 * firstLoss) return { diverged: `loss ${loss} at step ${step + 1} (first loss ${firstLoss})`, curve };
        clipGradientNorm(trainer.grads, s.clipNorm);
        optimizer.update(trainer.params, trainer.grads);
        context.progress((step + 1) / total);
        if (evalAt.has(step + 1)) {
          const value = await trainer.evaluate(heldOut, interrupt);
          if (!Number.isFinite(value)) return { diverged: `held-out loss ${value} at step ${step + 1}`, curve };
          curve.push({ x: step + 1, value });
        }
      }
    } finally {
      optimizer.dispose();
    }
    return { diverged: null, curve };
  };

  return {
    name: 'lm',
    metric,
    lrs: options.lrs ?? LM_LRS,
    curve: { x: 'training step', y: 'test loss per character (nats)' },
    settings: {
      ...s, text: textPath, files: corpus.files.length, characters: splits.train.length + splits.validation.length + splits.test.length,
      trainCharacters: splits.train.length, vocabulary: shape.vocab, parameters,
      model: 'embedding -> LSTM (one layer) -> dense softmax, as PyTorch nn.Embedding + nn.LSTM + nn.Linear',
      validationCharacters: validation.length * s.steps, testCharacters: test.length * s.steps,
    },
    secondsPerUnit: 1 / 40000, // characters per second of one training step with 2 threads, measured
    cost: (phase: Phase) => (phase === 'tune' ? s.tuneSteps : s.finalSteps) * s.batch * s.steps,
    async run(spec, lr, seed, phase, context): Promise<RunOutcome> {
      const total = phase === 'tune' ? s.tuneSteps : s.finalSteps;
      const evalAt = new Set<number>([total]);
      if (phase === 'final') for (let k = 1; k <= s.evals; k++) evalAt.add(Math.round((k * total) / s.evals));
      const r = await train(spec, lr, seed, total, phase === 'tune' ? validation : test, evalAt, context);
      if (r.diverged) return { status: 'diverged', score: null, curve: r.curve, reason: r.diverged };
      return { status: 'ok', score: r.curve[r.curve.length - 1].value, curve: r.curve };
    },
    async dispose() {
      await trainer.dispose();
    },
  };
}
