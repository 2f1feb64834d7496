// PPO over the LSTM policy (paper 3.2, 4.2): clipped ratio, moving-average baseline, entropy bonus, Adam on the weights.
//
// Each decision of a rule is one action; all decisions of a rule share its advantage, R - b where b is an
// exponential moving average of past rewards (the batch mean before the first batch), divided by a running RMS of
// R - b when `advantage` is 'normalized'. The old log-probability of each decision travels in Candidate.meta, so a
// batch evaluated across a resume still trains with the right ratios.
// Objective per batch, maximised for `epochs` Adam steps:
//   (1/B) sum_rules sum_decisions [ min(r A, clip(r, 1-eps, 1+eps) A) + entropyWeight * H(decision) ]
import * as ad from './autodiff';
import { createControllerAdam, type ParamOptimizer } from './adam';
import type { DecisionPath, DecisionSpace } from './decisions';
import { checkCount, checkFeedback, checkStateHeader } from './feedback-check';
import { drawFresh, loadProposed } from './fresh-draws';
import { LstmPolicy } from './lstm-policy';
import { checkPpoSettings, PPO_PRESETS, resolvePpoConfig, type PpoConfig, type PpoSettings } from './ppo-settings';
import { Rng } from './rng';
import { decodeState, encodeState, expectFloat32 } from './state-codec';
import type { Candidate, Strategy } from './strategy';

export type { PpoConfig, PpoSettings } from './ppo-settings';
/** createStrategy's options for PPO: any PPO settings (a preset, then keys). */
export type PpoOptions = PpoSettings;

/** The smallest RMS of R - b a normalized advantage divides by (rewards are accuracies: 1e-3 is a tenth of a point). */
const MIN_ADVANTAGE_RMS = 1e-3;

export interface PpoMeta { strategy: 'ppo'; depth: number; logProbs: number[] }

export class PpoStrategy implements Strategy {
  readonly kind = 'ppo' as const;
  /** The settings in force (a loaded state brings its own: see loadState). */
  config: PpoConfig;
  readonly policy: LstmPolicy;
  private readonly rng: Rng;
  private optimizer: ParamOptimizer;
  /** Moving average of rewards; null before the first batch. */
  baseline: number | null = null;
  /** Moving average of (R - b)^2, the scale of normalized advantages; null before the first batch. */
  advantageMeanSquare: number | null = null;
  /** Batches trained on so far. */
  updates = 0;
  /** Canonical hashes of the rules proposed so far (what freshDraws avoids drawing again). */
  private readonly proposed = new Set<string>();

  /** `spaceSettings` (the space file's `ppo` block) come first; `options` win over them (see resolvePpoConfig). */
  constructor(readonly decisions: DecisionSpace, seed: number, options: PpoOptions = {}, spaceSettings?: PpoSettings) {
    this.config = resolvePpoConfig(spaceSettings, options);
    this.rng = new Rng(seed);
    const { hiddenSize, embeddingSize, initRange } = this.config;
    this.policy = new LstmPolicy(decisions, { hiddenSize, embeddingSize, initRange }, this.rng);
    this.optimizer = createControllerAdam(this.config.learningRate);
  }

  get batchSize(): number { return this.config.batchSize; }

  /**
   * Samples `count` rules. With freshDraws > 1 a draw whose rule this controller proposed before (or earlier in the
   * batch) is put back and drawn again (fresh-draws.ts): once the policy has found a good family, it explores the
   * family's untried rules instead of resampling its known ones (a repeat costs no training but teaches nothing).
   * The old log-probabilities are the unconditioned policy's.
   */
  propose(count: number): Candidate[] {
    checkCount(count, 'ppo');
    if (count === 0) return [];
    const chosen = drawFresh(count, (n) => this.policy.sample(n, this.rng), (d) => this.decisions.tokensOf(d.path), this.proposed, this.config.freshDraws);
    return chosen.map(({ path, logProbs }) => {
      const meta: PpoMeta = { strategy: 'ppo', depth: path.depth, logProbs };
      return { tokens: this.decisions.tokensOf(path), meta };
    });
  }

