// Resuming a search: the ledger is the record. Batches and results come from it, and so does the strategy: its batch
// and update records, in order, are the strategy's history (each a proposal or a feedback); the checkpoint is the
// state after some prefix of that history, used where it agrees with the ledger, and the rest is replayed.
import type { Strategy } from '../controller/strategy';
import { readCheckpoint, type Checkpoint } from './checkpoint';
import type { CandidateRecord, LedgerRecord } from './ledger';
import { InputError } from '../errors';

export type ResultRecord = Extract<LedgerRecord, { type: 'result' }>;

export interface BatchState {
  batch: number;
  candidates: CandidateRecord[];
  results: Map<number, ResultRecord>;
  /** The strategy was fed this batch (its update record is in the ledger). */
  updated: boolean;
  /** Batches fed back when this one was proposed (its staleness at feedback is counted from here). */
  fedBefore: number;
}

/** One step of the strategy's history. */
export type StrategyEvent =
  | { kind: 'propose'; batch: number; candidates: CandidateRecord[] }
  | { kind: 'feed'; batch: number; rewards: number[] };

/** What the ledger says happened. */
export interface LedgerState {
  batches: BatchState[];
  /** The first result of each candidate, in ledger order (a repeat would count a reward twice). */
  results: ResultRecord[];
  candidatesProposed: number;
  /** Batches fed back to the strategy. */
  batchesFed: number;
  /** The strategy's proposals and feedbacks, in the order they happened (a repeated update is not one). */
  events: StrategyEvent[];
}

/**
 * Batches, results and the strategy's history as the ledger records them. Records that contradict the ones before
 * them (a result for a batch not proposed, batches out of order, an update with the wrong number of rewards) throw
 * InputErrors (exit 2: the ledger was changed from outside), naming the file and line. Batches may be fed back in
 * any order: the loop feeds each as it completes.
 */
export function readLedgerState(records: LedgerRecord[], lines: number[], file: string): LedgerState {
  const state: LedgerState = { batches: [], results: [], candidatesProposed: 0, batchesFed: 0, events: [] };
  records.forEach((r, i) => {
    const where = `${file} line ${lines[i]}`;
    if (r.type === 'batch') {
      if (r.batch !== state.batches.length) throw new InputError(`${where}: batch ${r.batch} follows batch ${state.batches.length - 1}`);
      r.candidates.forEach((c, k) => {
        if (c.index !== state.candidatesProposed + k) throw new InputError(`${where}: batch ${r.batch} candidate ${c.index} out of order (expected ${state.candidatesProposed + k})`);
      });
      state.batches.push({ batch: r.batch, candidates: r.candidates, results: new Map(), updated: false, fedBefore: state.batchesFed });
      state.candidatesProposed += r.candidates.length;
      state.events.push({ kind: 'propose', batch: r.batch, candidates: r.candidates });
    } else if (r.type === 'result') {
      const b = state.batches[r.batch];
      if (!b) throw new InputError(`${where}: a result for batch ${r.batch} comes before that batch`);
      if (!b.candidates.some((c) => c.index === r.index)) throw new InputError(`${where}: batch ${r.batch} has no candidate ${r.index}`);
      if (b.results.has(r.index)) return; // recorded once; a repeat would count a reward twice
      b.results.set(r.index, r);
      state.results.push(r);
    } else if (r.type === 'update') {
      const b = state.batches[r.batch];
      if (!b) throw new InputError(`${where}: an update for batch ${r.batch} comes before that batch`);
      if (b.updated) return; // the first update of a batch is the one that counted
      if (r.rewards.length !== b.candidates.length) throw new InputError(`${where}: ${r.rewards.length} rewards for the ${b.candidates.length} candidates of batch ${r.batch}`);
      b.updated = true;
      state.batchesFed++;
      state.events.push({ kind: 'feed', batch: r.batch, rewards: r.rewards });
    }
  });
  return state;
}

/**
 * Applies events[from..] to a strategy whose state reflects events[0..from): proposals are made again (advancing
 * its random stream exactly as the first time; the ledger's candidates stay the ones used) and feedbacks get the
 * recorded rewards. Returns the batches whose proposal came out other than the ledger's (a strategy that is not
 * deterministic, or another build).
 */
export function replayEvents(strategy: Strategy, events: readonly StrategyEvent[], from: number): number[] {
  const proposed = new Map<number, CandidateRecord[]>();
  for (const e of events) if (e.kind === 'propose') proposed.set(e.batch, e.candidates);
  const differing: number[] = [];
  for (const e of events.slice(from)) {
    if (e.kind === 'propose') {
      const again = strategy.propose(e.candidates.length);
      if (JSON.stringify(again.map((c) => c.tokens)) !== JSON.stringify(e.candidates.map((c) => c.tokens))) differing.push(e.batch);
    } else {
      const candidates = proposed.get(e.batch)!;
      strategy.feedback(candidates.map((c, i) => ({ candidate: { tokens: c.tokens, meta: c.meta }, reward: e.rewards[i] })));
    }
  }
  return differing;
}

/** Why the checkpoint cannot be the starting point of the strategy, or null when it can. */
function checkpointDisagreement(checkpoint: Checkpoint, state: LedgerState, runId: string): string | null {
  if (checkpoint.runId !== runId) return `checkpoint.json belongs to run ${checkpoint.runId}, the ledger to ${runId}`;
  if (checkpoint.events > state.events.length) {
    return `checkpoint.json reflects ${checkpoint.events} proposals and feedbacks, the ledger holds ${state.events.length}`;
  }
  return null;
}

export interface RebuiltStrategy {
  strategy: Strategy;
  /** Strategy calls replayed from the ledger: when > 0, the checkpoint is behind and must be written again. */
  replayed: number;
}

/**
 * The strategy as the ledger left it. It starts from the checkpoint when that agrees with the ledger (it may lag
 * by the proposal or the feedback a crash cut short), else from a fresh strategy with the search's seed; then every
 * proposal and feedback the ledger holds and the start does not is replayed in ledger order (the strategies are
 * deterministic, so this rebuilds the same state). Notes say why a checkpoint was not used.
 */
export function rebuildStrategy(dir: string, runId: string, state: LedgerState, make: () => Strategy,
  note: (message: string) => void): RebuiltStrategy {
  let strategy = make();
  let from = 0;
  let why: string | null = null;
  try {
    const checkpoint = readCheckpoint(dir);
    if (checkpoint) why = checkpointDisagreement(checkpoint, state, runId);
    else if (state.events.length > 0) why = 'there is no checkpoint.json';
    if (checkpoint && !why) {
      strategy.loadState(checkpoint.strategyState);
      from = checkpoint.events;
    }
  } catch (e) {
    why = (e as Error).message;
    strategy = make(); // a state that failed to load halfway is not a starting point
  }
  if (why) note(`${why}; the ledger is the record, so the strategy is rebuilt by replaying its ${state.batches.length} batches`);
  const differing = replayEvents(strategy, state.events, from);
  if (differing.length > 0) note(`resume: re-proposing batch ${differing[0]} gave other rules than the ledger holds; using the ledger's`);
  return { strategy, replayed: state.events.length - from };
}
