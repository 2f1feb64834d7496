// The transfer result as tables (terminal and Markdown), JSON and SVG curves, written into the run's folder.
import * as path from 'node:path';
import { lineChart } from './plots';
import { writeFileAtomic } from './run-log';
import { meanCurve, rowsWithCurves, type OptimizerRow, type TaskSummary } from './summary';
import { failureWord, type Metric, type RunStatus } from './task';

export const SUMMARY_MD = 'summary.md';
export const SUMMARY_JSON = 'summary.json';

export function formatLr(lr: number): string {
  return lr.toExponential().replace('e+', 'e'); // shortest exact form: 3e-4, 2.5e-3, 1e0
}

export function formatScore(v: number | null, metric: Metric): string {
  if (v === null) return '-';
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(metric.digits - 1) : v.toPrecision(metric.digits);
}

const arrow = (m: Metric) => (m.better === 'lower' ? 'lower is better' : 'higher is better');

/** What came of a row whose every grid rate failed: 'diverged at every rate', 'timed out at every rate' or both. */
function failedEverywhere(row: OptimizerRow): string {
  const kinds = [...new Set(row.tuning.map((t) => t.status).filter((k) => k !== 'ok'))] as Array<Exclude<RunStatus, 'ok'>>;
  return `${kinds.map(failureWord).join(' or ') || 'diverged'} at every rate`;
}

/** The seeds that did not finish: '2 seed(s) diverged', '1 seed(s) timed out', '2 seed(s) diverged, 1 timed out'; '' when none. */
function seedFailures(row: OptimizerRow): string {
  const counts = (['diverged', 'timeout'] as const).map((k) => ({ k, n: row.finals.filter((f) => f.status === k).length })).filter((c) => c.n > 0);
  return counts.map((c, i) => `${c.n}${i === 0 ? ' seed(s)' : ''} ${failureWord(c.k)}`).join(', ');
}

/** One run's result in a table: its score, or how it failed. */
function runCell(run: { status: RunStatus; score: number | null }, metric: Metric): string {
  return run.status === 'ok' ? formatScore(run.score, metric) : failureWord(run.status);
}

/** "0.9012 ± 0.0031 (#2)", or the state when there is no result yet. */
export function cell(row: OptimizerRow, metric: Metric): string {
  if (row.state === 'failed') return failedEverywhere(row);
  if (row.mean === null) return row.state === 'tuning' ? 'tuning...' : row.state === 'done' ? `no seed finished: ${seedFailures(row)}` : 'running...';
  const sd = row.finals.filter((f) => f.status === 'ok').length > 1 ? ` ± ${row.sd!.toPrecision(2)}` : '';
  const failures = seedFailures(row);
  const partial = row.state === 'final' ? ` [${row.finals.length} of the seeds]` : '';
  return `${formatScore(row.mean, metric)}${sd} (#${row.rank})${failures ? ` [${failures}]` : ''}${partial}`;
}

