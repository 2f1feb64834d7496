// Regularized evolution (Real et al. 2019): tournament-select a good rule, mutate one decision, age out the oldest.
//
// Steady state: the first `populationSize` proposals are uniform random rules; every later proposal is a mutant of
// the best of `tournamentSize` members of the population as it is then (drawn without replacement; fewer while the
// population is smaller, a random rule while it is empty, as when many proposals are in flight at the start). A
// mutation changes one decision that has an alternative and keeps every later decision that is still allowed,
// redrawing only those the change made invalid (a new depth, a now-equal operand pair, a now-final add), so every
// child is valid. Results join the population as they are fed back (one at a time with batches of one, the search's
// default for evolution: each finished rule lets one child be bred) and the oldest members leave, whatever their
// reward.
import type { DecisionPath, DecisionSpace } from './decisions';
import { checkCount, checkFeedback, checkOptionKeys, checkStateHeader, positiveInteger } from './feedback-check';
import { Rng } from './rng';
import type { Candidate, Strategy } from './strategy';

export interface EvolutionOptions { populationSize?: number; tournamentSize?: number; batchSize?: number }

export interface Member { tokens: string[]; reward: number }

export class EvolutionStrategy implements Strategy {
  readonly kind = 'evolution' as const;
  readonly batchSize: number;
  readonly populationSize: number;
  readonly tournamentSize: number;
  private readonly rng: Rng;
  /** Oldest first. */
  population: Member[] = [];
  /** Rules proposed so far (the first populationSize are random). */
  proposed = 0;

  constructor(readonly decisions: DecisionSpace, seed: number, options: EvolutionOptions = {}) {
    checkOptionKeys(options, ['populationSize', 'tournamentSize', 'batchSize'], 'evolution');
    this.populationSize = positiveInteger(options.populationSize, 20, 'evolution option populationSize');
    this.tournamentSize = positiveInteger(options.tournamentSize, 5, 'evolution option tournamentSize');
    this.batchSize = positiveInteger(options.batchSize, 5, 'evolution option batchSize');
    if (this.tournamentSize > this.populationSize) {
      throw new RangeError(`evolution: tournamentSize ${this.tournamentSize} exceeds populationSize ${this.populationSize}`);
    }
    this.rng = new Rng(seed);
  }

  propose(count: number): Candidate[] {
    checkCount(count, 'evolution');
    const out: Candidate[] = [];
    for (let i = 0; i < count; i++, this.proposed++) {
      if (this.proposed < this.populationSize || this.population.length === 0) {
        out.push({ tokens: this.decisions.tokensOf(this.decisions.sampleUniform(this.rng)), meta: { strategy: 'evolution', origin: 'random' } });
        continue;
      }
      const parent = this.tournament();
      const { path, step } = this.mutate(this.decisions.pathOf(parent.tokens));
      out.push({ tokens: this.decisions.tokensOf(path), meta: { strategy: 'evolution', origin: 'mutation', parent: parent.tokens.join(' '), step } });
    }
    return out;
  }

  feedback(results: Array<{ candidate: Candidate; reward: number }>): void {
    for (const r of checkFeedback(results, this.decisions, 'evolution')) this.population.push({ tokens: r.tokens, reward: r.reward });
    while (this.population.length > this.populationSize) this.population.shift();
  }

  /** The best of tournamentSize distinct members, or of all while fewer (the youngest wins a tie). */
  tournament(): Member {
    const indices = this.population.map((_m, i) => i);
    let best: Member | null = null;
    let bestIndex = -1;
    for (let k = 0; k < Math.min(this.tournamentSize, indices.length); k++) {
      const pick = k + this.rng.int(indices.length - k);
      [indices[k], indices[pick]] = [indices[pick], indices[k]];
      const i = indices[k];
      const member = this.population[i];
      if (!best || member.reward > best.reward || (member.reward === best.reward && i > bestIndex)) { best = member; bestIndex = i; }
    }
    return best!;
  }

  /** A valid path differing from parent at decision `step` (and where that change forces it, after). */
  mutate(parent: DecisionPath): { path: DecisionPath; step: number } {
    const ds = this.decisions;
    const mutable: number[] = [];
    for (let s = 0; s < parent.choices.length; s++) {
      const mask = ds.allowed(parent.choices.slice(0, s));
      if (mask.reduce((n, x) => n + x, 0) >= 2) mutable.push(s);
    }
    if (mutable.length === 0) return { path: parent, step: -1 }; // a space with exactly one rule
    const step = mutable[this.rng.int(mutable.length)];
    const choices = parent.choices.slice(0, step);
    const mask = ds.allowed(choices);
    mask[parent.choices[step]] = 0;
    choices.push(this.rng.categorical(mask));
    for (;;) {
      const depth = ds.depthOf(choices)!;
      if (choices.length === ds.steps(depth)) return { path: { depth, choices }, step };
      const allowed = ds.allowed(choices);
      const old = parent.choices[choices.length];
      choices.push(old !== undefined && allowed[old] ? old : this.rng.categorical(allowed));
    }
  }

  saveState(): unknown {
    return { format: 'nos-controller-state', version: 1, strategy: 'evolution', space: this.decisions.signature, rng: this.rng.getState(), population: this.population, proposed: this.proposed };
  }

  loadState(state: unknown): void {
    const s = checkStateHeader(state, 'evolution', this.decisions.signature);
    if (!Array.isArray(s.population)) throw new TypeError('evolution loadState: population must be an array');
    const population = s.population.map((m: unknown, i: number) => {
      const member = m as Member;
      if (!member || !Array.isArray(member.tokens) || typeof member.reward !== 'number' || !Number.isFinite(member.reward)) {
        throw new TypeError(`evolution loadState: population[${i}] must be { tokens, reward } with a finite reward`);
      }
      this.decisions.pathOf(member.tokens);
      return { tokens: [...member.tokens], reward: member.reward };
    });
    // States saved before `proposed` existed: the old rule was "random until the population is full".
    const proposed = s.proposed === undefined ? population.length : s.proposed;
    if (!(Number.isInteger(proposed) && (proposed as number) >= 0)) throw new TypeError(`evolution loadState: proposed must be a count, got ${String(s.proposed)}`);
    this.rng.setState(s.rng);
    this.population = population;
    this.proposed = proposed as number;
  }
}
