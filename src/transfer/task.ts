// What a transfer task is: one problem an optimizer is run on at a learning rate and a seed, scored by one metric.
import type { OptimizerOptions } from '../runtime/optimizer';

/** 'tune' runs pick the learning rate (on a validation split, often a shorter run); 'final' runs are the result. */
export type Phase = 'tune' | 'final';

export interface Metric {
  /** In words, for the report: 'test accuracy after 2 epochs'. */
  name: string;
  /** A column header: 'accuracy'. */
  short: string;
  better: 'lower' | 'higher';
  /** Significant digits to print. */
  digits: number;
}

/** An optimizer as the tasks run it: a rule (name, infix or tokens) with createOptimizer options. */
export interface OptimizerSpec {
  /** As the user named it; unique within a transfer run. */
  label: string;
  rule: string;
  options: Pick<OptimizerOptions, 'betas' | 'delta' | 'momentum' | 'biasCorrection'>;
}

export interface CurvePoint { x: number; value: number }

/** How a run ended: finished, diverged (NaN, escaped), or stopped at the transfer's per-run time limit. */
export type RunStatus = 'ok' | 'diverged' | 'timeout';

export const RUN_STATUSES: readonly RunStatus[] = ['ok', 'diverged', 'timeout'];

/** A failed run's status in words, for the tables: 'diverged', 'timed out'. */
export function failureWord(status: Exclude<RunStatus, 'ok'>): string {
  return status === 'timeout' ? 'timed out' : 'diverged';
}

export interface RunOutcome {
  status: RunStatus;
  /** The metric at the end of the run; null when it diverged or timed out. */
  score: number | null;
  /** The metric during the run (final runs; tune runs may leave it empty). */
  curve: CurvePoint[];
  /** Why it diverged or timed out, in words. */
  reason?: string;
  /** Task-specific results (JSON), e.g. Rosenbrock's per-start distances and trajectories. */
  detail?: Record<string, unknown>;
}

export interface RunContext {
  /**
   * True once the user asked to stop (Ctrl-C) or the run passed its time limit: the task throws RunInterrupted at
   * its next step (the runner tells the two apart).  Tasks call it at every training step and before every
   * evaluation batch (through `interruptWhenStopped`), so a limit stops a run promptly, in an evaluation too.
   */
  stopped(): boolean;
  /** Fraction of this run done, for the progress line. */
  progress(fraction: number): void;
}

/** Thrown by a task's run when `stopped()` turned true: the run is dropped, nothing is recorded. */
export class RunInterrupted extends Error {
  constructor() {
    super('interrupted');
    this.name = 'RunInterrupted';
  }
}

/** A check for a loop's every batch: throws RunInterrupted once `context` says the run is stopped. */
export function interruptWhenStopped(context: RunContext): () => void {
  return () => {
    if (context.stopped()) throw new RunInterrupted();
  };
}

export interface TransferTask {
  readonly name: string;
  readonly metric: Metric;
  /** The learning-rate grid tuned over (each optimizer gets the best of it). */
  readonly lrs: number[];
  /** Axis labels of the curves. */
  readonly curve: { x: string; y: string; logY?: boolean };
  /** Sizes, data and budgets: printed in the report and part of every run's fingerprint (a change re-runs). */
  readonly settings: Record<string, unknown>;
  /** Relative work of one run, in the task's own unit (examples, steps); the ETA learns the time per unit. */
  cost(phase: Phase): number;
  /** A first guess of the seconds per unit of cost on this machine (2 cores), until runs measure it. */
  readonly secondsPerUnit: number;
  run(optimizer: OptimizerSpec, lr: number, seed: number, phase: Phase, context: RunContext): Promise<RunOutcome>;
  /** Extra pictures and Markdown drawn from the final runs (Rosenbrock's trajectories over the contours). */
  extras?(finals: Array<{ optimizer: string; seed: number; outcome: RunOutcome }>): { svgs: Array<{ file: string; svg: string }>; markdown: string[] };
  dispose(): Promise<void>;
}

/** What every task is given: the CLI's choices. */
export interface TaskOptions {
  /** Tiny sizes, for tests and a first look. */
  quick: boolean;
  /** Images of convnet-large: a folder (IDX, CIFAR-10 or CIFAR-100 binary, NumPy .npy) or a NumPy .npz file. */
  dataPath?: string;
  /** Text file or folder of lm. */
  textPath?: string;
  /** onnxruntime threads. */
  threads: number;
  /** Replaces the task's learning-rate grid. */
  lrs?: number[];
}

/** True when `a` beats `b` under the metric. */
export function beats(metric: Metric, a: number, b: number): boolean {
  return metric.better === 'lower' ? a < b : a > b;
}
