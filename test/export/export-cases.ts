// Shared by the export tests: the rules every export is held to, their inputs, and nos's own trajectories on them.
import { compileRule, NAMED_RULES, type RuleInfo } from '../../src/compiler';
import { createOptimizer, type OptimizerOptions } from '../../src/runtime/optimizer';
import { seededRandom } from '../support/seeded-random';

export const STEPS = 50;
export const SIZES = [64, 7];
/** The bar: max |export - nos| / (1e-3 + |nos|) over every step and parameter. */
export const TOLERANCE = 1e-4;
/** What the fused path must carry: a decay, a select table, a drop, annealed noise, and the m and v averages. */
export const FUSED_RULE = 'exp(ld*sign(g)*sign(m))*drop(g, 0.1) + 1e-2*anoise*sqrt(v)';

/** Every named rule and every Table 6 rule without random draws (an export draws from its framework's generator). */
export function deterministicRules(): Array<{ name: string; info: RuleInfo }> {
  return Object.keys(NAMED_RULES).map((name) => ({ name, info: compileRule(name) })).filter(({ info }) => info.randomSites === 0);
}

/** Initial parameters and 50 steps of gradients: mixed scales and signs, some exact zeros. */
export function exportInputs(seed = 20171102): { initial: number[][]; grads: number[][][] } {
  const random = seededRandom(seed);
  const f32 = Math.fround;
  const initial = SIZES.map((n) => Array.from({ length: n }, () => f32(2 * random() - 1)));
  const grads = Array.from({ length: STEPS }, (_, t) => SIZES.map((n) => Array.from({ length: n }, (_, i) =>
    ((i + t) % 11 === 0 ? 0 : f32((2 * random() - 1) * 10 ** (-(i % 3)))))));
  return { initial, grads };
}

/** nos's parameters after every step (all tensors concatenated), with `options`. */
export function nosTrajectory(rule: RuleInfo | string, options: OptimizerOptions, inputs = exportInputs()): number[][] {
  const opt = createOptimizer(rule, options);
  const params = inputs.initial.map((w) => Float32Array.from(w));
  const out: number[][] = [];
  for (const step of inputs.grads) {
    opt.step(params, step.map((g) => Float32Array.from(g)));
    out.push(params.flatMap((p) => [...p]));
  }
  opt.dispose();
  return out;
}

/** max |x - nos| / (1e-3 + |nos|) over steps and parameters, with where it is. */
export function worstRelative(run: number[][], nos: number[][]): { error: number; where: string } {
  let worst = { error: 0, where: 'nowhere' };
  nos.forEach((step, t) => step.forEach((x, i) => {
    const a = run[t]?.[i];
    const error = a === undefined || Number.isNaN(a) !== Number.isNaN(x) ? Infinity : Number.isNaN(x) ? 0 : Math.abs(a - x) / (1e-3 + Math.abs(x));
    if (!(error <= worst.error)) worst = { error, where: `step ${t + 1} parameter ${i}: export ${a}, nos ${x}` };
  }));
  return worst;
}
