// The job contract between the search loop and whatever runs child trainings (local process pool, BullMQ on Redis).
import type { EvalOutcome, ProtocolConfig } from '../runtime/child/protocol';
import { NosError } from '../errors';

/** The protocol of a fake job: a fast deterministic evaluator for tests and queue benchmarks (see fake-evaluator.ts). */
export interface FakeProtocol { name: 'fake'; [k: string]: unknown }

export interface Job {
  /** Stable per candidate: `${runId}:${index}`. */
  id: string;
  /** Canonical infix of the rule. */
  rule: string;
  protocol: ProtocolConfig | FakeProtocol;
  /** The dataset; its fingerprint (the search's, when it read the data itself) makes a worker refuse other data. */
  data: { path?: string; fingerprint?: string };
  device: 'cpu' | 'cuda';
  seed: number;
  /** Versions of the compiler and the protocol the job was made with; a worker on other versions refuses it. */
  versions: { compiler: number; protocol: number };
}

/**
 * no-gradient and no-descent are the search's hurdles (src/search/hurdles.ts): the rule was refused before training,
 * at the floor reward; no worker reports them.
 */
export type JobStatus = 'ok' | 'diverged' | 'error' | 'crashed' | 'timeout' | 'oom' | 'version-mismatch' | 'no-gradient' | 'no-descent';

export const JOB_STATUSES: readonly JobStatus[] = ['ok', 'diverged', 'error', 'crashed', 'timeout', 'oom', 'version-mismatch', 'no-gradient', 'no-descent'];

/** The hurdles' refusals: the rule was judged before training. */
export const HURDLE_STATUSES: ReadonlySet<JobStatus> = new Set<JobStatus>(['no-gradient', 'no-descent']);
/** Statuses that are a verdict on the rule itself rather than a failure to judge it. */
export const VERDICT_STATUSES: ReadonlySet<JobStatus> = new Set<JobStatus>(['ok', 'diverged', ...HURDLE_STATUSES]);

/** The result of one job. The reward is never a bare number: the status says whether it means anything. */
export interface Envelope {
  jobId: string;
  status: JobStatus;
  /** Finite; 0 (the floor) for a failed run; null only when no run produced one. */
  reward: number | null;
  bestLr: number | null;
  timings: { queuedMs: number; runMs: number };
  /** 1 for the first try, 2 for the retry after a crash. */
  attempt: number;
  /** Which worker ran it (e.g. `local:2:pid1234`, `redis:host:pid`). */
  worker: string;
  error?: string;
  outcome?: EvalOutcome;
}

export interface Backend {
  submit(jobs: Job[]): Promise<void>;
  /** Resolves with the next finished job (any order); rejects if nothing is pending, or with a GpuUnusableError. */
  next(): Promise<Envelope>;
  /** Jobs submitted and not yet returned by next(). */
  pending(): number;
  close(): Promise<void>;
  /** Jobs in flight that keep this backend busy, where it knows better than the search's default --in-flight. */
  inFlightHint?(): number;
}

/**
 * The GPU cannot train (its engine does not start, or fails even a control rule): no job is at fault and none is
 * recorded; the search stops, to be resumed once it works (src/search/pool-gpu.ts).
 */
export class GpuUnusableError extends NosError {}

/** Time and memory limits for one job run in a child process. */
export interface RunLimits { timeoutMs: number; maxRssMb: number }
