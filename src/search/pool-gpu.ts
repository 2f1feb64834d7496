// The GPU Backend: one forked worker process whose child engine trains every queued rule side by side (the local
// backend of `nos search --device cuda`, and what `nos worker --device cuda` runs its queue's jobs on).
//
// Jobs share the process, so one job's crash, hang or runaway memory kills the others' work too.  Who was at fault:
// a hang is the job whose own training time passed the limit (status timeout); the others are re-run.  A failed
// engine (a fault leaves the CUDA context unusable) ends the worker too, so a fresh one re-runs its jobs.  After any
// other death with several jobs in flight, each of them re-runs alone (isolated) until it finishes or dies alone:
// a job that crashes alone is retried up to maxAttempts, then recorded as crashed; one that exhausts memory alone is
// recorded as oom.  The time limit counts from when a job's first child starts training, not from when it queued.
import { FinishedResults } from './finished-results';
import type { Backend, Envelope, Job, RunLimits } from './backend';
import { makeEnvelope, type RunResult } from './envelope';
import { GpuProcess } from './gpu-process';
import type { GpuMessage } from './gpu-worker';
import { describeKernels, type ConvKernelChoice } from '../runtime/engine/child-engine';
import type { EngineDevice } from '../runtime/engine/kernel-build';
import { MAX_TIMER_MS } from './worker-process';

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
}

const WATCH_MS = 100;

export class GpuPool implements Backend {
  private worker: GpuProcess | null = null;
  private readonly queue: Item[] = [];
  private readonly running = new Map<string, Item>();
  private readonly results = new FinishedResults('gpu pool');
  private readonly maxAttempts: number;
  private closed = false;
  private killedFor: 'timeout' | 'oom-rss' | null = null;
  /** Set when the engine could not start: next() and submit() fail with it (the search stops, to be resumed). */
  private unavailable: Error | null = null;
  /** Set when an engine failed while timing its kernels: workers started later skip the tuning. */
  private directKernels = false;
  private peakRssMb = 0;
  private readonly watch: NodeJS.Timeout;

