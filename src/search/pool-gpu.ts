// The GPU Backend: one forked worker process whose child engine trains every queued rule side by side (the local
// backend of `nos search --device cuda`, and what `nos worker --device cuda` runs its queue's jobs on).
//
// Jobs share the process, so one job's crash, hang or runaway memory kills the others' work too.  Who was at fault:
// a hang is the job whose own training time passed the limit (status timeout); the others are re-run.  A failed
// engine (a fault leaves the CUDA context unusable) ends the worker too, so a fresh one re-runs its jobs.  After any
// other death with several jobs in flight, each of them re-runs alone (isolated) until it finishes or dies alone:
// a job that crashes alone is retried up to maxAttempts; one that exhausts memory alone is not.  Before a job is
// recorded as crashed, timeout or oom, a control rule (plain sgd, same protocol) trains alone on a fresh worker:
// if it trains, the job was at fault; if it fails too, the GPU (its driver, this machine) is, and nothing is
// recorded: next() fails with why (the search stops, to be resumed) and runJob's callers get a GpuUnusableError.
// The time limit counts from when a job's first child starts training, not from when it queued.  A hung engine is
// found sooner: no word from the worker for many times its longest round (gpu-stall.ts) holds every job in flight
// while the control rule trains; if it does, they run again (alone, for a job in a second stall).
import { FinishedResults } from './finished-results';
import { GpuUnusableError, type Backend, type Envelope, type Job, type RunLimits } from './backend';
import { makeEnvelope, type RunResult } from './envelope';
import { GpuProcess, type GpuChoice } from './gpu-process';
import type { GpuMessage } from './gpu-worker';
import { describeKernels, type ConvKernelChoice } from '../runtime/engine/child-engine';
import type { EngineDevice } from '../runtime/engine/kernel-build';
import { MAX_TIMER_MS } from './worker-process';
import { loadAddon } from '../runtime/binding';
import { DEFAULT_STALL, StallClock, type StallSettings } from './gpu-stall';

export interface GpuPoolOptions {
  limits: RunLimits;
  /** Tries per job when it crashes its worker alone; default 2 (one retry). */
  maxAttempts?: number;
  /** Child slots of the engine; default: what the GPU's memory holds (engine-evaluator.ts). */
  capacity?: number;
  cacheDir?: string;
  /** Where the child engine runs: the GPU (default), or its CPU twin for a dry run (gpu-worker.ts). */
  engine?: EngineDevice;
  /** Each finished engine round (progress lines). */
  onRound?: (info: GpuRoundInfo) => void;
  /** What the user should hear of: the engine failed and a fresh worker re-runs the jobs it had in flight. */
  onNote?: (message: string) => void;
  /** When a silent engine counts as hung (default DEFAULT_STALL). */
  stall?: StallSettings;
  /** The one GPU of several this pool trains on (pool-gpus.ts); default: the first visible. */
  gpu?: GpuChoice;
}

/** What a finished engine round tells the search: the device, how full it was, and which kernels ran. */
export interface GpuRoundInfo { device: string; children: number; capacity: number; seconds: number; rulesDone: number; kernels: ConvKernelChoice }

interface Item {
  job: Job;
  attempt: number;
  submittedAt: number;
  /** Was in flight when the worker died with others: runs alone until it finishes or dies alone. */
  suspect: boolean;
  sentAt?: number;
  startedAt?: number;
  /** For runJob(): the caller waiting for this job's raw result instead of next(). */
  resolve?: (result: RunResult, info: { attempt: number; worker: string; queuedMs: number; runMs: number }) => void;
  /** For runJob(): told when the GPU cannot be used (no result will come). */
  reject?: (error: GpuUnusableError) => void;
  /** The control rule's run, which tells a rule at fault from a GPU at fault. */
  control?: boolean;
  /** Engine stalls this job was in flight for. */
  stalls?: number;
}

