// What the study reads from one search folder: mean reward per window of sampled rules (Figure 4), best, top-k mean.
import { buildReport } from '../../src/search/report';

export interface SearchStats {
  /** Rules with a recorded result. */
  rules: number;
  /** Mean reward of the sampled rules in each full window, in sampling order (failures count as 0, repeats count). */
  windows: number[];
  best: number;
  /** Mean reward of the `top` best distinct rules (fewer when fewer finished ok). */
  topMean: number;
  distinct: number;
  /** Rules that did not finish with status ok (diverged, error, ...). */
  failed: number;
}

export function searchStats(outDir: string, window: number, top: number): SearchStats {
  const report = buildReport(outDir);
  const rewards = report.rows.map((r) => r.reward);
  const windows: number[] = [];
  for (let start = 0; start + window <= rewards.length; start += window) windows.push(mean(rewards.slice(start, start + window)));
  const best = report.leaderboard.slice(0, top).map((e) => e.reward);
  return {
    rules: rewards.length, windows, best: best[0] ?? 0, topMean: best.length ? mean(best) : 0,
    distinct: report.distinctRules, failed: report.rows.filter((r) => r.status !== 'ok').length,
  };
}

export function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

/** Sample standard deviation (n - 1); 0 for a single value. */
export function sd(xs: number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/** "0.8512 ± 0.0031" over seeds, or the value alone for one seed. */
export function meanSd(xs: number[], digits = 4): string {
  return xs.length > 1 ? `${mean(xs).toFixed(digits)} ± ${sd(xs).toFixed(digits)}` : xs.length ? xs[0].toFixed(digits) : '-';
}