function table(header: string[], rows: string[][]): string[] {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => ' --- |').join('')}`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

/** Plain-text columns for the terminal. */
function columns(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

function summaryRows(summaries: TaskSummary[]): { header: string[]; rows: string[][] } {
  const labels = [...new Set(summaries.flatMap((s) => s.rows.map((r) => r.optimizer)))];
  const header = ['optimizer', ...summaries.map((s) => `${s.task}: ${s.metric.short} (${s.metric.better})`)];
  const rows = labels.map((label) => [label, ...summaries.map((s) => {
    const row = s.rows.find((r) => r.optimizer === label);
    return row ? `${cell(row, s.metric)}${row.bestLr !== null ? ` lr ${formatLr(row.bestLr)}` : ''}` : '-';
  })]);
  return { header, rows };
}

function tuningRows(s: TaskSummary): { header: string[]; rows: string[][] } {
  const header = ['optimizer', ...s.lrs.map(formatLr)];
  const rows = s.rows.map((r) => [r.optimizer, ...s.lrs.map((lr) => {
    const t = r.tuning.find((e) => e.lr === lr);
    if (!t) return '';
    const v = runCell(t, s.metric);
    return lr === r.bestLr ? `**${v}**` : v;
  })]);
  return { header, rows };
}

/** What the terminal shows at the end: the summary table and, per task, the ranking with the tuned rates. */
export function renderTerminal(summaries: TaskSummary[]): string {
  const out: string[] = [];
  for (const s of summaries) {
    out.push(`${s.task}: ${s.metric.name} (${arrow(s.metric)}), seeds ${s.seeds.join(', ')}`);
    const rows = [...s.rows].sort((a, b) => (a.rank ?? Infinity) - (b.rank ?? Infinity)).map((r) => [
      r.rank === null ? '-' : String(r.rank), r.optimizer, formatScore(r.mean, s.metric), r.sd === null ? '-' : r.sd.toPrecision(2),
      r.bestLr === null ? '-' : `${formatLr(r.bestLr)}${r.bestAtEdge ? ' (grid edge)' : ''}`,
      r.state === 'done' ? seedFailures(r) || 'ok' : r.state === 'failed' ? failedEverywhere(r) : `not finished (${r.state})`,
    ]);
    out.push(...columns(['rank', 'optimizer', s.metric.short, 'sd', 'tuned lr', 'status'], rows).map((l) => `  ${l}`), '');
  }
  return out.join('\n');
}

export interface ReportMeta {
  command: string;
  started: string;
  updated: string;
  /** True when the run stopped before every run was done. */
  partial: boolean;
  baselines: Record<string, string>;
}

/** The Markdown report: the summary table, then per task its settings, ranking, tuning grid, curves and extras. */
export function renderMarkdown(summaries: TaskSummary[], meta: ReportMeta, extras: Record<string, string[]>): string {
  const out: string[] = ['# nos transfer', '', `\`${meta.command}\``, ''];
  out.push(`Started ${meta.started}, updated ${meta.updated}${meta.partial ? ' (**partial**: the run was stopped; the same command continues it)' : ''}.`, '');
  out.push('Each optimizer\'s learning rate is tuned per task over the grid (one seed); the tuned rate then runs with every seed. '
    + 'Cells: mean ± sample standard deviation over the seeds (rank), the tuned learning rate.', '');
  const s0 = summaryRows(summaries);
  out.push(...table(s0.header, s0.rows), '');
  out.push('Baselines as PyTorch defines them: ' + Object.entries(meta.baselines).map(([k, v]) => `${k} = \`${v}\``).join(', ') + '; rules given by name or text run with nos\'s defaults.', '');
  for (const s of summaries) {
    out.push(`## ${s.task}`, '', `Metric: ${s.metric.name} (${arrow(s.metric)}). Seeds: ${s.seeds.join(', ')}.`, '');
    out.push('Settings: `' + JSON.stringify(s.settings) + '`', '');
    const rows = [...s.rows].sort((a, b) => (a.rank ?? Infinity) - (b.rank ?? Infinity)).map((r) => [
      r.rank === null ? '-' : String(r.rank), r.optimizer, formatScore(r.mean, s.metric), r.sd === null ? '-' : r.sd.toPrecision(2),
      formatScore(r.min, s.metric), formatScore(r.max, s.metric),
      r.bestLr === null ? '-' : `${formatLr(r.bestLr)}${r.bestAtEdge ? ' (grid edge)' : ''}`,
      r.finals.map((f) => runCell(f, s.metric)).join(', ') || '-',
    ]);
    out.push(...table(['rank', 'optimizer', `mean ${s.metric.short}`, 'sd', 'min', 'max', 'tuned lr', 'per seed'], rows), '');
    const t = tuningRows(s);
    out.push(`Tuning (${s.metric.short} of the tuning run per learning rate; the chosen one in bold):`, '', ...table(t.header, t.rows), '');
    if (rowsWithCurves(s).length > 0) out.push(`![${s.task} curves](${s.task}.svg)`, '');
    for (const line of extras[s.task] ?? []) out.push(line);
    if (extras[s.task]?.length) out.push('');
  }
  return out.join('\n');
}

/** The curves of one task: per optimizer the mean over its seeds, with the spread as a band. */
export function renderCurves(s: TaskSummary, axes: { x: string; y: string; logY?: boolean }): string {
  return lineChart({
    title: `${s.task}: mean over seeds ${s.seeds.join(', ')} (band: lowest to highest)`,
    xLabel: axes.x, yLabel: axes.y, logY: axes.logY,
    series: rowsWithCurves(s).map((r) => ({ label: `${r.optimizer} (lr ${formatLr(r.bestLr!)})`, ...meanCurve(r.finals) })),
  });
}

/** Writes summary.md, summary.json and the SVGs into `dir` (each atomically). */
export function writeReport(dir: string, summaries: TaskSummary[], meta: ReportMeta, pictures: Array<{ file: string; svg: string }>, extras: Record<string, string[]>): void {
  for (const p of pictures) writeFileAtomic(path.join(dir, p.file), p.svg);
  writeFileAtomic(path.join(dir, SUMMARY_MD), renderMarkdown(summaries, meta, extras));
  writeFileAtomic(path.join(dir, SUMMARY_JSON), `${JSON.stringify({ format: 'nos-transfer-summary', version: 1, ...meta, tasks: summaries }, null, 1)}\n`);
}