/** What a held job is recorded as if the control rule trains (stalled: it runs again), and how a note says what it did. */
type HeldStatus = 'crashed' | 'timeout' | 'oom' | 'stalled';
const HELD_FAILURE: Record<HeldStatus, string> = {
  crashed: 'failed alone on its last try', timeout: 'passed the time limit', oom: 'ran out of memory alone', stalled: 'stalled with the engine',
};

/** The control rule: the plainest update there is; a GPU that cannot train it can train nothing. */
export const CONTROL_RULE = 'sgd';

const WATCH_MS = 100;

/** Throws unless `job` has a string id and rule (`who` starts the message). */
export function requireJobShape(job: Job, who: string): void {
  if (!job || typeof job.id !== 'string' || typeof job.rule !== 'string') {
    throw new Error(`${who}: a job needs a string id and rule, got ${JSON.stringify(job)?.slice(0, 200)}`);
  }
}

/** A GPU backend: also runs single jobs for a queue worker, which makes its own envelopes. */
export interface GpuBackend extends Backend {
  runJob(job: Job, attempt: number): Promise<{ result: RunResult; worker: string; runMs: number }>;
  pids(): number[];
}

export class GpuPool implements GpuBackend {
  private worker: GpuProcess | null = null;
  private readonly queue: Item[] = [];
  private readonly running = new Map<string, Item>();
  private readonly results = new FinishedResults('gpu pool');
  private readonly maxAttempts: number;
  private closed = false;
  private killedFor: 'timeout' | 'stall' | 'oom-rss' | null = null;
  /** Why the watchdog took the engine for hung (killedFor 'stall'). */
  private stallWhy = '';
  private readonly stall: StallClock;
  /** Set when the GPU cannot be used: next(), submit() and runJob() fail with it (the search stops, to be resumed). */
  private unavailable: GpuUnusableError | null = null;
  /** Jobs whose failure waits on the control rule's run: what they then record, why, and why in one line (notes). */
  private held: { items: Item[]; status: HeldStatus; failure: string; why: string; line: string } | null = null;
  private controls = 0;
  /** What the current worker's engine said when it failed, if it did. */
  private engineFault: { error: string; whileTuning: boolean } | null = null;
  /** Set when an engine failed while timing its kernels: workers started later skip the tuning. */
  private directKernels = false;
  private peakRssMb = 0;
  private readonly watch: NodeJS.Timeout;

  constructor(private readonly options: GpuPoolOptions) {
    const { limits } = options;
    if (!(limits.timeoutMs > 0)) throw new Error(`gpu pool: limits.timeoutMs must be > 0, got ${limits.timeoutMs}`);
    if (!(limits.maxRssMb >= 32)) throw new Error(`gpu pool: limits.maxRssMb must be >= 32, got ${limits.maxRssMb}`);
    this.maxAttempts = options.maxAttempts ?? 2;
    this.stall = new StallClock(options.stall ?? DEFAULT_STALL, Math.min(limits.timeoutMs, MAX_TIMER_MS));
    if (!Number.isInteger(this.maxAttempts) || this.maxAttempts < 1) throw new Error(`gpu pool: maxAttempts must be an integer >= 1, got ${options.maxAttempts}`);
    this.watch = setInterval(() => this.check(), WATCH_MS);
    this.watch.unref();
  }

  /** Pid of the worker process (tests and diagnostics). */
  pids(): number[] {
    return this.worker?.alive && this.worker.pid !== undefined ? [this.worker.pid] : [];
  }

  async submit(jobs: Job[]): Promise<void> {
    if (this.closed) throw new Error('gpu pool: submit() after close()');
    if (this.unavailable) throw this.unavailable;
    for (const job of jobs) {
      requireJobShape(job, 'gpu pool');
      if (this.known(job.id)) throw new Error(`gpu pool: job ${job.id} was already submitted and is not finished`);
    }
    const now = Date.now();
    for (const job of jobs) {
      this.queue.push({ job, attempt: 1, submittedAt: now, suspect: false });
      this.results.expect();
    }
    this.pump();
  }

