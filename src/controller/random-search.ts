// Random search: every decision uniform over the choices the space's constraints allow (a baseline for PPO).
import type { DecisionSpace } from './decisions';
import { checkCount, checkFeedback, checkOptionKeys, checkStateHeader, positiveInteger } from './feedback-check';
import { drawFresh, loadProposed } from './fresh-draws';
import { Rng } from './rng';
import type { Candidate, Strategy } from './strategy';

/** freshDraws: draws per rule to find one not proposed before (fresh-draws.ts); 1, the default, takes every draw. */
export interface RandomOptions { batchSize?: number; freshDraws?: number }

export class RandomStrategy implements Strategy {
  readonly kind = 'random' as const;
  readonly batchSize: number;
  readonly freshDraws: number;
  private readonly rng: Rng;
  /** Canonical hashes of the rules proposed so far (kept only with freshDraws > 1). */
  private readonly proposed = new Set<string>();
  /** Results seen, and the best (for saveState and reports). */
  evaluated = 0;
  best: { tokens: string[]; reward: number } | null = null;

  constructor(readonly decisions: DecisionSpace, seed: number, options: RandomOptions = {}) {
    checkOptionKeys(options, ['batchSize', 'freshDraws'], 'random');
    this.batchSize = positiveInteger(options.batchSize, 5, 'random option batchSize');
    this.freshDraws = positiveInteger(options.freshDraws, 1, 'random option freshDraws');
    this.rng = new Rng(seed);
  }

  propose(count: number): Candidate[] {
    checkCount(count, 'random');
    const draw = (n: number) => Array.from({ length: n }, () => this.decisions.tokensOf(this.decisions.sampleUniform(this.rng)));
    return drawFresh(count, draw, (tokens) => tokens, this.proposed, this.freshDraws).map((tokens) => ({ tokens, meta: { strategy: 'random' } }));
  }

  feedback(results: Array<{ candidate: Candidate; reward: number }>): void {
    for (const r of checkFeedback(results, this.decisions, 'random')) {
      this.evaluated++;
      if (!this.best || r.reward > this.best.reward) this.best = { tokens: r.tokens, reward: r.reward };
    }
  }

  saveState(): unknown {
    return { format: 'nos-controller-state', version: 1, strategy: 'random', space: this.decisions.signature, rng: this.rng.getState(), evaluated: this.evaluated, best: this.best,
      proposed: [...this.proposed] };
  }

  loadState(state: unknown): void {
    const s = checkStateHeader(state, 'random', this.decisions.signature);
    const best = s.best as RandomStrategy['best'];
    if (best !== null && !(best && Array.isArray(best.tokens) && Number.isFinite(best.reward))) {
      throw new TypeError('random loadState: best must be null or { tokens, reward } with a finite reward');
    }
    if (!(Number.isInteger(s.evaluated) && (s.evaluated as number) >= 0)) throw new TypeError(`random loadState: evaluated must be a count, got ${String(s.evaluated)}`);
    const proposed = loadProposed(s.proposed, 'random loadState');
    this.rng.setState(s.rng);
    this.proposed.clear();
    for (const key of proposed) this.proposed.add(key);
    this.evaluated = s.evaluated as number;
    this.best = best;
  }
}