  feedback(results: Array<{ candidate: Candidate; reward: number }>): void {
    const checked = checkFeedback(results, this.decisions, 'ppo');
    if (checked.length === 0) return;
    const oldLogProbs = checked.map((r, i) => readMeta(r.candidate.meta, r.path, i));
    const rewards = checked.map((r) => r.reward);
    const advantages = this.advantages(rewards);
    for (let epoch = 0; epoch < this.config.epochs; epoch++) this.step(checked.map((r) => r.path), oldLogProbs, advantages);
    this.updates++;
  }

  /** The batch's advantages; then the baseline (and the advantage scale) move on past these rewards. */
  private advantages(rewards: number[]): number[] {
    const next = computeAdvantages(rewards, { baseline: this.baseline, meanSquare: this.advantageMeanSquare }, this.config);
    this.baseline = next.baseline;
    this.advantageMeanSquare = next.meanSquare;
    return next.advantages;
  }

  private step(paths: DecisionPath[], oldLogProbs: number[][], advantages: number[]): void {
    const params = this.policy.params;
    for (const p of params) p.zeroGrad();
    try {
      ad.backward(ppoLoss(this.policy, paths, oldLogProbs, advantages, this.config));
    } finally {
      ad.clearTape();
    }
    const grads = params.map((p) => (p.grad as Float32Array | null) ?? new Float32Array(p.size));
    this.optimizer.update(params.map((p) => p.data as Float32Array), grads);
  }

  saveState(): unknown {
    const params: Record<string, Float32Array> = {};
    this.policy.params.forEach((p, i) => { params[this.policy.paramNames[i]] = Float32Array.from(p.data); });
    return encodeState({
      format: 'nos-controller-state', version: 1, strategy: 'ppo', space: this.decisions.signature,
      config: this.config, params, optimizer: this.optimizer.stateDict(), baseline: this.baseline,
      advantageMeanSquare: this.advantageMeanSquare, updates: this.updates, rng: this.rng.getState(),
      proposed: [...this.proposed],
    });
  }

  loadState(state: unknown): void {
    const s = checkStateHeader(decodeState(state, 'ppo state'), 'ppo', this.decisions.signature);
    const config = savedConfig(s.config, this.config);
    const saved = s.params as Record<string, unknown>;
    const values = this.policy.params.map((p, i) => expectFloat32(saved?.[this.policy.paramNames[i]], p.size, `ppo state params.${this.policy.paramNames[i]}`));
    if (s.baseline !== null && !(typeof s.baseline === 'number' && Number.isFinite(s.baseline))) throw new RangeError(`ppo loadState: baseline must be a finite number or null, got ${String(s.baseline)}`);
    const meanSquare = s.advantageMeanSquare ?? null; // absent in states saved before normalized advantages
    if (meanSquare !== null && !(typeof meanSquare === 'number' && meanSquare >= 0 && Number.isFinite(meanSquare))) throw new RangeError(`ppo loadState: advantageMeanSquare must be a finite number >= 0 or null, got ${String(meanSquare)}`);
    const optimizer = createControllerAdam(config.learningRate);
    // A state saved before the first update holds an optimizer that has seen no tensors yet; the runtime's
    // loadStateDict would pin it to zero tensors, so start a fresh one (the same thing).
    const optimizerStep = (s.optimizer as { step?: unknown } | null)?.step;
    if (optimizerStep !== 0) optimizer.loadStateDict(s.optimizer);
    const rng = new Rng(0);
    rng.setState(s.rng);
    const proposed = loadProposed(s.proposed, 'ppo loadState');
    // Everything checked: commit.
    this.policy.params.forEach((p, i) => (p.data as Float32Array).set(values[i]));
    this.config = config;
    this.optimizer = optimizer;
    this.baseline = s.baseline as number | null;
    this.advantageMeanSquare = meanSquare as number | null;
    this.updates = Number(s.updates) || 0;
    this.rng.setState(rng.getState());
    this.proposed.clear();
    for (const key of proposed) this.proposed.add(key);
  }
}

