// The search's side of the queue on BullMQ and Redis: a Backend that enqueues jobs and collects their envelopes.
import { Queue, QueueEvents, type Job as BullJob, type JobsOptions, type RedisQueueBackend as BullRedisBackend } from 'bullmq';
import IORedis from 'ioredis';
import { JOB_STATUSES, type Backend, type Envelope, type Job, type JobStatus, type RunLimits } from './backend';
import { checkedEnvelope } from './record-validation';

/** Where a queue lives: parsed from `redis://[user:password@]HOST:PORT[/DB]` (or `rediss://` for TLS). */
export interface RedisTarget {
  host: string; port: number; db: number; username?: string; password?: string; tls: boolean;
  /** The URL for messages, with any password shown as *** so it never reaches a log. */
  url: string;
}

/** What the search, the workers and the benchmark agree on; every field has a default that suits minutes-long jobs. */
export interface RedisQueueSettings {
  /** BullMQ queue name; several searches may share one Redis with different names. Default 'nos'. */
  queueName?: string;
  /** Tries per job, counting the first; only infrastructure failures (a crashed or mismatched worker) are retried. Default 2, as the local pool. */
  attempts?: number;
  /** First retry delay; doubles each time (exponential backoff). Default 5000 ms. */
  backoffMs?: number;
  /** Finished jobs stay in Redis this long, so a resumed search can take their results. Default 7 days. */
  keepFinishedSeconds?: number;
}

export interface RedisBackendOptions extends RedisQueueSettings {
  /** How long to wait for Redis at start before failing with a clear error. Default 3000 ms. */
  connectTimeoutMs?: number;
  /** How often the backend checks on its pending jobs (catches missed events, re-enqueues jobs Redis lost). Default 2000 ms. */
  sweepIntervalMs?: number;
  /** Where connection trouble is reported; default stderr. */
  log?: (line: string) => void;
  /** The search's time and memory limits per job, sent with each job (a worker's own --timeout/--max-rss win). */
  limits?: RunLimits;
  /** How long close() waits for Redis to say goodbye before it drops the connections. Default 5000 ms. */
  closeGraceMs?: number;
}

export interface ReconcileReport {
  /** Finished in Redis but not yet recorded: their envelopes come out of next(). */
  taken: string[];
  /** Waiting, delayed or running: next() returns them when they finish. */
  waiting: string[];
  /** Not in Redis at all: enqueued again. */
  requeued: string[];
}

export interface RedisBackend extends Backend {
  readonly target: RedisTarget;
  /**
   * Used by `--resume`: for jobs the ledger has no result for, takes results that finished meanwhile, waits for the
   * ones still queued or running, and enqueues again the ones Redis does not know.
   */
  reconcile(jobs: Job[]): Promise<ReconcileReport>;
}

/** The payload stored in each BullMQ job. */
export interface QueuedJobData { job: Job; enqueuedAt: number; limits?: RunLimits }

export const DEFAULT_QUEUE_NAME = 'nos';
const BULL_JOB_NAME = 'train';
/** Statuses a worker retries (on another try, maybe on another machine) before recording them as final. */
export const RETRIED_STATUSES: ReadonlySet<JobStatus> = new Set<JobStatus>(['crashed', 'version-mismatch']);

export function parseRedisUrl(url: string): RedisTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`bad --queue URL ${JSON.stringify(url.replace(/:[^:@/]*@/, ':***@'))}: expected redis://HOST:PORT[/DB]`);
  }
  if (parsed.password) url = url.replace(`:${parsed.password}@`, ':***@'); // shown in the errors below
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new Error(`bad --queue URL ${JSON.stringify(url)}: scheme must be redis:// or rediss://, got ${parsed.protocol}//`);
  }
  if (!parsed.hostname) throw new Error(`bad --queue URL ${JSON.stringify(url)}: no host`);
  const port = parsed.port ? Number(parsed.port) : 6379;
  const dbText = parsed.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^\d+$/.test(dbText)) {
    throw new Error(`bad --queue URL ${JSON.stringify(url)}: database must be a number after the port (/0 .. /15), got /${dbText}`);
  }
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port,
    db: dbText === '' ? 0 : Number(dbText),
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    tls: parsed.protocol === 'rediss:',
    url,
  };
}