  /**
   * Runs one job and resolves with its raw result (for a queue worker that makes its own envelope); the job does
   * not come out of next().  attempt: the queue's count of tries.
   */
  runJob(job: Job, attempt: number): Promise<{ result: RunResult; worker: string; runMs: number }> {
    if (this.closed) return Promise.reject(new Error('gpu pool: runJob() after close()'));
    if (this.unavailable) return Promise.reject(this.unavailable);
    if (this.known(job.id)) return Promise.reject(new Error(`gpu pool: job ${job.id} is already running`));
    return new Promise((resolve, reject) => {
      this.queue.push({ job, attempt, submittedAt: Date.now(), suspect: false, reject,
        resolve: (result, info) => resolve({ result, worker: info.worker, runMs: info.runMs }) });
      this.pump();
    });
  }

  next(): Promise<Envelope> {
    return this.results.next(this.closed);
  }

  pending(): number {
    return this.results.pending();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watch);
    this.results.rejectWaiters();
    // runJob's callers get an answer for every job, queued or running (a queue worker then hands them back).
    for (const item of [...this.queue.splice(0), ...this.running.values(), ...(this.held?.items ?? [])]) {
      if (!item.control) item.resolve?.({ kind: 'failure', status: 'crashed', error: 'gpu pool closed' }, this.info(item));
    }
    this.running.clear();
    this.held = null;
    await this.worker?.stop();
    this.worker = null;
  }

  private known(id: string): boolean {
    return this.running.has(id) || this.queue.some((q) => q.job.id === id) || !!this.held?.items.some((h) => h.job.id === id);
  }

  private info(item: Item): { attempt: number; worker: string; queuedMs: number; runMs: number } {
    const sent = item.sentAt ?? Date.now();
    return { attempt: item.attempt, worker: this.worker?.label ?? 'gpu', queuedMs: sent - item.submittedAt, runMs: Date.now() - sent };
  }

  private finish(item: Item, result: RunResult): void {
    this.running.delete(item.job.id);
    const info = this.info(item);
    if (item.resolve) {
      item.resolve(result, info);
      return;
    }
    this.results.deliver(makeEnvelope(item.job, result, info));
  }

  /** Starts the worker if needed and sends what may run: everything, or one suspect at a time. */
  private pump(): void {
    if (this.closed || this.queue.length === 0) return;
    if (!this.worker) {
      this.killedFor = null;
      this.engineFault = null;
      this.stall.newWorker();
      this.peakRssMb = 0;
      const settings = { capacity: this.options.capacity, cacheDir: this.options.cacheDir, engine: this.options.engine, ...(this.directKernels ? { kernels: 'direct' as const } : {}) };
      const worker = new GpuProcess(this.options.limits.maxRssMb, settings, {
        onMessage: (m) => this.onMessage(m),
        onExit: (how) => this.onExit(worker, how),
      }, this.options.gpu);
      this.worker = worker;
      worker.ready.then(() => this.pump(), (err: Error) => {
        if (this.worker !== worker) return;
        this.worker = null;
        // A worker that cannot even start fails what was waiting (as a crash, which a later try may survive).
        for (const item of this.queue.splice(0)) this.finish(item, { kind: 'failure', status: 'crashed', error: err.message });
      });
      return;
    }
    if (!this.worker.isReady) return; // worker.ready pumps again
    const isolating = this.queue.some((q) => q.suspect) || [...this.running.values()].some((r) => r.suspect);
    if (this.running.size === 0) this.stall.busy(Date.now());
    while (this.queue.length > 0 && (!isolating || this.running.size === 0)) {
      const at = isolating ? Math.max(0, this.queue.findIndex((q) => q.suspect)) : 0;
      const item = this.queue.splice(at, 1)[0];
      item.sentAt = Date.now();
      item.startedAt = undefined;
      this.running.set(item.job.id, item);
      if (!this.worker.send(item.job, item.attempt)) break; // it died: onExit puts the running jobs back
      if (isolating) break;
    }
  }

  private onMessage(m: GpuMessage): void {
    if (m.type === 'round') this.stall.round(m.report.seconds, Date.now());
    else this.stall.word(Date.now());
    if (m.type === 'round') {
      const { children, capacity, seconds, rulesDone, kernels } = m.report;
      this.options.onRound?.({ device: m.device, children, capacity, seconds, rulesDone, kernels });
      return;
    }
    if (m.type === 'ready') return;
    if (m.type === 'broken') {
      // The worker exits next; onExit decides what runs again and says so.
      this.engineFault = { error: m.error, whileTuning: m.whileTuning };
      // A kernel variant the tuning tried faults on this GPU: later workers keep the direct kernels.
      if (m.whileTuning) this.directKernels = true;
      return;
    }
    const item = this.running.get(m.jobId);
    if (!item) return;
    if (m.type === 'unavailable') {
      // No rule is at fault: the search stops with the reason rather than record every later rule as failed.
      this.stopAll(m.error);
      return;
    }
    if (m.type === 'started') item.startedAt ??= Date.now();
    else if (m.type === 'result') this.finish(item, { kind: 'outcome', outcome: m.outcome });
    else if (m.type === 'failed') this.finish(item, { kind: 'failure', status: m.status, error: m.error });
    this.pump();
  }

  /**
   * The GPU cannot be used: no result comes for any job.  next()'s jobs are dropped, unrecorded, and next() fails
   * with why (the search stops here, to be resumed); runJob's callers get a GpuUnusableError (a queue worker hands
   * its jobs back).  Later calls fail the same way: a fresh pool tries the GPU again.
   */
  private stopAll(error: string): void {
    this.unavailable = new GpuUnusableError(`gpu pool: ${error}`);
    const items = [...this.queue.splice(0), ...this.running.values(), ...(this.held?.items ?? [])];
    this.running.clear();
    this.held = null;
    for (const item of items) item.reject?.(this.unavailable);
    this.results.fail(this.unavailable);
    void this.worker?.stop();
    this.worker = null;
  }

  /** Watchdog: a job training past the time limit, a silent engine, or the worker past the memory limit kills the worker. */
  private check(): void {
    const worker = this.worker;
    if (!worker?.alive || this.killedFor) return;
    const limit = Math.min(this.options.limits.timeoutMs, MAX_TIMER_MS);
    const now = Date.now();
    if ([...this.running.values()].some((r) => r.startedAt !== undefined && now - r.startedAt > limit)) {
      this.killedFor = 'timeout';
      worker.kill();
      return;
    }
    const stalled = this.running.size > 0 ? this.stall.stalled(now) : null;
    if (stalled) {
      this.killedFor = 'stall';
      this.stallWhy = stalled;
      worker.kill();
      return;
    }
    const rss = worker.rssMb();
    if (rss !== null) {
      this.peakRssMb = Math.max(this.peakRssMb, rss);
      if (rss > this.options.limits.maxRssMb) {
        this.killedFor = 'oom-rss';
        worker.kill();
      }
    }
  }

  private onExit(worker: GpuProcess, how: { code: number | null; signal: string | null; stderrTail: string }): void {
    if (this.worker !== worker) return;
    this.worker = null;
    if (this.closed) return;
    const { limits } = this.options;
    const victims = [...this.running.values()];
    this.running.clear();
    const died = how.signal ? `signal ${how.signal}` : `exit code ${how.code}`;
    const tail = how.stderrTail.trim().split('\n').slice(-6).join('\n');
    const heapOom = !this.engineFault && /heap out of memory|Allocation failed|OutOfMemory|std::bad_alloc/i.test(how.stderrTail);
    const why = this.engineFault ? `the GPU engine failed (${this.engineFault.error})`
      : this.killedFor === 'timeout' ? `killed after the ${limits.timeoutMs} ms time limit`
        : this.killedFor === 'stall' ? this.stallWhy
        : this.killedFor === 'oom-rss' ? `killed at ${this.peakRssMb.toFixed(0)} MiB resident, over the ${limits.maxRssMb} MiB limit`
          : heapOom ? `the GPU worker ran out of memory (${died}): ${tail}`
            : `the GPU worker died (${died})${tail ? `: ${tail}` : ''}`;
    // The control rule decides, unless what failed was timing the kernels (then it runs again on the direct ones).
    if (victims.length === 1 && victims[0].control && !this.engineFault?.whileTuning) this.controlDone(why);
    else this.afterDeath(victims, why, heapOom || this.killedFor === 'oom-rss');
    this.pump();
  }

  /** The worker died with `victims` in flight (`oom`: out of memory): each gets its share of the blame, or runs again. */
  private afterDeath(victims: Item[], why: string, oom: boolean): void {
    const requeue = (item: Item, suspect: boolean) => this.queue.unshift({ ...item, attempt: item.attempt + 1, suspect: item.suspect || suspect });
    const fault = this.engineFault;
    if (this.killedFor === 'timeout') {
      // Every job in flight stalls when the engine hangs, and the oldest passes the limit first: those over it are
      // recorded as timeout only once the control rule shows that the GPU still trains.
      const limit = Math.min(this.options.limits.timeoutMs, MAX_TIMER_MS);
      const now = Date.now();
      const over = victims.filter((item) => item.startedAt !== undefined && now - item.startedAt > limit);
      for (const item of victims.reverse()) if (!over.includes(item)) requeue(item, false);
      if (over.length > 0) this.runControl(over, 'timeout', why);
    } else if (this.killedFor === 'stall') {
      // No rule is suspected of a hung engine until it stalls twice; a job that stalls again alone is a timeout.
      const stalled = victims.map((item) => ({ ...item, stalls: (item.stalls ?? 0) + 1 }));
      const lone = stalled.length === 1 && stalled[0].stalls >= 2;
      if (lone) this.runControl(stalled, 'timeout', why, 'stalled the engine alone, a second time');
      else this.runControl(stalled, 'stalled', why);
    } else if (fault?.whileTuning) {
      // Timing a kernel variant failed, not a rule: all run again together, on the direct kernels.
      for (const item of victims.reverse()) requeue(item, false);
      this.noteRerun(fault.error, victims.length, 'together');
    } else if (victims.length === 1) {
      const [item] = victims;
      if (oom) {
        this.runControl([item], 'oom', why);
      } else if (item.attempt < this.maxAttempts) {
        requeue(item, true);
        if (fault) this.noteRerun(fault.error, 1, 'alone');
      } else {
        this.runControl([item], 'crashed', why);
      }
    } else {
      // Several jobs died together: each runs again alone, so the one at fault is found.
      for (const item of victims.reverse()) requeue(item, true);
      if (fault) this.noteRerun(fault.error, victims.length, 'alone');
    }
  }

  /** Says that the engine failed and a fresh worker re-runs its `n` rules: `alone`, one at a time, or `together`. */
  private noteRerun(error: string, n: number, how: 'alone' | 'together'): void {
    const rerun = how === 'alone' ? (n > 1 ? ', one at a time, to find any at fault' : '') : ', with the direct convolution kernels from now on';
    this.options.onNote?.(`the GPU engine failed (${error}); a fresh GPU worker re-runs the ${n} rule${n === 1 ? '' : 's'} it had in flight${rerun}`);
  }

  /**
   * `items` failed (`why`): alone on the last try (crashed), past the time limit (timeout), out of memory alone
   * (oom) or in an engine stall (stalled).  The control rule trains alone next, on a fresh worker, and decides who was
   * at fault.  `failure`: what they did, for notes.
   */
  private runControl(items: Item[], status: HeldStatus, why: string, failure = HELD_FAILURE[status]): void {
    this.held = { items, status, failure, why, line: why.split('\n')[0] };
    this.controls += 1;
    const control: Item = {
      job: { ...items[0].job, id: `nos-control:${this.controls}`, rule: CONTROL_RULE }, attempt: 1, submittedAt: Date.now(), suspect: true, control: true,
      resolve: (result) => this.controlDone(result.kind === 'outcome' ? null : result.error),
    };
    this.queue.unshift(control);
    this.options.onNote?.(`${this.heldNames()} ${failure} (${this.held.line}); training the control rule ${CONTROL_RULE} alone to tell whether the rule or the GPU is at fault`);
  }

  /** Jobs held after an engine stall run again, the control rule having trained: alone, those in their second stall. */
  private rerunStalled(items: Item[], names: string): void {
    const alone = items.filter((item) => (item.stalls ?? 0) >= 2).length;
    const which = alone === 0 ? '' : items.length === 1 ? ', alone (its second stall)' : `, ${alone} of them alone (their second stall)`;
    this.options.onNote?.(`the control rule trained: ${names} ${items.length > 1 ? 'run' : 'runs'} again${which}`);
    for (const item of [...items].reverse()) this.queue.unshift({ ...item, attempt: item.attempt + 1, suspect: item.suspect || (item.stalls ?? 0) >= 2 });
  }

  /** The held jobs, for a note: `rule a`, or `rule a and 3 others`. */
  private heldNames(): string {
    const items = this.held?.items ?? [];
    return `rule ${items[0]?.job.id}${items.length > 1 ? ` and ${items.length - 1} other${items.length > 2 ? 's' : ''}` : ''}`;
  }

  /** The control rule trained (failed: null) or failed: the held jobs are recorded, or the GPU is blamed. */
  private controlDone(failed: string | null): void {
    const held = this.held;
    if (this.closed || !held) return;
    if (failed === null) {
      const names = this.heldNames();
      const { status } = held;
      this.held = null;
      if (status === 'stalled') {
        this.rerunStalled(held.items, names);
      } else {
        this.options.onNote?.(`the control rule trained: ${names} ${held.items.length > 1 ? 'are' : 'is'} recorded as ${status}`);
        for (const item of held.items) this.finish(item, { kind: 'failure', status, error: held.why });
      }
      this.pump();
      return;
    }
    const how = failed.split('\n')[0];
    this.stopAll(`the GPU cannot train even the control rule ${CONTROL_RULE} alone (${how}), after ${this.heldNames()} ${held.failure} ${how === held.line ? 'the same way' : `(${held.line})`}: `
      + 'the GPU, its driver or this machine is at fault, not the rules; nothing was recorded for the rules in flight');
  }
}

