// The local Backend: K forked worker processes; a worker that dies is replaced, its job retried once on a crash.
import * as os from 'node:os';
import { FinishedResults } from './finished-results';
import type { Backend, Envelope, Job, RunLimits } from './backend';
import { makeEnvelope } from './envelope';
import { WorkerProcess } from './worker-process';

export interface LocalPoolOptions {
  /** Number of worker processes; default one per core. */
  workers?: number;
  limits: RunLimits;
  /** Tries per job when its worker crashes (a signal or a bad exit); default 2 (one retry). */
  maxAttempts?: number;
}

interface QueuedJob { job: Job; attempt: number; submittedAt: number }

export class LocalPool implements Backend {
  private readonly workers: WorkerProcess[];
  private readonly idle: WorkerProcess[];
  private readonly queue: QueuedJob[] = [];
  private readonly results = new FinishedResults('local pool');
  private readonly maxAttempts: number;
  private readonly known = new Set<string>();
  private closed = false;

  constructor(options: LocalPoolOptions) {
    const count = options.workers ?? os.availableParallelism();
    if (!Number.isInteger(count) || count < 1) throw new Error(`local pool: workers must be an integer >= 1, got ${count}`);
    this.maxAttempts = options.maxAttempts ?? 2;
    if (!Number.isInteger(this.maxAttempts) || this.maxAttempts < 1) {
      throw new Error(`local pool: maxAttempts must be an integer >= 1, got ${options.maxAttempts}`);
    }
    this.workers = Array.from({ length: count }, (_, i) => new WorkerProcess(`local:${i + 1}`, options.limits));
    this.idle = [...this.workers];
  }

  /** Pids of the live worker processes (for tests and diagnostics). */
  pids(): number[] {
    return this.workers.filter((w) => w.alive && w.pid !== undefined).map((w) => w.pid!);
  }

  async submit(jobs: Job[]): Promise<void> {
    if (this.closed) throw new Error('local pool: submit() after close()');
    for (const job of jobs) {
      if (!job || typeof job.id !== 'string' || typeof job.rule !== 'string') {
        throw new Error(`local pool: a job needs a string id and rule, got ${JSON.stringify(job)?.slice(0, 200)}`);
      }
      if (this.known.has(job.id)) throw new Error(`local pool: job ${job.id} was already submitted and is not finished`);
    }
    const now = Date.now();
    for (const job of jobs) {
      this.known.add(job.id);
      this.queue.push({ job, attempt: 1, submittedAt: now });
      this.results.expect();
    }
    this.pump();
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
    this.queue.length = 0;
    this.results.rejectWaiters();
    await Promise.all(this.workers.map((w) => w.stop()));
  }

  private pump(): void {
    while (!this.closed && this.idle.length > 0 && this.queue.length > 0) {
      const worker = this.idle.shift()!;
      const item = this.queue.shift()!;
      void this.runOn(worker, item);
    }
  }

  private async runOn(worker: WorkerProcess, item: QueuedJob): Promise<void> {
    const startedAt = Date.now();
    const result = await worker.run(item.job, item.attempt);
    if (this.closed) return;
    const runMs = Date.now() - startedAt;
    this.idle.push(worker); // a dead worker is restarted by its next run()
    if (result.kind === 'failure' && result.status === 'crashed' && item.attempt < this.maxAttempts) {
      this.queue.unshift({ ...item, attempt: item.attempt + 1 });
    } else {
      this.deliver(makeEnvelope(item.job, result, {
        attempt: item.attempt, worker: worker.label, queuedMs: startedAt - item.submittedAt, runMs,
      }));
    }
    this.pump();
  }

  private deliver(envelope: Envelope): void {
    this.known.delete(envelope.jobId);
    this.results.deliver(envelope);
  }
}

export function createLocalBackend(options: LocalPoolOptions): LocalPool {
  return new LocalPool(options);
}
