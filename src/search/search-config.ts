// The resolved settings of one search (stored in config.json and the ledger's start record) and their validation.
import type { RunLimits } from './backend';
import { MAX_PROCESSES, MAX_TIMEOUT_MS, runLimitsProblem } from './limits';
import type { FakeProtocolConfig } from './fake-evaluator';
import type { ProtocolConfig } from '../runtime/child/protocol';
import type { SearchSpace } from '../controller/strategy';
import { FIDELITIES, type Fidelity } from './fidelity';

export type StrategyKind = 'ppo' | 'random' | 'evolution';
export const STRATEGY_KINDS: readonly StrategyKind[] = ['ppo', 'random', 'evolution'];

export interface SearchConfig {
  /** Rules to sample in all (the x axis of the reward plot ends here). */
  budget: number;
  /** Rules per controller batch (the paper: 5). */
  batchSize: number;
  strategy: StrategyKind;
  strategyOptions: Record<string, unknown>;
  /** The search space itself, so a resume does not depend on the file it came from. */
  space: SearchSpace;
  /** What the user named (preset or file), for the report. */
  spaceSource: string;
  protocol: ProtocolConfig | FakeProtocolConfig;
  /** The dataset (absent: the default); its fingerprint (fingerprintData) when the search's own workers train on it. */
  data: { path?: string; fingerprint?: string };
  device: 'cpu' | 'cuda';
  seed: number;
  workers: number;
  limits: RunLimits;
  /** redis://... when the jobs go through the Redis backend instead of the local pool. */
  queue?: string;
  /**
   * Trainings kept queued or running: the loop samples a new batch whenever fewer are. Absent in folders made before
   * it existed: then the default for the backend (defaultInFlight).
   */
  inFlight?: number;
  /**
   * How many of the leaderboard's top rules the search trains again with two more child seeds when its budget is
   * spent (src/search/confirm.ts); 0 or absent (folders made before it existed): none.
   */
  confirm?: number;
  /**
   * Refuse without training a rule that reads no gradient or lowers no probe problem's loss (hurdles.ts); reuse the
   * result of a rule that computes the same function (fingerprint.ts). Absent in folders made before they existed:
   * off, as those searches ran.
   */
  hurdles?: boolean;
  fec?: boolean;
  /** How rules are trained (fidelity.ts); absent in folders made before it existed: 'full'. */
  fidelity?: Fidelity;
}

/** `nos search --confirm` when not given: the top 10 rules are confirmed. */
export const DEFAULT_CONFIRM = 10;

/** With --queue, the default --in-flight: enough to keep 16 single-job workers busy with one job waiting for each. */
export const QUEUE_IN_FLIGHT = 32;

/** Rules in flight on the GPU backend by default: enough sweeps (7 children each) to keep ~1,000 engine slots busy. */
export const GPU_IN_FLIGHT = 256;

/** Local workers: two jobs per worker, so a worker that finishes finds its next job already queued. */
export function defaultInFlight(config: Pick<SearchConfig, 'queue' | 'workers'> & { device?: string }): number {
  if (config.queue) return QUEUE_IN_FLIGHT;
  return config.device === 'cuda' ? GPU_IN_FLIGHT : 2 * config.workers;
}

/** Throws a clear error naming the first bad field. */
export function validateConfig(config: SearchConfig): void {
  const positiveInt = (key: 'budget' | 'batchSize' | 'workers') => {
    if (!Number.isInteger(config[key]) || config[key] < 1) throw new Error(`search config: ${key} must be an integer >= 1, got ${JSON.stringify(config[key])}`);
  };
  positiveInt('budget');
  positiveInt('batchSize');
  positiveInt('workers');
  for (const key of ['hurdles', 'fec'] as const) {
    if (config[key] !== undefined && typeof config[key] !== 'boolean') throw new Error(`search config: ${key} must be true or false, got ${JSON.stringify(config[key])}`);
  }
  if (config.fidelity !== undefined && !FIDELITIES.includes(config.fidelity)) {
    throw new Error(`search config: fidelity must be one of ${FIDELITIES.join(', ')}, got ${JSON.stringify(config.fidelity)}`);
  }
  if (config.device === 'cuda' && (config.fidelity ?? 'full') !== 'full') {
    throw new Error(`search config: fidelity ${config.fidelity} is not available with device cuda (the child engine trains the full protocol)`);
  }
  if (config.inFlight !== undefined && (!Number.isInteger(config.inFlight) || config.inFlight < 1)) {
    throw new Error(`search config: inFlight must be an integer >= 1, got ${JSON.stringify(config.inFlight)}`);
  }
  if (config.workers > MAX_PROCESSES) throw new Error(`search config: workers must be at most ${MAX_PROCESSES}, got ${config.workers}`);
  if (config.confirm !== undefined && (!Number.isInteger(config.confirm) || config.confirm < 0)) {
    throw new Error(`search config: confirm must be an integer >= 0, got ${JSON.stringify(config.confirm)}`);
  }
  if (!STRATEGY_KINDS.includes(config.strategy)) throw new Error(`search config: strategy must be one of ${STRATEGY_KINDS.join(', ')}, got ${JSON.stringify(config.strategy)}`);
  if (!Number.isInteger(config.seed) || config.seed < 0 || config.seed > 0xffffffff) throw new Error(`search config: seed must be an integer in [0, 2^32), got ${JSON.stringify(config.seed)}`);
  if (config.device !== 'cpu' && config.device !== 'cuda') throw new Error(`search config: device must be cpu or cuda, got ${JSON.stringify(config.device)}`);
  const limits = runLimitsProblem(config.limits);
  if (limits) throw new Error(`search config: limits.${limits}`);
  if (!config.protocol || typeof (config.protocol as { name?: unknown }).name !== 'string') throw new Error('search config: protocol must be an object with a name');
  if (!config.space || typeof config.space !== 'object') throw new Error('search config: space must be a search space object');
}

/** Default limits for a protocol: its own time cap plus slack for loading (at most what a timer waits), 4 GiB. */
export function defaultLimits(protocol: ProtocolConfig | FakeProtocolConfig): RunLimits {
  const maxSeconds = (protocol as ProtocolConfig).maxSeconds;
  const timeoutMs = typeof maxSeconds === 'number' && maxSeconds > 0 ? Math.round(maxSeconds * 1000 * 1.25 + 60_000) : 120_000;
  return { timeoutMs: Math.min(timeoutMs, MAX_TIMEOUT_MS), maxRssMb: 4096 };
}
