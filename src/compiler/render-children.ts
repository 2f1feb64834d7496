// The rule's fused update for the child engine: one launch updates every child of a rule, each with its own
// learning rate and step scalars, seed and step count (native/engine/engine.cc launches it after the backward pass).
//
// CUDA C that also compiles as C++ through native/engine/emu_shim.h (the CPU twin the tests run).  The element code
// is the CUDA renderer's (same dialect, same float steps), so a child's update equals the optimizer's CPU kernel on
// the same inputs bit for bit on the CPU twin, and within libm's ulps on a GPU.
//   extern "C" __global__ void nos_update_children(const int* members, const int* dead, long long count,
//       float* params, const float* grads, float* state0, float* state1, float* state2, float* state3,
//       long long slot_stride, const float* scalars, long long scalar_slot, int round_step,
//       const unsigned int* seeds, const unsigned int* t0)
// Child `slot` (members[blockIdx.z]) owns params/grads/stateK[slot*slot_stride ... + count), its scalars row
// scalars[slot*scalar_slot + round_step*NOS_SCALAR_COUNT ...] (kernel-abi.ts layout), Philox key (seeds[slot], t)
// with t = t0[slot] + round_step + 1 (1-based, as the optimizer counts), and element index = position in its flat
// parameter vector (the optimizer's rngBase of each tensor is its offset in that vector).  Dead children are skipped.
// Grid: x any (the engine's covers a child in one pass, engine.cc), z = number of members; block x any.  The pass
// over a child is the optimizer kernel's (cuda-vector-pass.ts: groups of four consecutive elements with 16-byte loads
// and stores), with the child's dead flag checked after the loads.  UpdateLayout's other choices are there to be
// timed against the default on a GPU (bench/gpu-engine.ts); every layout computes the same values.
import { cudaHelpers } from './cuda-dialect';
import { vectorHelpers, vectorPass, type VectorPassLayout } from './cuda-vector-pass';
import { ruleComment } from './dialect';
import type { KernelRule } from './interpret';
import { KERNEL_ABI_VERSION, NOS_SCALAR_COUNT } from './kernel-abi';
import { scheduleKernel } from './schedule';

/** The entry point's name in every children-update module. */
export const CHILDREN_UPDATE_ENTRY = 'nos_update_children';

/** How the children update spreads a child over threads; every layout computes the same values, bit for bit. */
export interface UpdateLayout extends VectorPassLayout {
  /** Threads per block of the launch. */
  readonly block: 128 | 256 | 512;
}

/** The layout the engine launches unless told otherwise (the one measured on an H200, bench/RESULTS.md). */
export const DEFAULT_UPDATE_LAYOUT: UpdateLayout = Object.freeze({ groups: 1, cache: 'default', block: 256 });

/** Short name of a layout, for cache keys and tables: `g1-default-256`. */
export function layoutName(layout: UpdateLayout): string {
  return `g${layout.groups}-${layout.cache}-${layout.block}`;
}

/** Refuses a layout that is not one of UpdateLayout's, naming the field. */
export function checkUpdateLayout(layout: UpdateLayout): UpdateLayout {
  const allowed: { [K in keyof UpdateLayout]: readonly UpdateLayout[K][] } = { groups: [1, 2], cache: ['default', 'streaming'], block: [128, 256, 512] };
  for (const key of Object.keys(allowed) as Array<keyof UpdateLayout>) {
    if (!(allowed[key] as readonly unknown[]).includes(layout[key])) {
      throw new RangeError(`update layout: ${key} ${JSON.stringify(layout[key])} is not one of ${allowed[key].join(', ')}`);
    }
  }
  return layout;
}

export function renderChildrenUpdate(rule: KernelRule, layout: UpdateLayout = DEFAULT_UPDATE_LAYOUT): string {
  const { groups, cache } = checkUpdateLayout(layout);
  const pass = vectorPass(scheduleKernel(rule), { layout: { groups, cache }, scalar: (k) => `sc[${k}]`, skipIf: 'is_dead != 0' });
  const state = pass.slots.map((k) => `  float* __restrict__ s${k} = state${k} + base;`);
  const unused = [0, 1, 2, 3].filter((k) => !pass.slots.includes(k)).map((k) => `(void)state${k};`).join(' ');
  return `// nos children update (CUDA and its CPU twin), ABI ${KERNEL_ABI_VERSION}, layout ${layoutName(layout)}. ${ruleComment(rule)}
#define NOS_SCALAR_COUNT ${NOS_SCALAR_COUNT}

${cudaHelpers()}
${vectorHelpers(cache)}
extern "C" __global__ void ${CHILDREN_UPDATE_ENTRY}(const int* members, const int* dead, long long count,
    float* params, const float* grads, float* state0, float* state1, float* state2, float* state3,
    long long slot_stride, const float* scalars, long long scalar_slot, int round_step,
    const unsigned int* seeds, const unsigned int* t0) {
  const int slot = members[blockIdx.z];
  const int is_dead = dead[slot]; // checked before the first store, so the loads below need not wait for it
  const long long base = (long long)slot * slot_stride;
  float* __restrict__ wp = params + base;
  const float* __restrict__ gp = grads + base; (void)gp;
${state.join('\n')}
  ${unused}
  const float* sc = scalars + (long long)slot * scalar_slot + (long long)round_step * NOS_SCALAR_COUNT;
  const unsigned int seed = seeds[slot];
  const unsigned int step = t0[slot] + (unsigned int)round_step + 1u;
  const unsigned long long rng_base = 0ull;
${pass.prologue}
  (void)seed; (void)step; (void)rng_base;
  // 32-bit indices within a child (the engine refuses children of 2^31 parameters or more).
  const int n = (int)count;
  const int threads = (int)(gridDim.x * blockDim.x);
  const int thread = (int)(blockIdx.x * blockDim.x + threadIdx.x);
${pass.body}
}
`;
}