/**
 * ioredis options for BullMQ: commands wait (not fail) while Redis restarts, and the client keeps reconnecting,
 * so a Redis restart mid-search loses nothing.
 */
export function connectionOptions(target: RedisTarget) {
  return {
    host: target.host, port: target.port, db: target.db, username: target.username, password: target.password,
    tls: target.tls ? {} : undefined,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    retryStrategy: (times: number) => Math.min(100 * times, 2000),
  };
}

/** Fails within timeoutMs with a message naming the URL when Redis cannot be reached; never hangs. */
export async function assertRedisReachable(target: RedisTarget, timeoutMs: number): Promise<void> {
  const client = new IORedis({
    ...connectionOptions(target), lazyConnect: true, connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null,
  });
  let lastError = '';
  client.on('error', (err: Error) => { lastError = err.message; });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    // The database too: ioredis reports a failed SELECT only as an 'error' event, and then serves database 0's
    // connection (a db the server lacks, redis://host:6379/99999, was taken, and the workers logged retries for ever).
    await Promise.race([(async () => { await client.connect(); await client.select(target.db); await client.ping(); })(), timeout]);
    const info = await Promise.race([client.info('server'), timeout]);
    const version = /redis_version:(\d+)\.(\d+)/.exec(info);
    if (version && (Number(version[1]) < 6 || (Number(version[1]) === 6 && Number(version[2]) < 2))) {
      throw new Error(`Redis ${version[1]}.${version[2]} at ${target.url} is too old: BullMQ needs Redis 6.2 or newer`);
    }
  } catch (err) {
    const reason = lastError || (err as Error).message;
    if ((err as Error).message.includes('too old')) throw err;
    if (/DB index is out of range/i.test((err as Error).message)) {
      throw new Error(`Redis at ${target.url} has no database ${target.db} (${(err as Error).message}); choose a database it has in --queue (redis://HOST:PORT/DB; 0 to 15 by default)`);
    }
    const hint = /WRONGPASS|NOAUTH|invalid username-password|AUTH/i.test(reason)
      ? 'check the user and password in --queue (redis://USER:PASSWORD@HOST:PORT/DB), --queue-password-file or NOS_REDIS_PASSWORD'
      : `start it (redis-server --port ${target.port}) or fix --queue`;
    throw new Error(`cannot reach Redis at ${target.url} (${reason}); ${hint}`);
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}

/** BullMQ job ids may not contain ':' nor be integers; candidate ids are `${runId}:${index}`, so encode them. */
export function toBullJobId(id: string): string {
  return 'c.' + encodeURIComponent(id);
}

export function jobOptions(job: Job, settings: RedisQueueSettings): JobsOptions {
  const keep = settings.keepFinishedSeconds ?? 7 * 24 * 3600;
  return {
    jobId: toBullJobId(job.id),
    attempts: settings.attempts ?? 2,
    backoff: { type: 'exponential', delay: settings.backoffMs ?? 5000 },
    removeOnComplete: { age: keep },
    removeOnFail: { age: keep },
  };
}

