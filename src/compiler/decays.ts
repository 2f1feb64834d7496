// Per-step scalars for kernels: the sign decays of TensorFlow's sign_decay.py and the host-side fill of the scalar slots.
//
// decayValue reproduces tf.contrib.opt's get_linear_decay_fn, get_cosine_decay_fn and get_restart_decay_fn step by
// step in float32 (TensorFlow computes them in float32), with the 0-based global step:
//   ld      max(0, (T - min(t, T)) / T)
//   cd(n)   0.5 * (1 + cos(pi * 2 * n * min(t, T) / T))          (cd = cd(0.5): cosine decay without restarts)
//   rd(n)   0.5 * (1 + cos(pi * ((n * min(t, T)) mod T) / T))
import { DECAY_BASE, MAX_DECAYS, NOS_SCALAR_COUNT, OPTIMIZER_DEFAULTS, Scalar } from './kernel-abi';
import type { DecayName } from './ir';

const PI_F32 = Math.fround(Math.PI);
const f32 = Math.fround;

function checkSteps(where: string, globalStep: number, totalSteps: number): void {
  if (!Number.isInteger(totalSteps) || totalSteps <= 0) {
    throw new RangeError(`${where}: total steps T must be a positive integer, got ${totalSteps}`);
  }
  if (!Number.isInteger(globalStep) || globalStep < 0) {
    throw new RangeError(`${where}: global step must be an integer >= 0, got ${globalStep}`);
  }
}

/** TensorFlow's floor-mod for float32 operands (the sign of the divisor), rounded to float32. */
function floorModF32(x: number, y: number): number {
  const r = x % y; // exact for doubles; both operands are float32 so r is a float32 value
  return f32(r !== 0 && (r < 0) !== (y < 0) ? r + y : r);
}

/**
 * The value of decay `name` with period count `n` (ignored by ld) at 0-based `globalStep` of `totalSteps`,
 * as TensorFlow's sign_decay.py computes it (float32 arithmetic).
 */
export function decayValue(name: DecayName, n: number, globalStep: number, totalSteps: number): number {
  const where = `decay ${name}${name === 'ld' ? '' : `(${n})`}`;
  checkSteps(where, globalStep, totalSteps);
  const t = Math.min(globalStep, totalSteps);
  const tF = f32(t);
  const TF = f32(totalSteps);
  switch (name) {
    case 'ld': {
      const remaining = totalSteps - t;
      return Math.max(0, f32(f32(remaining) / TF));
    }
    case 'cd': {
      if (!Number.isFinite(n) || n <= 0) throw new RangeError(`${where}: the period count n must be a positive number, got ${n}`);
      const completed = f32(tF / TF);
      const fraction = f32(f32(2 * n) * completed);
      return f32(0.5 * f32(1 + f32(Math.cos(f32(PI_F32 * fraction)))));
    }
    case 'rd': {
      if (!Number.isFinite(n) || n <= 0) throw new RangeError(`${where}: the period count n must be a positive number, got ${n}`);
      const num = floorModF32(f32(f32(n) * tF), TF);
      const fraction = f32(num / TF);
      return f32(0.5 * f32(1 + f32(Math.cos(f32(PI_F32 * fraction)))));
    }
    default:
      throw new RangeError(`unknown decay '${String(name)}': expected ld, cd or rd`);
  }
}

/** What fillScalars needs to know about a rule: its decay terms in slot order (RuleInfo has it). */
export interface RuleDecays {
  decays: ReadonlyArray<{ name: DecayName; n: number }>;
}

export interface StepScalarOptions {
  /** The learning rate of this step, schedule already applied. */
  lr: number;
  /** beta1, beta2, beta3 of the running averages of g, g^2, g^3; default [0.9, 0.999, 0.999]. */
  betas?: readonly [number, number, number];
  /** Added to the denominator of every division; default 1e-8. */
  delta?: number;
  /** Heavy-ball mu for the `mom` buffer; default 0.9. */
  momentum?: number;
  /** Divide m, v, y by (1 - beta^t); default true. */
  biasCorrection?: boolean;
  /** Standard deviation of `noise` (the paper's N(0, 0.01) has std 0.1); default 0.1. */
  noiseStd?: number;
}

function checkFinite(name: string, x: number): void {
  if (typeof x !== 'number' || !Number.isFinite(x)) {
    throw new RangeError(`scalars: ${name} must be a finite number, got ${typeof x === 'number' ? x : `${typeof x} ${JSON.stringify(x)}`}`);
  }
}

