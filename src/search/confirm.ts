// The confirmation step (--confirm K): the leaderboard's top K rules trained again with two more child seeds, so a
// rule that topped the board on one lucky seed cannot stay there; the report ranks them by the mean over three seeds.
//
// Each training is a `confirm` record in the ledger (rule, hash, seed, envelope), appended as it finishes, so an
// interrupted step resumes with only what is missing. The rules are the top K by the search seed's reward when the
// step runs; a resumed search with a larger budget confirms whichever rules are in its top K then.
import type { Envelope, Job } from './backend';
import type { Ledger, LedgerRecord } from './ledger';
import { checkedEnvelope } from './record-validation';
import type { LeaderboardEntry } from './report';

/** Child seeds beyond the search's own that each confirmed rule trains with. */
export const CONFIRM_EXTRA_SEEDS = 2;

export type ConfirmRecord = Extract<LedgerRecord, { type: 'confirm' }>;

/** The search seed and the confirmation seeds after it: seed+1 and seed+2 (modulo 2^32, the seed range). */
export function confirmSeeds(seed: number): number[] {
  return Array.from({ length: CONFIRM_EXTRA_SEEDS }, (_, i) => (seed + 1 + i) % 2 ** 32);
}

/** A rule's rewards over the three seeds (the search's first), and their summary. */
export interface ConfirmedEntry {
  rank: number; rule: string; hash: string;
  /** Reward per seed, search seed first; 0 for a run that failed. */
  rewards: number[]; seeds: number[];
  /** Status of each confirmation run ('ok', 'diverged', ...), in the order of the confirmation seeds. */
  statuses: string[];
  mean: number; sd: number; min: number; max: number;
  /** The rule's rank on the search seed's leaderboard. */
  searchRank: number;
}

export interface ConfirmProgress { done: number; total: number; rule: string; seed: number; status: string; reward: number }

export interface ConfirmOptions {
  /** The leaderboard now, best first. */
  leaderboard: LeaderboardEntry[];
  /** How many of its top rules to confirm. */
  count: number;
  /** The confirm records already in the ledger. */
  recorded: ConfirmRecord[];
  /** Builds the job of a rule at a seed (the search's job with that seed). */
  makeJob: (entry: LeaderboardEntry, seed: number) => Job;
  searchSeed: number;
  ledger: Ledger;
  /** Hands the jobs to the backend (or reconciles them with a queue that may hold them from before a crash). */
  submit: (jobs: Job[]) => Promise<void>;
  /** Resolves with the next envelope, or rejects when the search is asked to stop. */
  next: () => Promise<Envelope>;
  /** Called once before the first training (done = what the ledger already holds) and after each. */
  onProgress?: (p: ConfirmProgress) => void;
}

function key(hash: string, seed: number): string { return `${hash}:${seed}`; }

/** Trains every (top-K rule, confirmation seed) pair the ledger lacks, appending a confirm record for each. */
export async function confirmTopRules(options: ConfirmOptions): Promise<number> {
  const seeds = confirmSeeds(options.searchSeed);
  const have = new Set(options.recorded.map((r) => key(r.hash, r.seed)));
  const entries = options.leaderboard.filter((e) => e.hash !== null).slice(0, options.count);
  const jobs = new Map<string, { entry: LeaderboardEntry; seed: number }>();
  const list: Job[] = [];
  for (const entry of entries) {
    for (const seed of seeds) {
      if (have.has(key(entry.hash!, seed))) continue;
      const job = options.makeJob(entry, seed);
      jobs.set(job.id, { entry, seed });
      list.push(job);
    }
  }
  const total = entries.length * seeds.length;
  let done = total - list.length;
  if (list.length === 0) return 0;
  options.onProgress?.({ done, total, rule: '', seed: seeds[0], status: '', reward: 0 });
  await options.submit(list);
  while (jobs.size > 0) {
    const received = await options.next();
    const jobId = (received as { jobId?: unknown } | null)?.jobId;
    const job = typeof jobId === 'string' ? jobs.get(jobId) : undefined;
    if (!job) continue; // not one of ours (a late result of the search's own jobs)
    jobs.delete(jobId as string);
    // A worker's bad result becomes this run's error, as in the search itself.
    const envelope = checkedEnvelope(received, jobId as string);
    options.ledger.append({ type: 'confirm', time: new Date().toISOString(), rule: job.entry.rule, hash: job.entry.hash!, seed: job.seed, envelope });
    done++;
    options.onProgress?.({ done, total, rule: job.entry.rule, seed: job.seed, status: envelope.status, reward: envelope.reward ?? 0 });
  }
  return list.length;
}

/**
 * The confirmed ranking: every rule of the leaderboard whose confirmation runs are all recorded (those in the top K
 * when the step ran), by the mean reward over the search seed and the confirmation seeds (a failed run counts 0),
 * best first; ties by search rank.
 */
export function rankConfirmed(leaderboard: LeaderboardEntry[], records: ConfirmRecord[], searchSeed: number): ConfirmedEntry[] {
  const seeds = confirmSeeds(searchSeed);
  const byKey = new Map(records.map((r) => [key(r.hash, r.seed), r]));
  const out: ConfirmedEntry[] = [];
  for (const e of leaderboard) {
    if (!e.hash) continue;
    const runs = seeds.map((s) => byKey.get(key(e.hash!, s)));
    if (runs.some((r) => !r)) continue;
    const rewards = [e.reward, ...runs.map((r) => (r!.envelope.status === 'ok' ? r!.envelope.reward ?? 0 : 0))];
    const mean = rewards.reduce((a, b) => a + b, 0) / rewards.length;
    const sd = Math.sqrt(rewards.reduce((a, x) => a + (x - mean) ** 2, 0) / (rewards.length - 1));
    out.push({ rank: 0, rule: e.rule, hash: e.hash, rewards, seeds: [searchSeed, ...seeds], statuses: runs.map((r) => r!.envelope.status),
      mean, sd, min: Math.min(...rewards), max: Math.max(...rewards), searchRank: e.rank });
  }
  out.sort((a, b) => b.mean - a.mean || a.searchRank - b.searchRank);
  out.forEach((e, i) => { e.rank = i + 1; });
  return out;
}
