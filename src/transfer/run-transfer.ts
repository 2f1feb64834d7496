// Runs a transfer comparison: per task, every optimizer's learning-rate tuning then its seeds, each run recorded as it
// finishes (a stopped or killed run continues where it stopped), the report rewritten after every run.
import { createHash } from 'node:crypto';
import { compileRule } from '../compiler';
import { KERNEL_ABI_VERSION } from '../compiler/kernel-abi';
import { BASELINES } from './optimizers';
import { renderCurves, writeReport, type ReportMeta } from './report';
import { RunLog, runKey, type RunRecord } from './run-log';
import { pickBestLr, summarizeTask, type TaskSummary } from './summary';
import { RunInterrupted, type OptimizerSpec, type Phase, type TransferTask } from './task';

/** Bumped when a change to the tasks could change a result for the same settings: older runs are then re-run. */
export const TRANSFER_VERSION = 1;

export interface TransferPlan {
  tasks: TransferTask[];
  optimizers: OptimizerSpec[];
  seeds: number[];
  out: string;
  /** The command line, for the report. */
  command: string;
}

export interface RunInfo {
  task: string; optimizer: string; phase: Phase; lr: number; seed: number;
  /** 1-based position among all the plan's runs (finished earlier or not), and their count so far. */
  index: number; total: number;
  /** Fraction of this run done. */
  fraction: number;
  elapsedSeconds: number;
  /** Estimated seconds left for the whole plan (time per unit of work measured per task, or its first guess). */
  etaSeconds: number;
}

export interface TransferHooks {
  stopped(): boolean;
  onRunStart?(info: RunInfo): void;
  onRunProgress?(info: RunInfo): void;
  onRunEnd?(info: RunInfo, record: RunRecord): void;
}

export interface TransferResult {
  summaries: TaskSummary[];
  /** Runs done now, and runs found finished in the folder. */
  ran: number;
  reused: number;
  /** True when stopped (Ctrl-C) before the plan was done. */
  interrupted: boolean;
}

/**
 * The digest every run of this optimizer on this task carries: a change of settings, rule, options, of the tasks'
 * code (TRANSFER_VERSION) or of the kernels' arithmetic (the kernel ABI version) re-runs it.
 */
