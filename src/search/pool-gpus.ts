// The GPU backend on a machine with several GPUs: one GpuPool (one worker, one child engine) per GPU, each job placed
// on the GPU with the fewest in flight.  A GPU that cannot train is left out and its unfinished jobs go to the others,
// unrecorded and without a try spent; only when none can does the search stop (GpuUnusableError), as with one GPU.
import { FinishedResults } from './finished-results';
import { GpuUnusableError, type Envelope, type Job } from './backend';
import type { RunResult } from './envelope';
import type { GpuChoice } from './gpu-process';
import { GpuPool, requireJobShape, type GpuBackend, type GpuPoolOptions } from './pool-gpu';
import { GPU_IN_FLIGHT } from './search-config';

interface Member {
  gpu: GpuChoice;
  pool: GpuPool;
  /** Jobs of submit() on this GPU whose result next() has not given yet. */
  jobs: Map<string, Job>;
  /** runJob() calls on this GPU. */
  direct: number;
  draining: boolean;
  /** Why this GPU was left out. */
  down: GpuUnusableError | null;
}

export class MultiGpuPool implements GpuBackend {
  private readonly members: Member[];
  private readonly results = new FinishedResults('gpu pools');
  private closed = false;

  constructor(gpus: GpuChoice[], private readonly options: GpuPoolOptions) {
    if (gpus.length < 2) throw new Error(`gpu pools: need at least 2 GPUs, got ${gpus.length}`);
    this.members = gpus.map((gpu) => ({
      gpu, jobs: new Map(), direct: 0, draining: false, down: null,
      pool: new GpuPool({
        ...options, gpu,
        onNote: (m) => options.onNote?.(`GPU ${gpu.index}: ${m}`),
        onRound: options.onRound && ((info) => options.onRound!({ ...info, device: `${info.device}, GPU ${gpu.index}` })),
      }),
    }));
  }

  /** Enough jobs in flight to keep every usable GPU's engine busy (the search's default --in-flight). */
  inFlightHint(): number {
    return Math.max(1, this.members.filter((m) => !m.down).length) * GPU_IN_FLIGHT;
  }

  pids(): number[] {
    return this.members.flatMap((m) => m.pool.pids());
  }

  async submit(jobs: Job[]): Promise<void> {
    if (this.closed) throw new Error('gpu pools: submit() after close()');
    if (this.members.every((m) => m.down)) throw this.noneLeft();
    for (const job of jobs) {
      requireJobShape(job, 'gpu pools');
      if (this.members.some((m) => m.jobs.has(job.id))) throw new Error(`gpu pools: job ${job.id} was already submitted and is not finished`);
    }
    for (const job of jobs) {
      this.results.expect();
      await this.place(job);
    }
  }

  runJob(job: Job, attempt: number): Promise<{ result: RunResult; worker: string; runMs: number }> {
    const run = async (): Promise<{ result: RunResult; worker: string; runMs: number }> => {
      for (;;) {
        const member = this.leastLoaded();
        member.direct += 1;
        try {
          return await member.pool.runJob(job, attempt);
        } catch (e) {
          if (!(e instanceof GpuUnusableError) || this.closed) throw e;
          this.leaveOut(member, e); // then the next GPU, or the error if none is left
        } finally {
          member.direct -= 1;
        }
      }
    };
    return this.closed ? Promise.reject(new Error('gpu pools: runJob() after close()')) : run();
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
    this.results.rejectWaiters();
    await Promise.all(this.members.map((m) => m.pool.close()));
  }

  /** The usable GPU with the fewest jobs in flight; throws the GpuUnusableError of them all when none is left. */
  private leastLoaded(): Member {
    const usable = this.members.filter((m) => !m.down);
    if (usable.length === 0) throw this.noneLeft();
    return usable.reduce((a, b) => (b.jobs.size + b.direct < a.jobs.size + a.direct ? b : a));
  }

  private noneLeft(): GpuUnusableError {
    return new GpuUnusableError(`gpu pools: no GPU can train: ${this.members.map((m) => `GPU ${m.gpu.index}: ${m.down?.message ?? 'closed'}`).join('; ')}`);
  }

  /** Puts a job of submit() on a GPU (already expected by the results); when none can take it, the search stops. */
  private async place(job: Job): Promise<void> {
    for (;;) {
      let member: Member;
      try {
        member = this.leastLoaded();
      } catch (e) {
        this.results.fail(e as GpuUnusableError);
        return;
      }
      member.jobs.set(job.id, job);
      try {
        await member.pool.submit([job]);
        void this.drain(member);
        return;
      } catch (e) {
        member.jobs.delete(job.id);
        if (!(e instanceof GpuUnusableError)) throw e;
        this.leaveOut(member, e);
      }
    }
  }

  /** Passes a GPU's results on as they come, until it has no job of submit() left or cannot train. */
  private async drain(member: Member): Promise<void> {
    if (member.draining) return;
    member.draining = true;
    try {
      while (!this.closed && !member.down && member.jobs.size > 0) {
        let envelope: Envelope;
        try {
          envelope = await member.pool.next();
        } catch (e) {
          if (e instanceof GpuUnusableError) this.leaveOut(member, e);
          return; // closed: nothing more comes
        }
        member.jobs.delete(envelope.jobId);
        this.results.deliver(envelope);
      }
    } finally {
      member.draining = false;
    }
  }

  /** A GPU cannot train: it is left out, and its jobs of submit() go to the others (nothing recorded, no try spent). */
  private leaveOut(member: Member, why: GpuUnusableError): void {
    if (member.down || this.closed) return;
    member.down = why;
    const moved = [...member.jobs.values()];
    member.jobs.clear();
    void member.pool.close();
    const left = this.members.filter((m) => !m.down).length;
    const n = moved.length + member.direct; // runJob's callers move on by themselves
    const goes = n === 1 ? 'its 1 rule in flight goes' : `its ${n} rules in flight go`;
    this.options.onNote?.(`GPU ${member.gpu.index} cannot train and is left out (${why.message})${left > 0 ? `; ${goes} to the other GPU${left > 1 ? 's' : ''}` : ''}`);
    if (left === 0) {
      this.results.fail(this.noneLeft());
      return;
    }
    for (const job of moved) this.place(job).catch((e: Error) => this.results.fail(e));
  }
}