/** Checks a job before it goes to Redis, so a bad one fails here with its id, not later on a worker. */
export function validateJob(job: unknown, where: string): Job {
  const j = job as Partial<Job> | null;
  const problem = (what: string) => new Error(`${where}: ${what}`);
  if (!j || typeof j !== 'object') throw problem('a job must be an object');
  if (typeof j.id !== 'string' || j.id === '') throw problem('job.id must be a non-empty string');
  if (typeof j.rule !== 'string' || j.rule === '') throw problem(`job ${j.id}: rule must be a non-empty string`);
  if (!j.protocol || typeof j.protocol !== 'object' || typeof (j.protocol as { name?: unknown }).name !== 'string') {
    throw problem(`job ${j.id}: protocol must be an object with a name`);
  }
  if (j.device !== 'cpu' && j.device !== 'cuda') throw problem(`job ${j.id}: device must be 'cpu' or 'cuda', got ${JSON.stringify(j.device)}`);
  if (!Number.isFinite(j.seed)) throw problem(`job ${j.id}: seed must be a number`);
  if (!j.versions || !Number.isFinite(j.versions.compiler) || !Number.isFinite(j.versions.protocol)) {
    throw problem(`job ${j.id}: versions must be { compiler: number, protocol: number }`);
  }
  if (!j.data || typeof j.data !== 'object') throw problem(`job ${j.id}: data must be an object`);
  for (const field of ['path', 'fingerprint'] as const) {
    const value = (j.data as Record<string, unknown>)[field];
    if (value !== undefined && typeof value !== 'string') throw problem(`job ${j.id}: data.${field} must be a string, got ${JSON.stringify(value)}`);
  }
  return j as Job;
}

/** BullMQ's failure reason for a job whose workers were lost more times than maxStalledCount allows. */
const STALL_LIMIT_REASON = 'stalled more than allowable limit';

/** The status a worker wrote at the head of a failure message (`crashed: ...`); anything else is a lost worker. */
export function statusOfFailure(reason: string): { status: JobStatus; error: string } {
  const match = /^([a-z-]+): ([\s\S]*)$/.exec(reason);
  if (match && (JOB_STATUSES as readonly string[]).includes(match[1]) && match[1] !== 'ok') {
    return { status: match[1] as JobStatus, error: match[2] };
  }
  if (reason.includes(STALL_LIMIT_REASON)) {
    return { status: 'crashed', error: 'the workers running this job stopped answering (killed or lost) on every try' };
  }
  return { status: 'error', error: reason };
}

interface PendingEntry { job: Job; enqueued: boolean }

class RedisQueueBackend implements RedisBackend {
  private readonly pendingJobs = new Map<string, PendingEntry>();
  private readonly finished: Envelope[] = [];
  private readonly waiters: Array<{ resolve: (e: Envelope) => void; reject: (e: Error) => void }> = [];
  private readonly sweepTimer: NodeJS.Timeout;
  private sweeping = false;
  private closed = false;
  private lastLoggedError = '';

  constructor(
    readonly target: RedisTarget,
    private readonly queue: Queue,
    private readonly events: QueueEvents,
    private readonly settings: RedisBackendOptions,
    private readonly log: (line: string) => void,
  ) {
    events.on('completed', ({ jobId, returnvalue }) => this.onCompleted(jobId, returnvalue));
    events.on('failed', ({ jobId }) => { void this.checkJobs([jobId]); });
    const onError = (err: Error) => this.noteError(err);
    queue.on('error', onError);
    events.on('error', onError);
    const onReady = () => {
      if (this.lastLoggedError && !this.closed) this.log(`nos: Redis queue at ${this.target.url}: connected again`);
      this.lastLoggedError = '';
    };
    queue.getBackend().on('ready', onReady);
    events.getBackend().on('ready', onReady);
    this.sweepTimer = setInterval(() => { void this.sweep(); }, settings.sweepIntervalMs ?? 2000);
    this.sweepTimer.unref();
  }

  pending(): number {
    return this.pendingJobs.size + this.finished.length;
  }

  async submit(jobs: Job[]): Promise<void> {
    if (this.closed) throw new Error('submit() on a closed Redis backend');
    if (!Array.isArray(jobs)) throw new Error('submit(jobs): jobs must be an array');
    const fresh: Job[] = [];
    const seen = new Set<string>();
    jobs.forEach((job, i) => {
      validateJob(job, `submit(jobs[${i}])`);
      if (this.pendingJobs.has(job.id) || seen.has(job.id)) return; // already on its way: one result per id
      seen.add(job.id);
      fresh.push(job);
    });
    await this.enqueue(fresh);
  }