export function fingerprint(task: TransferTask, optimizer: OptimizerSpec): string {
  const text = JSON.stringify({
    version: TRANSFER_VERSION, kernelAbi: KERNEL_ABI_VERSION, task: task.name, settings: task.settings,
    rule: compileRule(optimizer.rule).hash, options: optimizer.options,
  });
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

export async function runTransfer(plan: TransferPlan, hooks: TransferHooks): Promise<TransferResult> {
  const log = RunLog.open(plan.out);
  const started = new Date().toISOString();
  const t0 = Date.now();
  const prints = plan.tasks.map((task) => plan.optimizers.map((o) => fingerprint(task, o)));
  // Work left per task (cost units) and the seconds per unit measured in this session.
  const measured = new Map<string, { seconds: number; units: number }>();
  let ran = 0;
  let reused = 0;
  let interrupted = false;

  const summaries = (): TaskSummary[] => plan.tasks.map((task, t) => summarizeTask(task,
    plan.optimizers.map((o, i) => ({ label: o.label, rule: o.rule, fingerprint: prints[t][i] })), plan.seeds, log.records()));

  /** Runs still to do per task, in cost units: the tuning grid, then the seeds of optimizers that did not fail. */
  const remainingUnits = (): Map<string, number> => {
    const left = new Map<string, number>();
    summaries().forEach((s, t) => {
      const task = plan.tasks[t];
      let units = 0;
      for (const row of s.rows) {
        units += (task.lrs.length - row.tuning.length) * task.cost('tune');
        if (row.state !== 'failed') units += (plan.seeds.length - row.finals.length) * task.cost('final');
      }
      left.set(task.name, units);
    });
    return left;
  };
  const rate = (task: TransferTask): number => {
    const m = measured.get(task.name);
    return m && m.units > 0 ? m.seconds / m.units : task.secondsPerUnit;
  };
  const eta = (): number => {
    const left = remainingUnits();
    return plan.tasks.reduce((seconds, task) => seconds + (left.get(task.name) ?? 0) * rate(task), 0);
  };
  const planTotal = plan.tasks.reduce((n, task) => n + plan.optimizers.length * (task.lrs.length + plan.seeds.length), 0);
  let position = 0;

  const writeAll = (partial: boolean) => {
    const s = summaries();
    const meta: ReportMeta = {
      command: plan.command, started, updated: new Date().toISOString(), partial,
      baselines: Object.fromEntries(Object.entries(BASELINES).map(([k, v]) => [k, v.torch])),
    };
    const pictures: Array<{ file: string; svg: string }> = [];
    const extras: Record<string, string[]> = {};
    s.forEach((summary, t) => {
      const task = plan.tasks[t];
      if (!summary.rows.some((r) => r.finals.length > 0)) return;
      pictures.push({ file: `${task.name}.svg`, svg: renderCurves(summary, task.curve) });
      if (task.extras) {
        const finals = log.records().filter((r) => r.task === task.name && r.phase === 'final' && r.status === 'ok'
          && summary.rows.some((row, i) => row.optimizer === r.optimizer && prints[t][i] === r.fingerprint && row.bestLr === r.lr && plan.seeds.includes(r.seed)));
        const e = task.extras(finals.map((r) => ({ optimizer: r.optimizer, seed: r.seed, outcome: r })));
        pictures.push(...e.svgs);
        extras[task.name] = e.markdown;
      }
    });
    writeReport(plan.out, s, meta, pictures, extras);
  };

  /** Runs one (task, optimizer, phase, lr, seed) unless the log has it; false when stopped. */
  const runOne = async (t: number, i: number, phase: Phase, lr: number, seed: number): Promise<boolean> => {
    const task = plan.tasks[t];
    const optimizer = plan.optimizers[i];
    const key = { task: task.name, optimizer: optimizer.label, phase, lr, seed, fingerprint: prints[t][i] };
    position++;
    if (log.get(runKey(key))) { reused++; return true; }
    if (hooks.stopped()) return false;
    const runStart = Date.now();
    const before = eta(); // this run included; computed once per run (it summarizes the log)
    const info = (fraction: number): RunInfo => ({
      task: task.name, optimizer: optimizer.label, phase, lr, seed, index: position, total: planTotal, fraction,
      elapsedSeconds: (Date.now() - t0) / 1000,
      etaSeconds: Math.max(0, before - fraction * task.cost(phase) * rate(task)),
    });
    hooks.onRunStart?.(info(0));
    let outcome;
    try {
      outcome = await task.run(optimizer, lr, seed, phase, { stopped: hooks.stopped, progress: (f) => hooks.onRunProgress?.(info(f)) });
    } catch (e) {
      if (e instanceof RunInterrupted) return false;
      throw e;
    }
    const seconds = (Date.now() - runStart) / 1000;
    const m = measured.get(task.name) ?? { seconds: 0, units: 0 };
    measured.set(task.name, { seconds: m.seconds + seconds, units: m.units + task.cost(phase) });
    const record: RunRecord = { ...key, ...outcome, seconds: Number(seconds.toFixed(3)), time: new Date().toISOString() };
    log.append(record);
    ran++;
    hooks.onRunEnd?.(info(1), record);
    writeAll(true);
    return true;
  };

  try {
    outer: for (let t = 0; t < plan.tasks.length; t++) {
      const task = plan.tasks[t];
      for (let i = 0; i < plan.optimizers.length; i++) {
        for (const lr of task.lrs) if (!(await runOne(t, i, 'tune', lr, plan.seeds[0]))) { interrupted = true; break outer; }
        const tuning = task.lrs.map((lr) => log.get(runKey({ task: task.name, optimizer: plan.optimizers[i].label, phase: 'tune', lr, seed: plan.seeds[0], fingerprint: prints[t][i] }))!);
        const best = pickBestLr(tuning.map((r) => ({ lr: r.lr, status: r.status, score: r.score })), task.metric);
        if (best === null) { position += plan.seeds.length; continue; } // every rate diverged: nothing to run
        for (const seed of plan.seeds) if (!(await runOne(t, i, 'final', best, seed))) { interrupted = true; break outer; }
      }
    }
    writeAll(interrupted);
  } finally {
    log.close();
  }
  return { summaries: summaries(), ran, reused, interrupted };
}
