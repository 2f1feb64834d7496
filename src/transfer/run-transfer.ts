// Runs a transfer comparison: per task, every optimizer's learning-rate tuning then its seeds, each run recorded as it
// finishes (a stopped or killed run continues where it stopped), the report rewritten after every run.
import { createHash } from 'node:crypto';
import { compileRule } from '../compiler';
import { KERNEL_ABI_VERSION } from '../compiler/kernel-abi';
import { BASELINES } from './optimizers';
import { renderCurves, writeReport, type ReportMeta } from './report';
import { removeStaleTemporaries, RunLog, runKey, type RunRecord } from './run-log';
import { lockFolder } from '../search/folder-lock';
import { makeDirs } from '../runtime/make-dirs';
import { pickBestLr, rowsWithCurves, summarizeTask, type TaskSummary } from './summary';
import { RunInterrupted, type OptimizerSpec, type Phase, type RunOutcome, type TransferTask } from './task';

/** Bumped when a change to the tasks could change a result for the same settings: older runs are then re-run. */
export const TRANSFER_VERSION = 1;

export interface TransferPlan {
  tasks: TransferTask[];
  optimizers: OptimizerSpec[];
  seeds: number[];
  out: string;
  /**
   * Seconds one run may take; past it the run stops at its next step and is recorded as 'timeout' (a failed run,
   * like a diverged one).  Undefined: no limit.  A run timed out under a shorter limit than this one runs again.
   */
  runLimitSeconds?: number;
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
  /** Something worth a line that is not a run: the log written again after another process removed it. */
  onNotice?(message: string): void;
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
  const run = new TransferRun(plan, hooks);
  try {
    return await run.all();
  } finally {
    run.close();
  }
}

/**
 * One process per folder: two at once would run every run twice and write the same files.  The lock is the search's
 * (a file naming its owner, taken over from a dead one); released on close, and on process.exit (a second Ctrl-C).
 */
function lockTransferFolder(dir: string): () => void {
  const release = lockFolder(dir);
  let released = false;
  const unlock = () => {
    if (released) return;
    released = true;
    process.off('exit', unlock);
    release();
  };
  process.on('exit', unlock);
  return unlock;
}

/** One invocation over a folder: which runs are done (the log), what is left, the time per unit of work so far. */
class TransferRun {
  private readonly log: RunLog;
  private readonly unlock: () => void;
  private readonly started = new Date().toISOString();
  private readonly t0 = Date.now();
  /** prints[t][i]: the fingerprint of optimizer i on task t. */
  private readonly prints: string[][];
  /** Seconds and cost units of the runs done in this session, per task: the ETA's time per unit. */
  private readonly measured = new Map<string, { seconds: number; units: number }>();
  private readonly planTotal: number;
  private position = 0;
  private ran = 0;
  private reused = 0;

  constructor(private readonly plan: TransferPlan, private readonly hooks: TransferHooks) {
    this.prints = plan.tasks.map((task) => plan.optimizers.map((o) => fingerprint(task, o)));
    this.planTotal = plan.tasks.reduce((n, task) => n + plan.optimizers.length * (task.lrs.length + plan.seeds.length), 0);
    makeDirs(plan.out);
    this.unlock = lockTransferFolder(plan.out);
    try {
      removeStaleTemporaries(plan.out); // a killed run's half-written report, say
      this.log = RunLog.open(plan.out, (message) => this.hooks.onNotice?.(message));
    } catch (e) {
      this.unlock();
      throw e;
    }
  }

  /** Per task, per optimizer: tune over the grid with the first seed, then run every seed at the best rate. */
  async all(): Promise<TransferResult> {
    const { plan } = this;
    let interrupted = false;
    outer: for (let t = 0; t < plan.tasks.length; t++) {
      for (let i = 0; i < plan.optimizers.length; i++) {
        for (const lr of plan.tasks[t].lrs) if (!(await this.runOne(t, i, 'tune', lr, plan.seeds[0]))) { interrupted = true; break outer; }
        const best = this.tunedLr(t, i);
        if (best === null) { this.position += plan.seeds.length; continue; } // every rate diverged: nothing to run
        for (const seed of plan.seeds) if (!(await this.runOne(t, i, 'final', best, seed))) { interrupted = true; break outer; }
      }
    }
    this.writeReport(interrupted);
    this.log.ensure(); // the log removed after the last run: written again before the process ends
    return { summaries: this.summaries(), ran: this.ran, reused: this.reused, interrupted };
  }

  close(): void {
    try { this.log.ensure(); } catch { /* stopping on an error already: that one is reported */ }
    this.log.close();
    this.unlock();
  }

  private key(t: number, i: number, phase: Phase, lr: number, seed: number) {
    return { task: this.plan.tasks[t].name, optimizer: this.plan.optimizers[i].label, phase, lr, seed, fingerprint: this.prints[t][i] };
  }

  private tunedLr(t: number, i: number): number | null {
    const task = this.plan.tasks[t];
    const tuning = task.lrs.map((lr) => this.log.get(runKey(this.key(t, i, 'tune', lr, this.plan.seeds[0])))!);
    return pickBestLr(tuning.map((r) => ({ lr: r.lr, status: r.status, score: r.score })), task.metric);
  }