  private async enqueue(jobs: Job[]): Promise<void> {
    if (jobs.length === 0) return;
    const now = Date.now();
    for (const job of jobs) this.pendingJobs.set(job.id, { job, enqueued: false });
    await this.queue.addBulk(jobs.map((job) => ({
      name: BULL_JOB_NAME,
      data: { job, enqueuedAt: now, ...(this.settings.limits ? { limits: this.settings.limits } : {}) } satisfies QueuedJobData,
      opts: jobOptions(job, this.settings),
    })));
    for (const job of jobs) {
      const entry = this.pendingJobs.get(job.id);
      if (entry) entry.enqueued = true;
    }
  }

  next(): Promise<Envelope> {
    const ready = this.finished.shift();
    if (ready) return Promise.resolve(ready);
    if (this.closed) return Promise.reject(new Error('next() on a closed Redis backend'));
    if (this.pendingJobs.size === 0) return Promise.reject(new Error('next() called with no job pending'));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  async reconcile(jobs: Job[]): Promise<ReconcileReport> {
    const report: ReconcileReport = { taken: [], waiting: [], requeued: [] };
    const missing: Job[] = [];
    const candidates = jobs.map((job, i) => validateJob(job, `reconcile(jobs[${i}])`)).filter((job) => !this.pendingJobs.has(job.id));
    for (const job of candidates) this.pendingJobs.set(job.id, { job, enqueued: true });
    const states = await Promise.all(candidates.map((job) => this.queue.getJobState(toBullJobId(job.id))));
    for (let i = 0; i < candidates.length; i += 1) {
      const job = candidates[i];
      const state = states[i];
      if (state === 'completed' || state === 'failed') {
        report.taken.push(job.id);
        await this.collect(job.id);
      } else if (state === 'unknown') {
        this.pendingJobs.delete(job.id);
        report.requeued.push(job.id);
        missing.push(job);
      } else {
        report.waiting.push(job.id);
      }
    }
    await this.enqueue(missing);
    return report;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    for (const waiter of this.waiters.splice(0)) waiter.reject(new Error('the Redis backend was closed while waiting for a result'));
    // Closing says goodbye to Redis; if Redis is gone that would wait for ever, so drop the connections after a while.
    const grace = this.settings.closeGraceMs ?? 5000;
    if (!(await withinMs(Promise.allSettled([this.events.close(), this.queue.close()]).then(() => true), grace))) {
      dropConnections(this.queue.getBackend());
      dropConnections(this.events.getBackend());
    }
  }

  private noteError(err: Error) {
    // ioredis reports each failed reconnect; say it once per distinct message, not every 100 ms.
    if (this.closed || err.message === this.lastLoggedError) return;
    this.lastLoggedError = err.message;
    this.log(`nos: Redis queue at ${this.target.url}: ${err.message} (retrying)`);
  }

  private deliver(envelope: Envelope) {
    if (!this.pendingJobs.delete(envelope.jobId)) return; // a second delivery of a recorded job
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(envelope);
    else this.finished.push(envelope);
  }

  private onCompleted(bullId: string, returnvalue: unknown) {
    const id = decodeBullJobId(bullId);
    if (id === null || !this.pendingJobs.has(id)) return; // another search's job, or one already recorded
    // QueueEvents has parsed the JSON already. Whatever a worker returned (a buggy version, anyone who can reach the
    // queue), it answers this job only.
    this.deliver(checkedEnvelope(returnvalue, id));
  }

  /** Reads finished jobs straight from Redis: after a missed event, a failure, or on reconcile. */
  private async collect(id: string): Promise<void> {
    const bullJob = await this.queue.getJob(toBullJobId(id));
    if (!bullJob) return;
    const state = await bullJob.getState();
    if (state === 'completed') {
      this.deliver(checkedEnvelope(bullJob.returnvalue, id, bullJob.processedBy ?? undefined));
    } else if (state === 'failed') {
      this.deliver(finalFailureEnvelope(id, bullJob));
    }
  }

  private async checkJobs(bullIds: string[]): Promise<void> {
    for (const bullId of bullIds) {
      const id = decodeBullJobId(bullId);
      if (id !== null && this.pendingJobs.has(id)) {
        try { await this.collect(id); } catch (err) { this.noteError(err as Error); }
      }
    }
  }

  /** Safety net for events missed while Redis restarted, and for jobs a Redis without persistence forgot. */
  private async sweep(): Promise<void> {
    if (this.sweeping || this.closed) return;
    this.sweeping = true;
    try {
      const entries = [...this.pendingJobs.values()].filter((entry) => entry.enqueued);
      const states = await Promise.all(entries.map((entry) => this.queue.getJobState(toBullJobId(entry.job.id))));
      const lost: Job[] = [];
      for (let i = 0; i < entries.length; i += 1) {
        const id = entries[i].job.id;
        if (!this.pendingJobs.has(id)) continue;
        if (states[i] === 'completed' || states[i] === 'failed') await this.collect(id);
        else if (states[i] === 'unknown') lost.push(entries[i].job);
      }
      if (lost.length > 0) {
        this.log(`nos: Redis at ${this.target.url} no longer has ${lost.length} pending job(s); enqueuing them again`);
        for (const job of lost) this.pendingJobs.delete(job.id);
        await this.enqueue(lost);
      }
    } catch (err) {
      this.noteError(err as Error);
    } finally {
      this.sweeping = false;
    }
  }
}

/** The promise's value, or undefined once ms have passed (the promise is left to settle on its own). */
export function withinMs<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), ms); });
  promise.catch(() => undefined);
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Cuts a BullMQ object's Redis connections without a goodbye, so no reconnect timer keeps the process alive. For when
 * Redis is gone: close() would wait for ever to send QUIT, and BullMQ's disconnect() waits for each connection in turn.
 */