/** The PPO loss (the negated objective) of a batch under the policy's current weights, recording gradients. */
export function ppoLoss(policy: LstmPolicy, paths: DecisionPath[], oldLogProbs: number[][], advantages: number[],
  settings: { clip: number; entropyWeight: number }): ad.Tensor {
  const { clip, entropyWeight } = settings;
  const B = paths.length;
  const unrolled = policy.evaluate(paths);
  let objective: ad.Tensor | null = null;
  for (let s = 0; s < unrolled.logProbs.length; s++) {
    const w = unrolled.weights[s];
    // Steps past the end of a shorter rule carry weight 0: no ratio term, no entropy.
    const old = ad.tensor(paths.map((_p, i) => (w[i] ? oldLogProbs[i][s] : 0)), B, 1);
    const weightedAdvantage = ad.tensor(advantages.map((a, i) => a * w[i]), B, 1);
    const ratio = ad.exp(ad.sub(unrolled.logProbs[s], old));
    const surrogate = ad.minimum(ad.mul(ratio, weightedAdvantage), ad.mul(ad.clamp(ratio, 1 - clip, 1 + clip), weightedAdvantage));
    const entropy = ad.scale(ad.mul(unrolled.entropies[s], ad.tensor(w, B, 1)), entropyWeight);
    const term = ad.sum(ad.add(surrogate, entropy));
    objective = objective ? ad.add(objective, term) : term;
  }
  return ad.scale(objective!, -1 / B);
}

/**
 * The advantages of a batch's rewards, and the baseline and mean square after it. The baseline b (the batch mean
 * before the first batch) is the same for the whole batch; afterwards b and the mean square of R - b move on past
 * each reward: b <- d b + (1 - d) R. With `advantage: 'normalized'` the advantages are divided by the RMS of R - b
 * over past batches (this batch's own before the first), floored at MIN_ADVANTAGE_RMS, so their scale, and the
 * entropy bonus's weight against them, stays put as rewards bunch up.
 */
export function computeAdvantages(rewards: readonly number[], before: { baseline: number | null; meanSquare: number | null },
  settings: { baselineDecay: number; advantage: PpoConfig['advantage'] }): { advantages: number[]; baseline: number; meanSquare: number } {
  const decay = settings.baselineDecay;
  const baseline = before.baseline ?? rewards.reduce((s, x) => s + x, 0) / rewards.length;
  const deviations = rewards.map((r) => r - baseline);
  const meanSquare = before.meanSquare ?? deviations.reduce((s, d) => s + d * d, 0) / deviations.length;
  const scale = settings.advantage === 'normalized' ? 1 / Math.max(Math.sqrt(meanSquare), MIN_ADVANTAGE_RMS) : 1;
  let b = baseline;
  let ms = meanSquare;
  for (const r of rewards) {
    ms = decay * ms + (1 - decay) * (r - b) ** 2;
    b = decay * b + (1 - decay) * r;
  }
  return { advantages: deviations.map((d) => d * scale), baseline: b, meanSquare: ms };
}

/**
 * The settings a saved state was trained with: a resumed search goes on as it started, whatever the defaults are
 * now. States saved before a setting existed ran the paper's algorithm, so a missing key takes the paper's value.
 * The network's shape must match this strategy's (its weights were allocated for it).
 */
function savedConfig(saved: unknown, current: PpoConfig): PpoConfig {
  if (saved === null || typeof saved !== 'object') throw new TypeError('ppo loadState: the state has no config');
  const known = Object.fromEntries(Object.entries(saved as Record<string, unknown>).filter(([k]) => k in PPO_PRESETS.paper));
  let config: PpoConfig;
  try {
    config = { ...PPO_PRESETS.paper, ...checkPpoSettings(known, 'ppo loadState: saved config') } as PpoConfig;
  } catch (e) {
    throw new RangeError((e as Error).message);
  }
  for (const key of ['hiddenSize', 'embeddingSize'] as const) {
    if (config[key] !== current[key]) throw new RangeError(`ppo loadState: saved ${key} ${config[key]} differs from this strategy's ${current[key]}`);
  }
  return config;
}

function readMeta(meta: unknown, path: DecisionPath, index: number): number[] {
  const m = meta as Partial<PpoMeta> | null;
  const where = `ppo feedback: result ${index}`;
  if (!m || m.strategy !== 'ppo' || !Array.isArray(m.logProbs)) throw new TypeError(`${where}: candidate.meta has no PPO log-probabilities (was it proposed by another strategy?)`);
  if (m.logProbs.length !== path.choices.length) throw new RangeError(`${where}: meta holds ${m.logProbs.length} log-probabilities for ${path.choices.length} decisions`);
  for (const lp of m.logProbs) if (!(typeof lp === 'number' && lp <= 0 && Number.isFinite(lp))) throw new RangeError(`${where}: log-probability ${String(lp)} is not a finite number <= 0`);
  return m.logProbs;
}
