// A transfer task for tests: instant runs whose score is a known function of (optimizer, lr, seed), with call counts,
// scripted divergence, scripted slow runs and a stop switch.
import type { OptimizerSpec, Phase, RunContext, RunOutcome, TransferTask } from '../../src/transfer/task';
import { RunInterrupted } from '../../src/transfer/task';

export interface FakeTask extends TransferTask {
  calls: Array<{ optimizer: string; phase: Phase; lr: number; seed: number }>;
}

/**
 * Lower is better; an optimizer's score is |log10(lr) - log10(best[optimizer])| + seed/100 (+1 for a tune run, so
 * tune and final scores differ), and lrs in `diverges[optimizer]` diverge.  `stopAfter` calls in, `stopped()` turns
 * true (as a Ctrl-C would) and the next run throws RunInterrupted.  Runs at lrs in `slow[optimizer]` take
 * `slowSteps` steps (default 20) of 50 ms each, asking `stopped()` before each as the real tasks do: a time limit
 * of 0.25 s stops them (and no instant run comes near it, even on a loaded machine).
 */
export function fakeTask(options: {
  name?: string; lrs?: number[]; best: Record<string, number>; diverges?: Record<string, number[]>; settings?: Record<string, unknown>;
  slow?: Record<string, number[]>; slowSteps?: number;
}): FakeTask {
  const calls: FakeTask['calls'] = [];
  return {
    name: options.name ?? 'fake',
    metric: { name: 'distance from the best rate', short: 'error', better: 'lower', digits: 3 },
    lrs: options.lrs ?? [1e-3, 1e-2, 1e-1],
    curve: { x: 'step', y: 'error' },
    settings: options.settings ?? { size: 1 },
    secondsPerUnit: 1e-3,
    cost: (phase) => (phase === 'tune' ? 1 : 10),
    calls,
    async run(spec: OptimizerSpec, lr: number, seed: number, phase: Phase, context: RunContext): Promise<RunOutcome> {
      if (context.stopped()) throw new RunInterrupted();
      calls.push({ optimizer: spec.label, phase, lr, seed });
      if (options.slow?.[spec.label]?.includes(lr)) {
        for (let step = 0; step < (options.slowSteps ?? 20); step++) {
          if (context.stopped()) throw new RunInterrupted();
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      context.progress(1);
      if (options.diverges?.[spec.label]?.includes(lr)) return { status: 'diverged', score: null, curve: [], reason: 'scripted' };
      const score = Math.abs(Math.log10(lr) - Math.log10(options.best[spec.label])) + seed / 100 + (phase === 'tune' ? 1 : 0);
      return { status: 'ok', score, curve: [{ x: 1, value: score + 1 }, { x: 2, value: score }] };
    },
    async dispose() {},
  };
}
