// A queue worker: takes jobs from BullMQ on Redis, runs each in a forked child (limits as the local pool), returns envelopes.
import { Worker, WaitingError, type Job as BullJob } from 'bullmq';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { GpuUnusableError, type Envelope, type Job, type RunLimits } from './backend';
import { makeEnvelope, type RunResult } from './envelope';
import { createGpuBackend, deviceNotes, type GpuBackend } from './pool-gpu';
import {
  DEFAULT_QUEUE_NAME, RETRIED_STATUSES, assertRedisReachable, connectionOptions, parseRedisUrl, validateJob, withinMs, dropConnections,
  type QueuedJobData,
} from './queue-redis';
import { MAX_PROCESSES, runLimitsProblem } from './limits';
import { defaultLimits } from './search-config';
import { WorkerProcess } from './worker-process';

export interface RedisWorkerOptions {
  /** Jobs run at once, each in its own child process. Default 1. */
  concurrency?: number;
  /** Overrides the device the job asked for (this machine knows what it has). */
  device?: 'cpu' | 'cuda';
  /**
   * Time and memory limits per job. Unset fields come from the job (the search's limits), else from the job's
   * protocol as the local pool computes them (its time cap plus slack, 4 GiB).
   */
  limits?: Partial<RunLimits>;
  queueName?: string;
  /** How this worker names itself in envelopes; default `redis:HOST:pid`. */
  name?: string;
  /**
   * A running job's lock lasts this long and is renewed at half of it while the child trains, so a worker that is
   * killed or cut off gives its job back after at most about this plus stalledIntervalMs. Default 60 s.
   */
  lockDurationMs?: number;
  /** How often this worker looks for jobs whose worker stopped renewing its lock. Default 30 s. */
  stalledIntervalMs?: number;
  /** Times a job may lose its worker before it is recorded as crashed. Default 2. */
  maxStalledCount?: number;
  connectTimeoutMs?: number;
  /**
   * When stopping, how long to wait for Redis to take the last results and the goodbye after the jobs are done. A
   * worker stopped while Redis is down exits after this instead of hanging; its unsaved jobs run again elsewhere.
   * Default 10 s.
   */
  closeGraceMs?: number;
  log?: (line: string) => void;
  /** Called with each envelope this worker records (for progress lines). */
  onEnvelope?: (envelope: Envelope) => void;
  /**
   * Called when the worker stopped by itself, after handing its jobs back to the queue: --device cuda and the GPU
   * cannot train (its engine does not start, or fails even the control rule), which is no job's fault.
   */
  onStopped?: (reason: string) => void;
}

export interface RedisWorkerHandle {
  readonly name: string;
  /** Jobs this worker has finished (any status). */
  readonly finished: number;
  /** Jobs running now. */
  readonly running: number;
  /** Takes no new job and waits for the running ones to finish. */
  close(): Promise<void>;
  /** Stops the running jobs' children and hands the jobs back to the queue for another worker, then closes. */
  handBack(): Promise<void>;
}

interface Slot { label: string; process: WorkerProcess | null }

export function defaultWorkerName(): string {
  return `redis:${os.hostname()}:${process.pid}`;
}

/** The attempt number of this run: retries after a failure and re-runs after a lost worker both count. */
function attemptOf(bullJob: BullJob): number {
  return Math.max(bullJob.attemptsMade + 1, bullJob.attemptsStarted ?? 0, 1);
}

