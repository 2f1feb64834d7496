// The functional equivalence cache (AutoML-Zero's FEC): a rule's fingerprint is what it outputs for a few steps on
// fixed random inputs; a rule whose fingerprint matches one already judged is the same function under another
// spelling (sqrt(g2)*sign(g), g*sign(g)*sign(g) and g), and takes that rule's result instead of training again.
import type { RuleInfo } from '../compiler';
import { RuleSandbox } from './rule-sandbox';

/**
 * Elements per step: the first half start each step from w = 0 (the output is the rule's float32 value exactly), the
 * second from fixed weights in +-[0.5, 2] (so terms in w count). Steps: 1-based update numbers of a run of
 * FINGERPRINT_TOTAL_STEPS, spread unevenly so that ld, cd(n) and rd(n) take many values and no two periods alias.
 */
const HALF = 16;
const ELEMENTS = 2 * HALF;
export const FINGERPRINT_STEPS = [1, 2, 3, 7, 19, 42, 66, 93];
export const FINGERPRINT_TOTAL_STEPS = 100;
/** Keys noise and dropout: every rule sees the same draws. */
const SEED = 20170921;
/**
 * Two outputs agree when they differ by at most 2^-12 of the larger (plus, for the elements with w != 0, 2^-20 of w,
 * the precision the weight leaves the update): float rounding of two spellings of one function stays far below
 * (one ulp is 2^-23), while the closest two different named or Table 6 rules differ by more than 1e-3 somewhere.
 * NaN agrees with NaN and an infinity with the same infinity.
 */
export const FINGERPRINT_RTOL = 2 ** -12;
const WEIGHT_ATOL = 2 ** -20;

/** The fixed inputs: gradients per step (signs random, magnitudes 1e-5 to 2 on a log scale, a few exact zeros). */
const inputs = (() => {
  let state = 0x5eed;
  const rand = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const weights = Float32Array.from({ length: ELEMENTS }, (_, i) => (i < HALF ? 0 : (rand() < 0.5 ? -1 : 1) * (0.5 + 1.5 * rand())));
  const gradients = FINGERPRINT_STEPS.map(() => Float32Array.from({ length: ELEMENTS }, () => {
    if (rand() < 1 / 16) return 0;
    return (rand() < 0.5 ? -1 : 1) * 10 ** (-5 + 5.3 * rand());
  }));
  return { weights, gradients };
})();

export type Fingerprint = Float64Array;

/** The rule's outputs on the fixed inputs: FINGERPRINT_STEPS.length x ELEMENTS values (w before minus w after, lr 1). */
export function fingerprint(info: RuleInfo): Fingerprint {
  const sandbox = new RuleSandbox(info, ELEMENTS);
  sandbox.reset(1, FINGERPRINT_TOTAL_STEPS);
  const out = new Float64Array(FINGERPRINT_STEPS.length * ELEMENTS);
  const w = new Float32Array(ELEMENTS);
  FINGERPRINT_STEPS.forEach((t, k) => {
    w.set(inputs.weights);
    sandbox.step(w, inputs.gradients[k], t, SEED);
    for (let i = 0; i < ELEMENTS; i++) out[k * ELEMENTS + i] = inputs.weights[i] - w[i];
  });
  return out;
}

/** True when two fingerprints agree everywhere at the stated tolerance. */
export function sameFunction(a: Fingerprint, b: Fingerprint): boolean {
  for (let k = 0; k < a.length; k++) {
    const x = a[k];
    const y = b[k];
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    if (!Number.isFinite(x) || !Number.isFinite(y)) return false;
    const atol = WEIGHT_ATOL * Math.abs(inputs.weights[k % ELEMENTS]);
    if (Math.abs(x - y) > FINGERPRINT_RTOL * Math.max(Math.abs(x), Math.abs(y)) + atol) return false;
  }
  return true;
}

/** Fingerprints of the rules judged (or being judged) so far, in the order they came; the first match wins. */
export class EquivalenceCache<T> {
  private readonly entries: Array<{ fingerprint: Fingerprint; value: T }> = [];

  get size(): number { return this.entries.length; }

  /** The value stored with the first fingerprint that matches, or undefined. */
  find(print: Fingerprint): T | undefined {
    for (const e of this.entries) if (sameFunction(e.fingerprint, print)) return e.value;
    return undefined;
  }

  add(print: Fingerprint, value: T): void {
    this.entries.push({ fingerprint: print, value });
  }
}
