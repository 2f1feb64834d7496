// The contract between generated kernels (every target) and the runtime that calls them: state slots, per-step scalars, RNG.
//
// State: up to four Float32 buffers per tensor, in fixed slots (unused slots are null pointers / absent):
//   slot 0 'm'   raw running average of g    m <- beta1*m + oneMinusBeta1*g      (m-hat = m * invBc1)
//   slot 1 'v'   raw running average of g^2  v <- beta2*v + oneMinusBeta2*g^2    (v-hat = v * invBc2)
//   slot 2 'y'   raw running average of g^3  y <- beta3*y + oneMinusBeta3*g^3    (gamma-hat = y * invBc3)
//   slot 3 'mom' heavy-ball buffer           mom <- mu*mom + g  (PyTorch SGD momentum, dampening 0)
// A kernel updates the state it needs in the same pass, before computing the rule, then writes
//   w <- w - lr * rule.
//
// Scalars: one Float32Array of NOS_SCALAR_COUNT values per step, filled by the host (runtime/scalars.ts):
//   the fixed slots below, then one slot per decay term the rule uses, in the order analysis lists them
//   (DECAY_BASE + i).  Step t is 1-based for bias corrections (invBc1 = 1/(1-beta1^t)); decays use the 0-based
//   global step t-1 and total steps T exactly like TensorFlow's sign_decay.py.  oneMinusBeta<k> is 1 - beta<k>
//   computed in double on the host, then rounded to float32 (as torch.optim does: 1 - 0.999f in float32 is 1.3e-5
//   off, and every early step of Adam carries that error), never 1 - beta in the kernel.
//
// RNG: Philox4x32-10 with key (seed, step) and counter (element index low 32 bits, high 32 bits, site, 0), where
//   the element index is the tensor's rngBase plus the index within the tensor, so a list of tensors and one flat
//   buffer of the same elements draw the same numbers on every target.  uniform(x) = ((x >>> 8) + 0.5) * 2^-24.
//   drop site: keep iff uniform(r0) >= p.  noise site: Box-Muller sqrt(-2 ln u0) * cos(2 pi u1) times the std.
//
// CPU (C++) entry point, one tensor range per call (the runtime splits lists and ranges over its threads):
//   struct nos_tensor { float* w; const float* g; float* s[4]; int64_t n; uint64_t rng_base; };
//   extern "C" void nos_update_range(const nos_tensor* t, int64_t begin, int64_t end,
//                                     const float* scalars, uint32_t seed, uint32_t step);
//   extern "C" void nos_update_list(const nos_tensor* ts, int32_t count,
//                                    const float* scalars, uint32_t seed, uint32_t step);
//   extern "C" const uint32_t nos_state_slots;   // optional: bit k set = the kernel uses state slot k
// CUDA entry point, one launch for a list of tensors (blockIdx.y is the tensor; any gridDim.x with fewer than 2^31
// threads along x, render-cuda.ts):
//   struct nos_tensor { float* w; const float* g; float* s[4]; long long n; unsigned long long rng_base; };
//   struct nos_scalars { float v[NOS_SCALAR_COUNT]; };
//   extern "C" __global__ void nos_update(const nos_tensor* ts, int count, nos_scalars sc,
//                                          unsigned int seed, unsigned int step);
// JS: a function (tensors: JsTensor[], scalars: Float32Array, seed: number, step: number) => void.

export const STATE_SLOTS = ['m', 'v', 'y', 'mom'] as const;
export type StateName = (typeof STATE_SLOTS)[number];

export enum Scalar {
  lr = 0,
  beta1 = 1,
  beta2 = 2,
  beta3 = 3,
  invBc1 = 4,
  invBc2 = 5,
  invBc3 = 6,
  delta = 7,
  momentum = 8,
  noiseStd = 9,
  anoiseStd = 10,
  oneMinusBeta1 = 11,
  oneMinusBeta2 = 12,
  oneMinusBeta3 = 13,
}
export const SCALAR_NAMES = [
  'lr', 'beta1', 'beta2', 'beta3', 'invBc1', 'invBc2', 'invBc3', 'delta', 'momentum', 'noiseStd', 'anoiseStd',
  'oneMinusBeta1', 'oneMinusBeta2', 'oneMinusBeta3',
] as const;
/**
 * The values the host fills the scalars with when a caller gives none (every runtime and export reads them here):
 * the paper's betas (PyTorch's Adam's, with beta3 = beta2), delta, PyTorch's heavy-ball momentum, bias correction on,
 * and the std of the DSL's \`noise\` operand, N(0, 0.01).
 */
export const OPTIMIZER_DEFAULTS = Object.freeze({
  lr: 1e-3, betas: Object.freeze([0.9, 0.999, 0.999]) as readonly [number, number, number], delta: 1e-8, momentum: 0.9,
  biasCorrection: true, noiseStd: 0.1,
});
export const DECAY_BASE = 16;
export const MAX_DECAYS = 16;
export const NOS_SCALAR_COUNT = DECAY_BASE + MAX_DECAYS;

export interface JsTensor {
  w: Float32Array;
  g: Float32Array;
  /** Indexed by state slot; undefined where the rule needs no such state. */
  s: Array<Float32Array | undefined>;
  rngBase: number;
}

/** Bumped whenever generated code or this ABI changes; part of every kernel cache key. */
// 2: oneMinusBeta1..3 come from the host (scalar slots 11-13) instead of 1 - beta in float32 in the kernel.
export const KERNEL_ABI_VERSION = 2;
