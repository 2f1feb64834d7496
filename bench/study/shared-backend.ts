// Several searches of a study on one pool of workers: each search gets a Backend view of it; a job whose result is in
// the study's cache is answered at once, a job equal to one already training waits for that training, the rest train.
import type { Backend, Envelope, Job } from '../../src/search/backend';
import type { ResultCache } from './result-cache';

interface Waiter { view: SharedView; job: Job }

export interface SharedStats { trained: number; fromCache: number; joined: number; trainMs: number }

export class SharedTrainer {
  private readonly inflight = new Map<string, Waiter[]>();
  private pumping = false;
  readonly stats: SharedStats = { trained: 0, fromCache: 0, joined: 0, trainMs: 0 };

  constructor(private readonly pool: Backend, private readonly cache: ResultCache) {}

  /** A Backend for one search (the search loop's deps.makeBackend). */
  view(): Backend { return new SharedView(this); }

  /** Called by a view: answers each job from the cache, joins it to an equal job in flight, or trains it. */
  async submit(view: SharedView, jobs: Job[]): Promise<void> {
    const fresh: Job[] = [];
    for (const job of jobs) {
      const cached = this.cache.get(job);
      if (cached) {
        this.stats.fromCache++;
        view.deliver({ ...cached, jobId: job.id, worker: `study-cache (trained by ${cached.worker})` });
        continue;
      }
      const key = this.cache.key(job);
      const waiting = this.inflight.get(key);
      if (waiting) { this.stats.joined++; waiting.push({ view, job }); continue; }
      this.inflight.set(key, [{ view, job }]);
      fresh.push({ ...job, id: key });
    }
    if (fresh.length > 0) {
      await this.pool.submit(fresh);
      if (!this.pumping) void this.pump();
    }
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.pool.pending() > 0) {
        const envelope = await this.pool.next();
        const waiters = this.inflight.get(envelope.jobId) ?? [];
        this.inflight.delete(envelope.jobId);
        if (waiters.length === 0) continue;
        this.stats.trained++;
        this.stats.trainMs += envelope.timings.runMs;
        this.cache.put(waiters[0].job, { ...envelope, jobId: waiters[0].job.id });
        for (const w of waiters) w.view.deliver({ ...envelope, jobId: w.job.id });
      }
    } catch (e) {
      for (const waiters of this.inflight.values()) for (const w of waiters) w.view.fail(e as Error);
      this.inflight.clear();
    } finally {
      this.pumping = false;
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
    this.cache.close();
  }
}

/** One search's face of the shared trainer; closing it leaves the pool running for the other searches. */
class SharedView implements Backend {
  private readonly ready: Envelope[] = [];
  private readonly waiters: Array<{ resolve: (e: Envelope) => void; reject: (e: Error) => void }> = [];
  private outstanding = 0;
  private closed = false;

  constructor(private readonly trainer: SharedTrainer) {}

  async submit(jobs: Job[]): Promise<void> {
    if (this.closed) throw new Error('study backend: submit() after close()');
    this.outstanding += jobs.length;
    await this.trainer.submit(this, jobs);
  }

  next(): Promise<Envelope> {
    const envelope = this.ready.shift();
    if (envelope) return Promise.resolve(envelope);
    if (this.closed) return Promise.reject(new Error('study backend: next() after close()'));
    if (this.outstanding === 0) return Promise.reject(new Error('study backend: next() called with no job pending'));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  pending(): number { return this.outstanding + this.ready.length; }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new Error('study backend: closed while waiting for a result'));
  }

  deliver(envelope: Envelope): void {
    if (this.closed) return;
    this.outstanding--;
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(envelope);
    else this.ready.push(envelope);
  }

  fail(error: Error): void {
    for (const w of this.waiters.splice(0)) w.reject(error);
  }
}