/**
 * Fill the per-step scalar slots of kernel-abi.ts for step `t` (1-based: the first update is t = 1) of `totalSteps`.
 * The runtime calls this once per step and passes `out` to the kernel.  Bias corrections use t; decays use the
 * 0-based global step t - 1 (like TensorFlow); the annealed noise has variance 1 / (1 + (t - 1))^0.55.
 * `totalSteps` is required only when the rule has decay terms.  Returns `out`.
 */
export function fillScalars(
  info: RuleDecays, opts: StepScalarOptions, t: number, totalSteps: number | undefined,
  out: Float32Array = new Float32Array(NOS_SCALAR_COUNT),
): Float32Array {
  if (!(out instanceof Float32Array) || out.length < NOS_SCALAR_COUNT) {
    throw new RangeError(`scalars: out must be a Float32Array of at least ${NOS_SCALAR_COUNT} values`);
  }
  if (!info || typeof info !== 'object' || !Array.isArray(info.decays)) {
    throw new TypeError(`scalars: expected a compiled rule (compileRule(text)), received ${info === null ? 'null' : typeof info}`);
  }
  if (!opts || typeof opts !== 'object') throw new TypeError(`scalars: options must be an object ({ lr, ... }), received ${opts === null ? 'null' : typeof opts}`);
  if (!Number.isInteger(t) || t < 1) throw new RangeError(`scalars: step t is 1-based and must be an integer >= 1, got ${t}`);
  if (opts.betas !== undefined && (!Array.isArray(opts.betas) || opts.betas.length !== 3)) {
    throw new RangeError(`scalars: betas must be [beta1, beta2, beta3], got ${JSON.stringify(opts.betas)}`);
  }
  const [beta1, beta2, beta3] = opts.betas ?? OPTIMIZER_DEFAULTS.betas;
  const delta = opts.delta ?? OPTIMIZER_DEFAULTS.delta;
  const momentum = opts.momentum ?? OPTIMIZER_DEFAULTS.momentum;
  const noiseStd = opts.noiseStd ?? OPTIMIZER_DEFAULTS.noiseStd;
  for (const [name, x] of [['lr', opts.lr], ['beta1', beta1], ['beta2', beta2], ['beta3', beta3], ['delta', delta],
    ['momentum', momentum], ['noiseStd', noiseStd]] as Array<[string, number]>) checkFinite(name, x);
  for (const [name, b] of [['beta1', beta1], ['beta2', beta2], ['beta3', beta3]] as Array<[string, number]>) {
    if (b < 0 || b >= 1) throw new RangeError(`scalars: ${name} must be in [0, 1), got ${b}`);
  }
  if (info.decays.length > MAX_DECAYS) {
    throw new RangeError(`scalars: the rule has ${info.decays.length} decay terms, the kernel ABI allows ${MAX_DECAYS}`);
  }
  const correct = opts.biasCorrection ?? true;
  out.fill(0);
  out[Scalar.lr] = opts.lr;
  out[Scalar.beta1] = beta1;
  out[Scalar.beta2] = beta2;
  out[Scalar.beta3] = beta3;
  // 1 - beta in double, rounded once on the way into the Float32Array (torch.optim's order of rounding).
  out[Scalar.oneMinusBeta1] = 1 - beta1;
  out[Scalar.oneMinusBeta2] = 1 - beta2;
  out[Scalar.oneMinusBeta3] = 1 - beta3;
  out[Scalar.invBc1] = correct ? 1 / (1 - beta1 ** t) : 1;
  out[Scalar.invBc2] = correct ? 1 / (1 - beta2 ** t) : 1;
  out[Scalar.invBc3] = correct ? 1 / (1 - beta3 ** t) : 1;
  out[Scalar.delta] = delta;
  out[Scalar.momentum] = momentum;
  out[Scalar.noiseStd] = noiseStd;
  out[Scalar.anoiseStd] = Math.pow(t, -0.275);
  info.decays.forEach((d, i) => {
    if (totalSteps === undefined) {
      throw new RangeError(`scalars: the rule uses decay ${d.name}, so total steps T must be given`);
    }
    out[DECAY_BASE + i] = decayValue(d.name, d.n, t - 1, totalSteps);
  });
  return out;
}