/**
 * An onRound that says, once, where the children train (the device, its child slots, the convolution kernels), and
 * again whenever the kernels change (an evaluator tuning them, NOS_ENGINE_KERNELS=auto, switches after its first round).
 */
export function deviceNotes(note: (message: string) => void): (info: GpuRoundInfo) => void {
  const said = new Map<string, string>(); // per device: several GPUs each say where their children train
  return (info) => {
    const now = describeKernels(info.kernels);
    const before = said.get(info.device);
    if (now === before) return;
    note(`${before ? `now${said.size > 1 ? ` on ${info.device}` : ''}` : `training on ${info.device}, ${info.capacity} child slots`}: ${now}`);
    said.set(info.device, now);
  };
}

/**
 * The GPUs this process can hand to workers: as many as the driver sees (CUDA_VISIBLE_DEVICES applies, and names
 * them for the workers), none where it cannot say (no driver: the one worker then says why it cannot train).
 */
export function visibleGpus(): GpuChoice[] {
  let count: number;
  try {
    count = loadAddon().cudaDeviceCount();
  } catch {
    return [];
  }
  const named = process.env.CUDA_VISIBLE_DEVICES?.split(',').map((s) => s.trim()).filter(Boolean);
  return Array.from({ length: count }, (_, index) => ({ index, visible: named?.[index] ?? String(index) }));
}

/** The GPU backend: one pool on one GPU, or one per GPU where `gpus` (default: every visible one) holds several. */
export function createGpuBackend(options: GpuPoolOptions & { gpus?: GpuChoice[] }): GpuBackend {
  const { gpus, ...rest } = options;
  const chosen = gpus ?? (rest.engine === 'host' ? [] : visibleGpus()); // the CPU twin: one
  if (chosen.length > 1) {
    const { MultiGpuPool } = require('./pool-gpus') as typeof import('./pool-gpus');
    return new MultiGpuPool(chosen, rest);
  }
  return new GpuPool({ ...rest, ...(gpus?.length === 1 ? { gpu: gpus[0] } : {}) });
}