export async function startRedisWorker(url: string, options: RedisWorkerOptions): Promise<RedisWorkerHandle> {
  const target = parseRedisUrl(url);
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_PROCESSES) {
    throw new Error(`--concurrency must be an integer from 1 to ${MAX_PROCESSES}, got ${options.concurrency}`);
  }
  // This worker's own limits are checked now, with the bounds the job processes enforce, not on every job.
  const ownLimits = runLimitsProblem({ timeoutMs: options.limits?.timeoutMs ?? 1000, maxRssMb: options.limits?.maxRssMb ?? 4096 });
  if (ownLimits) throw new RangeError(`worker limits: ${ownLimits}`);
  if (options.device !== undefined && options.device !== 'cpu' && options.device !== 'cuda') {
    throw new Error(`--device must be cpu or cuda, got ${JSON.stringify(options.device)}`);
  }
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const name = options.name ?? defaultWorkerName();
  const lockDuration = options.lockDurationMs ?? 60_000;
  await assertRedisReachable(target, options.connectTimeoutMs ?? 3000);

  const limitsFor = (data: QueuedJobData, job: Job): RunLimits => {
    // The search's limits travel with the job; ones that cannot run (another version, a hostile sender) are not used.
    const problem = data.limits === undefined ? null : runLimitsProblem(data.limits);
    if (problem) log(`nos worker ${name}: job ${job.id}: the search's limits cannot run (${problem}); using the protocol's defaults`);
    const fromJob = data.limits !== undefined && !problem ? data.limits : defaultLimits(job.protocol);
    return { timeoutMs: options.limits?.timeoutMs ?? fromJob.timeoutMs, maxRssMb: options.limits?.maxRssMb ?? fromJob.maxRssMb };
  };
  // One child process per slot, kept between jobs like the local pool's; a dead one restarts on its next run, and a
  // job with other limits gets a fresh one (the memory cap is a flag of the process).
  const allSlots: Slot[] = Array.from({ length: concurrency }, (_, i) => ({ label: `${name}:${i + 1}`, process: null }));
  const idleSlots = [...allSlots];
  const closeGraceMs = options.closeGraceMs ?? 10_000;
  let finished = 0;
  let running = 0;
  // --device cuda: made at the first job, with its limits (the GPU's jobs share one process).
  let gpu: GpuBackend | undefined;
  let handingBack = false;
  const whenIdle: Array<() => void> = [];

  const processJob = async (bullJob: BullJob, token?: string, signal?: AbortSignal): Promise<Envelope> => {
    const data = bullJob.data as QueuedJobData;
    let job: Job;
    try {
      job = validateJob(data?.job, `queue job ${bullJob.id}`);
    } catch (err) {
      // A malformed job can never succeed: record it at once instead of retrying.
      const id = typeof data?.job?.id === 'string' ? data.job.id : String(bullJob.id);
      finished += 1;
      return { jobId: id, status: 'error', reward: 0, bestLr: null, timings: { queuedMs: 0, runMs: 0 }, attempt: 1, worker: name, error: (err as Error).message };
    }
    const attempt = attemptOf(bullJob);
    const lastTry = bullJob.attemptsMade + 1 >= (bullJob.opts.attempts ?? 1);
    if (job.data.path !== undefined && !fs.existsSync(job.data.path)) {
      // This machine is set up wrong, not the rule: let another worker try before recording anything.
      const error = `the dataset ${job.data.path} is not on worker ${name} (copy it there, same path as on the search's machine)`;
      log(`nos worker ${name}: job ${job.id}: ${error}`);
      if (!lastTry) throw new Error(`error: ${error}`);
      finished += 1;
      const envelope: Envelope = { jobId: job.id, status: 'error', reward: 0, bestLr: null, timings: { queuedMs: 0, runMs: 0 }, attempt, worker: name, error };
      options.onEnvelope?.(envelope);
      return envelope;
    }
    const slot = idleSlots.pop();
    if (!slot) throw new Error(`worker ${name}: more jobs than --concurrency ${concurrency} (BullMQ should not allow this)`);
    running += 1;
    const onAbort = () => {
      if (options.device !== 'cuda') return slot.process?.kill();
      const pool = gpu; // the GPU's jobs share one process: stopping it stops them all (handBack hands them all back)
      gpu = undefined;
      void pool?.close();
    };
    signal?.addEventListener('abort', onAbort);
    const startedAt = Date.now();
    let label = slot.label;
    try {
      const limits = limitsFor(data, job);
      let result: RunResult;
      if (options.device === 'cuda') {
        // Every job of this worker trains on one GPU engine, side by side (--concurrency: how many at once).
        const say = (message: string) => log(`nos worker ${name}: ${message}`);
        gpu ??= createGpuBackend({ limits, onRound: deviceNotes(say), onNote: say });
        const run = await gpu.runJob({ ...job, device: 'cuda' }, attempt).catch((err: unknown) => {
          if (!(err instanceof GpuUnusableError)) throw err;
          giveUp(err.message);
          return null;
        });
        if (!run) {
          // No try of the job's is spent on a GPU that cannot train: it goes back for another worker.
          await withinMs(bullJob.moveToWait(token), closeGraceMs);
          throw new WaitingError();
        }
        result = run.result;
        label = `${name}:${run.worker}`;
      } else {
        if (!slot.process || slot.process.limits.timeoutMs !== limits.timeoutMs || slot.process.limits.maxRssMb !== limits.maxRssMb) {
          await slot.process?.stop();
          slot.process = new WorkerProcess(slot.label, limits);
        }
        result = await slot.process.run({ ...job, device: options.device ?? job.device }, attempt);
        label = slot.process.label;
      }
      if (signal?.aborted || handingBack) {
        await withinMs(bullJob.moveToWait(token), closeGraceMs); // Redis down: the lock runs out instead
        throw new WaitingError(); // tells BullMQ the job went back to the queue, not that it failed
      }
      const envelope = makeEnvelope(job, result, {
        attempt, worker: label, queuedMs: startedAt - (data.enqueuedAt ?? bullJob.timestamp), runMs: Date.now() - startedAt,
      });
      if (envelope.status === 'version-mismatch') {
        log(`nos worker ${name}: refused job ${job.id}: version-mismatch: ${envelope.error} (update nos on this machine or on the search's)`);
      }
      if (RETRIED_STATUSES.has(envelope.status) && !lastTry) {
        // Thrown: BullMQ retries it with backoff, maybe on another machine; the last try's envelope is recorded as is.
        log(`nos worker ${name}: job ${job.id} ${envelope.status} on try ${attempt}; it will be retried: ${(envelope.error ?? '').split('\n')[0]}`);
        throw new Error(`${envelope.status}: ${envelope.error ?? 'no detail'}`);
      }
      finished += 1;
      options.onEnvelope?.(envelope);
      return envelope;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      running -= 1;
      idleSlots.push(slot);
      if (running === 0) for (const resolve of whenIdle.splice(0)) resolve();
    }
  };

  const worker = new Worker(options.queueName ?? DEFAULT_QUEUE_NAME, processJob, {
    connection: connectionOptions(target),
    concurrency,
    name,
    lockDuration,
    stalledInterval: options.stalledIntervalMs ?? 30_000,
    maxStalledCount: options.maxStalledCount ?? 2,
    autorun: false,
  });
  let lastError = '';
  worker.on('error', (err: Error) => {
    // Reconnect attempts repeat the same message every few hundred ms: say it once, and say when it is over.
    if (err.message === lastError) return;
    lastError = err.message;
    log(`nos worker ${name}: Redis ${target.url}: ${err.message} (retrying)`);
  });
  worker.getBackend().on('ready', () => {
    if (lastError) log(`nos worker ${name}: connected to ${target.url} again`);
    lastError = '';
  });

  let closing: Promise<void> | null = null;
  let stoppedFor: string | null = null;
  /** This machine cannot run the jobs: hand every running one back, take no more, and say why. */
  const giveUp = (reason: string) => {
    if (stoppedFor !== null) return;
    stoppedFor = reason;
    log(`nos worker ${name}: stopping: ${reason}; its jobs go back to the queue for other workers`);
    void handBack().then(() => options.onStopped?.(reason));
  };
  async function handBack(): Promise<void> {
    handingBack = true;
    worker.cancelAllJobs('nos worker stopping: job handed back to the queue');
    for (const slot of allSlots) slot.process?.kill();
    await gpu?.close();
    await shutdown();
  }
  const shutdown = () => {
    closing ??= (async () => {
      const closed = worker.close(); // takes no new job; resolves once the running ones are handed in and it said goodbye
      if (running > 0) await new Promise<void>((resolve) => whenIdle.push(resolve));
      // The jobs are done; handing in their results and closing needs Redis, which may be gone: bounded.
      if (!(await withinMs(closed.then(() => true, () => true), closeGraceMs))) {
        log(`nos worker ${name}: Redis ${target.url} did not answer within ${closeGraceMs / 1000} s; stopping without it (a job whose result was not handed in runs again on another worker)`);
        dropConnections(worker.getBackend());
        stopWorkerTimers(worker);
      }
      await Promise.all(allSlots.map((s) => s.process?.stop()));
      await gpu?.close();
    })();
    return closing;
  };
  void worker.run().catch((err: Error) => log(`nos worker ${name}: stopped: ${err.message}`));
  await worker.waitUntilReady();

  return {
    name,
    get finished() { return finished; },
    get running() { return running; },
    close: shutdown,
    handBack,
  };
}

/**
 * BullMQ's worker stops its lock-renewal and stalled-job timers only at the end of close(), which never comes while
 * Redis is gone; without this a library user's process would not exit. Internal fields, so each is checked first.
 */
function stopWorkerTimers(worker: Worker): void {
  const internals = worker as unknown as { stalledCheckStopper?: () => void; lockManager?: { close?: () => Promise<void> } };
  if (typeof internals.stalledCheckStopper === 'function') internals.stalledCheckStopper();
  if (typeof internals.lockManager?.close === 'function') void internals.lockManager.close().catch(() => undefined);
}
