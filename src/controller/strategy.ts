// The controller's public face: the Strategy interface every search strategy implements, and createStrategy.
import { DecisionSpace } from './decisions';
import { EvolutionStrategy, type EvolutionOptions } from './evolution';
import { PpoStrategy, type PpoOptions } from './ppo';
import { RandomStrategy } from './random-search';
import { normaliseSearchSpace, type SearchSpace } from './search-space';

export { loadSearchSpace, validateSearchSpace, countRules, presetNames, SearchSpaceError } from './search-space';
export type { SearchSpace, SearchConstraints, PpoSettings } from './search-space';
export type { PpoOptions } from './ppo';
export { PPO_PRESETS, parsePpoSettings, resolvePpoConfig } from './ppo-settings';
export type { PpoConfig, PpoPresetName } from './ppo-settings';
export type { EvolutionOptions } from './evolution';

export interface Candidate { tokens: string[]; meta: unknown } // meta is JSON (PPO stores log-probs)

export interface Strategy {
  readonly kind: StrategyKind;
  /** The batch size the strategy was configured for (PPO's batchSize; the search loop may use it). */
  readonly batchSize: number;
  propose(count: number): Candidate[];
  /** Once per complete batch; rewards must be finite (failures count as the floor, 0). */
  feedback(results: Array<{ candidate: Candidate; reward: number }>): void;
  /** JSON: includes weights, optimizer state, baseline and RNG state. */
  saveState(): unknown;
  loadState(state: unknown): void;
}

export type StrategyKind = 'ppo' | 'random' | 'evolution';
export const STRATEGY_KINDS: readonly StrategyKind[] = ['ppo', 'random', 'evolution'];

export function createStrategy(kind: StrategyKind, space: SearchSpace, seed: number, options: object = {}): Strategy {
  if (!Number.isFinite(seed)) throw new TypeError(`createStrategy: seed must be a finite number, got ${seed}`);
  if (options === null || typeof options !== 'object') throw new TypeError(`createStrategy: options must be an object, got ${options}`);
  const decisions = new DecisionSpace(normaliseSearchSpace(space));
  switch (kind) {
    case 'ppo':
      return new PpoStrategy(decisions, seed, options as PpoOptions, space.ppo);
    case 'random':
      return new RandomStrategy(decisions, seed, options as { batchSize?: number });
    case 'evolution':
      return new EvolutionStrategy(decisions, seed, options as EvolutionOptions);
    default:
      throw new TypeError(`createStrategy: unknown strategy '${String(kind)}' (expected ${STRATEGY_KINDS.join(', ')})`);
  }
}