export function dropConnections(backend: BullRedisBackend): void {
  for (const connection of [backend.connection, backend.blockingConnection]) {
    if (connection) void connection.disconnect(false).catch(() => undefined);
  }
}

export function decodeBullJobId(bullId: string): string | null {
  if (!bullId.startsWith('c.')) return null;
  try { return decodeURIComponent(bullId.slice(2)); } catch { return null; }
}

function timingsOf(bullJob: BullJob): Envelope['timings'] {
  const started = bullJob.processedOn ?? bullJob.timestamp;
  const finished = bullJob.finishedOn ?? started;
  return { queuedMs: Math.max(0, started - bullJob.timestamp), runMs: Math.max(0, finished - started) };
}

/** The envelope recorded for a job that failed its last try, so its batch still closes. */
function finalFailureEnvelope(id: string, bullJob: BullJob): Envelope {
  const { status, error } = statusOfFailure(bullJob.failedReason ?? 'failed without a reason');
  // A try whose worker was lost (stalled) is not counted in attemptsMade: BullMQ counts those in stalledCounter, and
  // failing a job over the stall limit adds one to attemptsMade that was no try (3 lost workers: 1 and 3).
  const overStallLimit = (bullJob.failedReason ?? '').includes(STALL_LIMIT_REASON);
  const tries = Math.max(1, (bullJob.attemptsMade ?? 0) + (bullJob.stalledCounter ?? 0) - (overStallLimit ? 1 : 0));
  return {
    jobId: id, status,
    reward: status === 'version-mismatch' ? null : 0,
    bestLr: null, timings: timingsOf(bullJob),
    attempt: tries,
    worker: bullJob.processedBy ?? 'unknown',
    error: `${error} (after ${tries} tr${tries === 1 ? 'y' : 'ies'})`,
  };
}

export async function createRedisBackend(url: string, options: RedisBackendOptions = {}): Promise<RedisBackend> {
  const target = parseRedisUrl(url);
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  await assertRedisReachable(target, options.connectTimeoutMs ?? 3000);
  const queueName = options.queueName ?? DEFAULT_QUEUE_NAME;
  const connection = connectionOptions(target);
  const queue = new Queue(queueName, { connection });
  // A short blocking read: a closed backend lets its process exit within about 3 s even when Redis is gone.
  const events = new QueueEvents(queueName, { connection, blockingTimeout: 2000 });
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  return new RedisQueueBackend(target, queue, events, options, log);
}
