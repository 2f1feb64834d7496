// From finished runs to the result: the tuned learning rate per optimizer, mean and spread over seeds, the rank.
import type { RunRecord } from './run-log';
import { beats, type CurvePoint, type Metric, type RunStatus } from './task';

export interface TuningEntry { lr: number; status: RunStatus; score: number | null }

/** The grid entry with the best score (the first of equals, in grid order); null when none is done and ok. */
export function pickBestLr(tuning: TuningEntry[], metric: Metric): number | null {
  let best: TuningEntry | null = null;
  for (const t of tuning) {
    if (t.status !== 'ok' || t.score === null || !Number.isFinite(t.score)) continue;
    if (!best || beats(metric, t.score, best.score!)) best = t;
  }
  return best?.lr ?? null;
}

export interface OptimizerRow {
  optimizer: string;
  rule: string;
  /** One entry per grid learning rate that has run. */
  tuning: TuningEntry[];
  bestLr: number | null;
  /** True when the tuned rate is the smallest or largest of the grid: the best may lie outside it. */
  bestAtEdge: boolean;
  finals: Array<{ seed: number; status: RunStatus; score: number | null; curve: CurvePoint[] }>;
  /** Over the final runs that finished ok. */
  mean: number | null;
  sd: number | null;
  min: number | null;
  max: number | null;
  /** 1 = best; equal means share a rank; null while no final run is done. */
  rank: number | null;
  /** done: every seed ran; tuning/final: still running; failed: every grid rate diverged or timed out. */
  state: 'done' | 'tuning' | 'final' | 'failed';
}

export interface TaskSummary {
  task: string;
  metric: Metric;
  lrs: number[];
  seeds: number[];
  settings: Record<string, unknown>;
  rows: OptimizerRow[];
}

function stats(xs: number[]): { mean: number | null; sd: number | null; min: number | null; max: number | null } {
  if (xs.length === 0) return { mean: null, sd: null, min: null, max: null };
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  // Sample standard deviation (n - 1); 0 for a single seed or equal values (the mean of equal values can be off by
  // a rounding, which would show as a spread of 1e-17).
  const sd = xs.length > 1 && Math.min(...xs) !== Math.max(...xs) ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, sd, min: Math.min(...xs), max: Math.max(...xs) };
}

/** Competition ranking by mean (1, 2, 2, 4); rows without a mean get none. */
export function rankRows(rows: OptimizerRow[], metric: Metric): void {
  for (const r of rows) {
    r.rank = r.mean === null ? null : 1 + rows.filter((o) => o.mean !== null && beats(metric, o.mean, r.mean!)).length;
  }
}

/**
 * Summarizes one task from the run records matching its fingerprints: `fingerprints` maps an optimizer's label
 * to the fingerprint its runs must carry on this task (runs of other settings are ignored, not deleted).
 */
export function summarizeTask(
  task: { name: string; metric: Metric; lrs: number[]; settings: Record<string, unknown> },
  optimizers: Array<{ label: string; rule: string; fingerprint: string }>,
  seeds: number[],
  records: RunRecord[],
): TaskSummary {
  const rows: OptimizerRow[] = optimizers.map((o) => {
    const mine = records.filter((r) => r.task === task.name && r.optimizer === o.label && r.fingerprint === o.fingerprint);
    const tuning: TuningEntry[] = [];
    for (const lr of task.lrs) {
      const r = mine.find((m) => m.phase === 'tune' && m.lr === lr && m.seed === seeds[0]);
      if (r) tuning.push({ lr, status: r.status, score: r.score });
    }
    const tuned = tuning.length === task.lrs.length;
    const bestLr = tuned ? pickBestLr(tuning, task.metric) : null;
    const finals = bestLr === null ? [] : seeds.flatMap((seed) => {
      const r = mine.find((m) => m.phase === 'final' && m.lr === bestLr && m.seed === seed);
      return r ? [{ seed, status: r.status, score: r.score, curve: r.curve }] : [];
    });
    const ok = finals.filter((f) => f.status === 'ok' && f.score !== null).map((f) => f.score!);
    const state: OptimizerRow['state'] = !tuned ? 'tuning' : bestLr === null ? 'failed' : finals.length < seeds.length ? 'final' : 'done';
    const edge = bestLr !== null && (bestLr === Math.min(...task.lrs) || bestLr === Math.max(...task.lrs));
    return { optimizer: o.label, rule: o.rule, tuning, bestLr, bestAtEdge: edge && task.lrs.length > 1, finals, ...stats(ok), rank: null, state };
  });
  rankRows(rows, task.metric);
  return { task: task.name, metric: task.metric, lrs: task.lrs, seeds, settings: task.settings, rows };
}

/** The rows with a curve to draw: some seed finished ok with one (a task whose seeds all failed draws no picture). */
export function rowsWithCurves(s: TaskSummary): OptimizerRow[] {
  return s.rows.filter((r) => r.finals.some((f) => f.status === 'ok' && f.curve.length > 0));
}

/** The mean curve over the seeds that finished ok, with the lowest and highest value at each point. */
export function meanCurve(finals: OptimizerRow['finals']): { points: CurvePoint[]; band: Array<{ x: number; low: number; high: number }> } {
  const curves = finals.filter((f) => f.status === 'ok' && f.curve.length > 0).map((f) => f.curve);
  if (curves.length === 0) return { points: [], band: [] };
  const n = Math.min(...curves.map((c) => c.length));
  const points: CurvePoint[] = [];
  const band: Array<{ x: number; low: number; high: number }> = [];
  for (let k = 0; k < n; k++) {
    const values = curves.map((c) => c[k].value);
    points.push({ x: curves[0][k].x, value: values.reduce((a, b) => a + b, 0) / values.length });
    band.push({ x: curves[0][k].x, low: Math.min(...values), high: Math.max(...values) });
  }
  return { points, band };
}
