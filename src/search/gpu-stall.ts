// When the GPU worker's engine counts as hung: jobs in flight and no word from the worker (a round, a start, a
// result) for many times the longest engine round so far, long before a job's own time limit would say so.

export interface StallSettings {
  /** How many of the longest round so far (or, before a worker's first round, of its slowest first round) without word. */
  rounds: number;
  /** Never less than this (a round of many children after rounds of a few, an engine compiling its kernels). */
  floorMs: number;
}

export const DEFAULT_STALL: StallSettings = { rounds: 10, floorMs: 5 * 60_000 };

/**
 * One per pool, told of every worker's start, jobs and messages.  Before any round has finished the limit is the
 * jobs' time limit: a worker with jobs in flight that says nothing for that long is hung even if none had started.
 */
export class StallClock {
  private longestRoundMs = 0;
  /** From a worker's first job to its first round (engine start, kernel builds, tuning, one round), the slowest. */
  private longestFirstRoundMs = 0;
  private busySince: number | null = null;
  private roundsThisWorker = 0;
  private lastWordAt = 0;

  constructor(private readonly settings: StallSettings, private readonly timeLimitMs: number) {
    if (!(settings.rounds >= 1) || !(settings.floorMs > 0)) {
      throw new Error(`gpu pool: stall.rounds must be >= 1 and stall.floorMs > 0, got ${JSON.stringify(settings)}`);
    }
  }

  /** A fresh worker: its first round is yet to come. */
  newWorker(): void {
    this.busySince = null;
    this.roundsThisWorker = 0;
  }

  /** Jobs went in flight on a worker that had none: the silence counts from now. */
  busy(now: number): void {
    this.lastWordAt = now;
    this.busySince ??= now;
  }

  /** The worker said something. */
  word(now: number): void {
    this.lastWordAt = now;
  }

  /** The worker finished a round of `seconds`. */
  round(seconds: number, now: number): void {
    this.lastWordAt = now;
    if (this.roundsThisWorker === 0 && this.busySince !== null) this.longestFirstRoundMs = Math.max(this.longestFirstRoundMs, now - this.busySince);
    this.roundsThisWorker += 1;
    this.longestRoundMs = Math.max(this.longestRoundMs, seconds * 1000);
  }

  /** How long a silence means a hung engine now, and why (for the record of what was killed). */
  limit(): { ms: number; why: string } {
    const first = this.roundsThisWorker === 0;
    const base = first ? this.longestFirstRoundMs : this.longestRoundMs;
    const ms = base > 0 ? Math.min(Math.max(this.settings.rounds * base, this.settings.floorMs), this.timeLimitMs) : this.timeLimitMs;
    const what = first ? `whose workers took at most ${inSeconds(base)} to a first round so far` : `whose longest round so far took ${inSeconds(base)}`;
    return { ms, why: `killed after ${inSeconds(ms)} without word from the GPU engine${base > 0 && ms < this.timeLimitMs ? `, ${what}` : ''}` };
  }

  /** Why the engine counts as hung at `now` with jobs in flight, or null. */
  stalled(now: number): string | null {
    const { ms, why } = this.limit();
    return now - this.lastWordAt > ms ? why : null;
  }
}

/** `0.4 s`, `12 s`: enough digits to tell a short round from none. */
function inSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}
