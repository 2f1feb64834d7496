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
// Grid: x any (blocks take tiles of CHILDREN_UPDATE_UNROLL * blockDim.x elements, grid-stride over tiles), z =
// number of members; block x any.  Each thread loads its UNROLL elements of every array before any arithmetic:
// on an H200 that ran Adam at 96% of the copy bandwidth against 56% with one element in flight per thread
// (bench/gpu_update_variants.cu, bench/RESULTS.md).
import { emitKernelBody, ruleComment } from './dialect';
import { CudaDialect, cudaHelpers } from './render-cuda';
import type { KernelRule } from './interpret';
import { KERNEL_ABI_VERSION, NOS_SCALAR_COUNT } from './kernel-abi';
import { scheduleKernel } from './schedule';

/** The entry point's name in every children-update module. */
export const CHILDREN_UPDATE_ENTRY = 'nos_update_children';

/** Elements per thread in a tile: all of a thread's loads are in flight at once. */
export const CHILDREN_UPDATE_UNROLL = 4;

/**
 * CUDA's spelling, with the child's row of step scalars in place of the by-value struct, and reads from the
 * registers the tile's loads filled (element u of the thread); stores write memory and the register alike.
 */
class ChildrenDialect extends CudaDialect {
  scalar(k: number): string { return `sc[${k}]`; }
  load(arr: string): string { return `${this.pointer(arr)}_r[u]`; }
  store(arr: string, value: string): string { return `${this.pointer(arr)}[i] = ${this.pointer(arr)}_r[u] = ${value};`; }
}
const childrenDialect = new ChildrenDialect();

export function renderChildrenUpdate(rule: KernelRule): string {
  const schedule = scheduleKernel(rule);
  const body = emitKernelBody(schedule, childrenDialect);
  const indent = (lines: string[], pad: string): string => lines.map((l) => pad + l).join('\n');
  const state = body.slots.map((k) => `  float* __restrict__ s${k} = state${k} + base;`);
  // Every array the element code reads is loaded into registers first (a slot is read before it is written).
  const arrays = [...(schedule.reads.g ? ['gp'] : []), 'wp', ...body.slots.map((k) => `s${k}`)];
  const unused = [0, 1, 2, 3].filter((k) => !body.slots.includes(k)).map((k) => `(void)state${k};`).join(' ');
  return `// nos children update (CUDA and its CPU twin), ABI ${KERNEL_ABI_VERSION}. ${ruleComment(rule)}
#define NOS_SCALAR_COUNT ${NOS_SCALAR_COUNT}
#define NOS_UNROLL ${CHILDREN_UPDATE_UNROLL}

${cudaHelpers()}
extern "C" __global__ void ${CHILDREN_UPDATE_ENTRY}(const int* members, const int* dead, long long count,
    float* params, const float* grads, float* state0, float* state1, float* state2, float* state3,
    long long slot_stride, const float* scalars, long long scalar_slot, int round_step,
    const unsigned int* seeds, const unsigned int* t0) {
  const int slot = members[blockIdx.z];
  if (dead[slot] != 0) return;
  const long long base = (long long)slot * slot_stride;
  float* __restrict__ wp = params + base;
  const float* __restrict__ gp = grads + base; (void)gp;
${state.join('\n')}
  ${unused}
  const float* sc = scalars + (long long)slot * scalar_slot + (long long)round_step * NOS_SCALAR_COUNT;
  const unsigned int seed = seeds[slot];
  const unsigned int step = t0[slot] + (unsigned int)round_step + 1u;
  const unsigned long long rng_base = 0ull;
${indent(body.prologue, '  ')}
  (void)lr; (void)b1; (void)b2; (void)b3; (void)ibc1; (void)ibc2; (void)ibc3; (void)delta; (void)mu; (void)nstd; (void)astd;
  (void)omb1; (void)omb2; (void)omb3;
  (void)seed; (void)step; (void)rng_base;
  const long long tile = (long long)blockDim.x * NOS_UNROLL;
  for (long long first = (long long)blockIdx.x * tile + threadIdx.x; first - threadIdx.x < count; first += (long long)gridDim.x * tile) {
    float ${arrays.map((a) => `${a}_r[NOS_UNROLL]`).join(', ')};
#pragma unroll
    for (int u = 0; u < NOS_UNROLL; ++u) {
      const long long i = first + (long long)u * blockDim.x;
      if (i < count) { ${arrays.map((a) => `${a}_r[u] = ${a}[i];`).join(' ')} }
    }
#pragma unroll
    for (int u = 0; u < NOS_UNROLL; ++u) {
      const long long i = first + (long long)u * blockDim.x;
      if (i >= count) continue;
${indent(body.element, '      ')}
    }
  }
}
`;
}