  private summaries(): TaskSummary[] {
    return this.plan.tasks.map((task, t) => summarizeTask(task,
      this.plan.optimizers.map((o, i) => ({ label: o.label, rule: o.rule, fingerprint: this.prints[t][i] })), this.plan.seeds, this.log.records()));
  }

  private rate(task: TransferTask): number {
    const m = this.measured.get(task.name);
    return m && m.units > 0 ? m.seconds / m.units : task.secondsPerUnit;
  }

  /** Seconds left: per task, the tuning runs and seeds not done (of optimizers that did not fail) at its rate. */
  private eta(): number {
    return this.summaries().reduce((seconds, s, t) => {
      const task = this.plan.tasks[t];
      const units = s.rows.reduce((u, row) => u + (task.lrs.length - row.tuning.length) * task.cost('tune')
        + (row.state === 'failed' ? 0 : (this.plan.seeds.length - row.finals.length) * task.cost('final')), 0);
      return seconds + units * this.rate(task);
    }, 0);
  }

  /** A logged run counts unless it timed out under a shorter limit than this transfer's (or this one has none). */
  private done(key: string): boolean {
    const r = this.log.get(key);
    if (!r) return false;
    const limit = this.plan.runLimitSeconds;
    return r.status !== 'timeout' || (limit !== undefined && limit <= r.limitSeconds!);
  }

  /** Runs one (task, optimizer, phase, lr, seed) unless the log has it; false when stopped. */
  private async runOne(t: number, i: number, phase: Phase, lr: number, seed: number): Promise<boolean> {
    const task = this.plan.tasks[t];
    const key = this.key(t, i, phase, lr, seed);
    this.position++;
    if (this.done(runKey(key))) { this.reused++; return true; }
    if (this.hooks.stopped()) return false;
    const runStart = Date.now();
    const limit = this.plan.runLimitSeconds;
    const deadline = limit === undefined ? Infinity : runStart + limit * 1000;
    const before = this.eta(); // this run included; once per run (it summarizes the log)
    const info = (fraction: number): RunInfo => ({
      task: task.name, optimizer: key.optimizer, phase, lr, seed, index: this.position, total: this.planTotal, fraction,
      elapsedSeconds: (Date.now() - this.t0) / 1000,
      etaSeconds: Math.max(0, before - fraction * task.cost(phase) * this.rate(task)),
    });
    this.hooks.onRunStart?.(info(0));
    let outcome: RunOutcome;
    try {
      outcome = await task.run(this.plan.optimizers[i], lr, seed, phase, {
        stopped: () => this.hooks.stopped() || Date.now() > deadline,
        progress: (f) => this.hooks.onRunProgress?.(info(f)),
      });
    } catch (e) {
      if (!(e instanceof RunInterrupted)) throw e;
      if (this.hooks.stopped() || Date.now() <= deadline) return false;
      outcome = { status: 'timeout', score: null, curve: [], reason: `stopped at the time limit of ${limit} s per run` };
    }
    const seconds = (Date.now() - runStart) / 1000;
    if (outcome.status !== 'timeout') { // a run cut short says nothing of the time a whole one takes
      const m = this.measured.get(task.name) ?? { seconds: 0, units: 0 };
      this.measured.set(task.name, { seconds: m.seconds + seconds, units: m.units + task.cost(phase) });
    }
    const record: RunRecord = { ...key, ...outcome, seconds: Number(seconds.toFixed(3)), time: new Date().toISOString(), ...(outcome.status === 'timeout' ? { limitSeconds: limit } : {}) };
    this.log.append(record);
    this.ran++;
    this.hooks.onRunEnd?.(info(1), record);
    this.writeReport(true);
    return true;
  }

  /** summary.md, summary.json and the pictures, from every run in the log that matches the plan. */
  private writeReport(partial: boolean): void {
    const summaries = this.summaries();
    const meta: ReportMeta = {
      command: this.plan.command, started: this.started, updated: new Date().toISOString(), partial,
      baselines: Object.fromEntries(Object.entries(BASELINES).map(([k, v]) => [k, v.torch])),
    };
    const pictures: Array<{ file: string; svg: string }> = [];
    const extras: Record<string, string[]> = {};
    summaries.forEach((summary, t) => {
      const task = this.plan.tasks[t];
      if (rowsWithCurves(summary).length === 0) return;
      pictures.push({ file: `${task.name}.svg`, svg: renderCurves(summary, task.curve) });
      if (!task.extras) return;
      // The final runs the table counts: this plan's fingerprints, tuned rates and seeds.
      const finals = this.log.records().filter((r) => r.task === task.name && r.phase === 'final' && r.status === 'ok' && this.plan.seeds.includes(r.seed)
        && summary.rows.some((row, i) => row.optimizer === r.optimizer && this.prints[t][i] === r.fingerprint && row.bestLr === r.lr));
      const e = task.extras(finals.map((r) => ({ optimizer: r.optimizer, seed: r.seed, outcome: r })));
      pictures.push(...e.svgs);
      extras[task.name] = e.markdown;
    });
    writeReport(this.plan.out, summaries, meta, pictures, extras);
  }
}