  constructor(private readonly options: GpuPoolOptions) {
    const { limits } = options;
    if (!(limits.timeoutMs > 0)) throw new Error(`gpu pool: limits.timeoutMs must be > 0, got ${limits.timeoutMs}`);
    if (!(limits.maxRssMb >= 32)) throw new Error(`gpu pool: limits.maxRssMb must be >= 32, got ${limits.maxRssMb}`);
    this.maxAttempts = options.maxAttempts ?? 2;
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
      if (!job || typeof job.id !== 'string' || typeof job.rule !== 'string') {
        throw new Error(`gpu pool: a job needs a string id and rule, got ${JSON.stringify(job)?.slice(0, 200)}`);
      }
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
    if (this.known(job.id)) return Promise.reject(new Error(`gpu pool: job ${job.id} is already running`));
    return new Promise((resolve) => {
      this.queue.push({ job, attempt, submittedAt: Date.now(), suspect: false,
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
    for (const item of [...this.queue.splice(0), ...this.running.values()]) {
      item.resolve?.({ kind: 'failure', status: 'crashed', error: 'gpu pool closed' }, this.info(item));
    }
    this.running.clear();
    await this.worker?.stop();
    this.worker = null;
  }

  private known(id: string): boolean {
    return this.running.has(id) || this.queue.some((q) => q.job.id === id);
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
      this.peakRssMb = 0;
      const settings = { capacity: this.options.capacity, cacheDir: this.options.cacheDir, engine: this.options.engine, ...(this.directKernels ? { kernels: 'direct' as const } : {}) };
      const worker = new GpuProcess(this.options.limits.maxRssMb, settings, {
        onMessage: (m) => this.onMessage(m),
        onExit: (how) => this.onExit(worker, how),
      });
      this.worker = worker;
      worker.ready.then(() => this.pump(), (err: Error) => {
        if (this.worker !== worker) return;
        this.worker = null;
        // A worker that cannot even start fails what was waiting (as a crash, which a later try may survive).
        for (const item of this.queue.splice(0)) this.finish(item, { kind: 'failure', status: 'crashed', error: err.message });
      });
      return;
    }
    if (!this.worker.alive || this.worker.pid === undefined) return;
    const isolating = this.queue.some((q) => q.suspect) || [...this.running.values()].some((r) => r.suspect);
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
    if (m.type === 'round') {
      const { children, capacity, seconds, rulesDone, kernels } = m.report;
      this.options.onRound?.({ device: m.device, children, capacity, seconds, rulesDone, kernels });
      return;
    }
    if (m.type === 'ready') return;
    if (m.type === 'broken') {
      const n = this.running.size;
      // A kernel variant the tuning tried faults on this GPU: later workers keep the direct kernels.
      if (m.whileTuning) this.directKernels = true;
      this.options.onNote?.(`the GPU engine failed (${m.error}); a fresh GPU worker re-runs the ${n} rule${n === 1 ? '' : 's'} it had in flight${n > 1 ? ', one at a time, to find any at fault' : ''}${m.whileTuning ? ', with the direct convolution kernels from now on' : ''}`);
      return;
    }
    const item = this.running.get(m.jobId);
    if (!item) return;
    if (m.type === 'unavailable') {
      // No rule is at fault: a queue worker's job goes back to its queue's retries (as a crash), and the search
      // stops with the reason rather than record every later rule as failed.
      if (item.resolve) this.finish(item, { kind: 'failure', status: 'crashed', error: m.error });
      else this.stopAll(m.error);
      return;
    }
    if (m.type === 'started') item.startedAt ??= Date.now();
    else if (m.type === 'result') this.finish(item, { kind: 'outcome', outcome: m.outcome });
    else if (m.type === 'failed') this.finish(item, { kind: 'failure', status: m.status, error: m.error });
    this.pump();
  }

  /** The engine cannot start: no result comes for the jobs of next(); they are dropped and next() fails with why. */
  private stopAll(error: string): void {
    this.unavailable = new Error(`gpu pool: ${error}`);
    // runJob's callers each get their own answer; next()'s jobs are dropped, unrecorded: the search stops here.
    for (const [id, item] of this.running) if (!item.resolve) this.running.delete(id);
    for (let i = this.queue.length - 1; i >= 0; i--) if (!this.queue[i].resolve) this.queue.splice(i, 1);
    this.results.fail(this.unavailable);
  }

  /** Watchdog: a job training past the time limit, or the worker past the memory limit, kills the worker. */
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
    const heapOom = /heap out of memory|Allocation failed|OutOfMemory|std::bad_alloc/i.test(how.stderrTail);
    const requeue = (item: Item, suspect: boolean) => this.queue.unshift({ ...item, attempt: item.attempt + 1, suspect: item.suspect || suspect });
    if (this.killedFor === 'timeout') {
      const now = Date.now();
      for (const item of victims.reverse()) {
        if (item.startedAt !== undefined && now - item.startedAt > Math.min(limits.timeoutMs, MAX_TIMER_MS)) {
          this.finish(item, { kind: 'failure', status: 'timeout', error: `killed after the ${limits.timeoutMs} ms time limit` });
        } else requeue(item, false);
      }
    } else if (victims.length === 1) {
      const [item] = victims;
      if (this.killedFor === 'oom-rss') {
        this.finish(item, { kind: 'failure', status: 'oom', error: `killed at ${this.peakRssMb.toFixed(0)} MiB resident, over the ${limits.maxRssMb} MiB limit` });
      } else if (heapOom) {
        this.finish(item, { kind: 'failure', status: 'oom', error: `the GPU worker ran out of memory (${died}): ${tail}` });
      } else if (item.attempt < this.maxAttempts) {
        requeue(item, true);
      } else {
        this.finish(item, { kind: 'failure', status: 'crashed', error: `the GPU worker died (${died})${tail ? `: ${tail}` : ''}` });
      }
    } else {
      // Several jobs died together: each runs again alone, so the one at fault is found.
      for (const item of victims.reverse()) requeue(item, true);
    }
    this.pump();
  }
}

/**
 * An onRound that says, once, where the children train (the device, its child slots, the convolution kernels), and
 * again whenever the kernels change (an evaluator tuning them, NOS_ENGINE_KERNELS=auto, switches after its first round).
 */
export function deviceNotes(note: (message: string) => void): (info: GpuRoundInfo) => void {
  let said = '';
  return (info) => {
    const now = describeKernels(info.kernels);
    if (now === said) return;
    note(`${said ? 'now' : `training on ${info.device}, ${info.capacity} child slots`}: ${now}`);
    said = now;
  };
}

export function createGpuBackend(options: GpuPoolOptions): GpuPool {
  return new GpuPool(options);
}
