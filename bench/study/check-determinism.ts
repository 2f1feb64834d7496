// The claim the study's cache rests on, checked: a rule trained again (a fresh pool of worker processes, another
// time) gives the same reward, best learning rate and sweep, bit for bit.
import type { Envelope, Job } from '../../src/search/backend';
import { createLocalBackend } from '../../src/search/pool-local';
import type { CacheEntry } from './result-cache';

export interface DeterminismCheck { rule: string; seed: number; same: boolean; before: Envelope; after: Envelope }

/** The part of an envelope a reward consists of (not timings, worker or attempt). */
function result(e: Envelope): string {
  return JSON.stringify({ status: e.status, reward: e.reward, bestLr: e.bestLr, sweep: e.outcome?.sweep ?? null });
}

/** Trains each cached job again on a fresh pool of `workers` and compares. `jobs` are the cached jobs (with ids). */
export async function checkDeterminism(entries: Array<{ job: Job; entry: CacheEntry }>, workers: number): Promise<DeterminismCheck[]> {
  const pool = createLocalBackend({ workers, limits: { timeoutMs: 600_000, maxRssMb: 4096 } });
  try {
    await pool.submit(entries.map(({ job }) => job));
    const fresh = new Map<string, Envelope>();
    while (pool.pending() > 0) { const e = await pool.next(); fresh.set(e.jobId, e); }
    return entries.map(({ job, entry }) => {
      const after = fresh.get(job.id)!;
      return { rule: job.rule, seed: job.seed, same: result(after) === result(entry.envelope), before: entry.envelope, after };
    });
  } finally {
    await pool.close();
  }
}
