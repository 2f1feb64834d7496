// Resuming a search: the ledger is the record. Batches and results come from it; the strategy comes from the
// checkpoint where the checkpoint agrees with the ledger, else from replaying the ledger's proposals and feedback.
import type { Strategy } from '../controller/strategy';
import { readCheckpoint, type Checkpoint } from './checkpoint';
import type { CandidateRecord, LedgerRecord } from './ledger';

export type ResultRecord = Extract<LedgerRecord, { type: 'result' }>;

export interface BatchState {
  batch: number;
  candidates: CandidateRecord[];
  results: Map<number, ResultRecord>;
  /** The strategy was fed this batch (its update record is in the ledger). */
  updated: boolean;
}

/** What the ledger says happened. */
export interface LedgerState {
  batches: BatchState[];
  /** The first result of each candidate, in ledger order (a repeat would count a reward twice). */
  results: ResultRecord[];
  candidatesProposed: number;
  /** Batches fed back to the strategy, counted from the first. */
  batchesFed: number;
}

/**
 * Batches and results as the ledger records them. Records that contradict the ones before them (a result for a
 * batch not proposed, batches out of order) throw, naming the file and line.
 */
export function readLedgerState(records: LedgerRecord[], lines: number[], file: string): LedgerState {
  const state: LedgerState = { batches: [], results: [], candidatesProposed: 0, batchesFed: 0 };
  records.forEach((r, i) => {
    const where = `${file} line ${lines[i]}`;
    if (r.type === 'batch') {
      if (r.batch !== state.batches.length) throw new Error(`${where}: batch ${r.batch} follows batch ${state.batches.length - 1}`);
      r.candidates.forEach((c, k) => {
        if (c.index !== state.candidatesProposed + k) throw new Error(`${where}: batch ${r.batch} candidate ${c.index} out of order (expected ${state.candidatesProposed + k})`);
      });
      state.batches.push({ batch: r.batch, candidates: r.candidates, results: new Map(), updated: false });
      state.candidatesProposed += r.candidates.length;
    } else if (r.type === 'result') {
      const b = state.batches[r.batch];
      if (!b) throw new Error(`${where}: a result for batch ${r.batch} comes before that batch`);
      if (!b.candidates.some((c) => c.index === r.index)) throw new Error(`${where}: batch ${r.batch} has no candidate ${r.index}`);
      if (b.results.has(r.index)) return; // recorded once; a repeat would count a reward twice
      b.results.set(r.index, r);
      state.results.push(r);
    } else if (r.type === 'update') {
      const b = state.batches[r.batch];
      if (!b) throw new Error(`${where}: an update for batch ${r.batch} comes before that batch`);
      if (b.updated) return;
      if (r.batch !== state.batchesFed) throw new Error(`${where}: batch ${r.batch} fed back before batch ${state.batchesFed}`);
      if (r.rewards.length !== b.candidates.length) throw new Error(`${where}: ${r.rewards.length} rewards for the ${b.candidates.length} candidates of batch ${r.batch}`);
      b.updated = true;
      state.batchesFed++;
    }
  });
  return state;
}

/** Why the checkpoint cannot be the starting point of the strategy, or null when it can. */
function checkpointDisagreement(checkpoint: Checkpoint, state: LedgerState, runId: string): string | null {
  const { batchesProposed: proposed, batchesFed: fed } = checkpoint;
  if (checkpoint.runId !== runId) return `checkpoint.json belongs to run ${checkpoint.runId}, the ledger to ${runId}`;
  if (proposed > state.batches.length) return `checkpoint.json says ${proposed} batches were proposed, the ledger holds ${state.batches.length}`;
  if (fed > state.batchesFed) return `checkpoint.json says ${fed} batches were fed back, the ledger records ${state.batchesFed}`;
  if (fed > proposed) return `checkpoint.json says ${fed} batches were fed back but only ${proposed} proposed`;
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
export function rebuildStrategy(dir: string, runId: string, records: LedgerRecord[], state: LedgerState,
  make: () => Strategy, note: (message: string) => void): RebuiltStrategy {
  let strategy = make();
  let start = { proposed: 0, fed: 0 };
  let why: string | null = null;
  let checkpoint: Checkpoint | null = null;
  try {
    checkpoint = readCheckpoint(dir);
    if (checkpoint) why = checkpointDisagreement(checkpoint, state, runId);
    else if (state.batches.length > 0) why = 'there is no checkpoint.json';
    if (checkpoint && !why) {
      strategy.loadState(checkpoint.strategyState);
      start = { proposed: checkpoint.batchesProposed, fed: checkpoint.batchesFed };
    }
  } catch (e) {
    why = (e as Error).message;
    strategy = make(); // a state that failed to load halfway is not a starting point
  }
  if (why) note(`${why}; the ledger is the record, so the strategy is rebuilt by replaying its ${state.batches.length} batches`);
  let replayed = 0;
  let differs = false;
  const fed = new Set<number>();
  for (const r of records) {
    if (r.type === 'batch' && r.batch >= start.proposed) {
      const again = strategy.propose(r.candidates.length);
      replayed++;
      if (!differs && JSON.stringify(again.map((c) => c.tokens)) !== JSON.stringify(r.candidates.map((c) => c.tokens))) {
        differs = true;
        note(`resume: re-proposing batch ${r.batch} gave other rules than the ledger holds; using the ledger's`);
      }
    } else if (r.type === 'update' && r.batch >= start.fed && !fed.has(r.batch)) {
      fed.add(r.batch); // the first update of a batch is the one that counted
      const batch = state.batches[r.batch];
      strategy.feedback(batch.candidates.map((c, i) => ({ candidate: { tokens: c.tokens, meta: c.meta }, reward: r.rewards[i] })));
      replayed++;
    }
  }
  return { strategy, replayed };
}
