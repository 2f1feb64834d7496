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
// Grid: x any (the engine's covers a child in one pass, engine.cc), z = number of members; block x any.  A
// thread takes groups of four consecutive elements with 16-byte loads and stores (the child's middle; its first and
// last few elements one at a time, and all of them when an array is not 16-byte aligned): on an H200 that layout ran
// Adam's update at about the copy bandwidth, where one element in flight per thread reached 56%
// (bench/gpu_update_variants.cu, bench/RESULTS.md).  UpdateLayout's other choices are there to be timed against the
// default on a GPU (bench/gpu-engine.ts); every layout computes the same values.
import { emitKernelBody, ruleComment } from './dialect';
import { CudaDialect, cudaHelpers } from './render-cuda';
import type { KernelRule } from './interpret';
import { KERNEL_ABI_VERSION, NOS_SCALAR_COUNT } from './kernel-abi';
import { scheduleKernel } from './schedule';

/** The entry point's name in every children-update module. */
export const CHILDREN_UPDATE_ENTRY = 'nos_update_children';

/** Consecutive elements of one group: one 16-byte access per array. */
export const CHILDREN_UPDATE_WIDTH = 4;

/** How the children update spreads a child over threads; every layout computes the same values, bit for bit. */
export interface UpdateLayout {
  /** Groups of four a thread loads before any arithmetic (more bytes in flight per thread, fewer blocks). */
  readonly groups: 1 | 2;
  /** 'streaming' marks the 16-byte loads and stores evict-first (ld/st.global.cs: data used once per step). */
  readonly cache: 'default' | 'streaming';
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

/**
 * CUDA's spelling, with the child's row of step scalars in place of the by-value struct, and element reads from the
 * registers its loads filled (element u of the thread's group).  Stores go to memory and the register (one element
 * at a time) or to the register alone (the group's four, written back with one 16-byte store per array).
 */
class ChildrenDialect extends CudaDialect {
  constructor(private readonly storeToMemory: boolean) { super(); }
  scalar(k: number): string { return `sc[${k}]`; }
  load(arr: string): string { return `${this.pointer(arr)}_r[u]`; }
  store(arr: string, value: string): string {
    const reg = `${this.pointer(arr)}_r[u]`;
    return this.storeToMemory ? `${this.pointer(arr)}[i] = ${reg} = ${value};` : `${reg} = ${value};`;
  }
}
const vectorDialect = new ChildrenDialect(false);
const scalarDialect = new ChildrenDialect(true);

/**
 * 16-byte loads and stores of four floats (`.cs` for the streaming layout); the CPU twin copies the bytes (no aliasing
 * through a struct there).
 */
export function vectorHelpers(cache: UpdateLayout['cache']): string {
  const hint = cache === 'streaming' ? '.cs' : '';
  const store = cache === 'streaming'
    ? '__stcs(reinterpret_cast<float4*>(p), make_float4(r[0], r[1], r[2], r[3]));'
    : 'nos_f4 q; q.x = r[0]; q.y = r[1]; q.z = r[2]; q.w = r[3];\n  *reinterpret_cast<nos_f4*>(p) = q;';
  return `struct alignas(16) nos_f4 { float x, y, z, w; };
#ifndef __CUDACC__
// The GPU faults on a 16-byte access that is not 16-byte aligned (and poisons the context); the twin fails the launch.
static inline void nos_twin_check_aligned(const float* p) {
  if (((unsigned long long)p & 15) != 0) nos_emu_fail("a 16-byte load or store at an address that is not 16-byte aligned (a GPU faults there)");
}
#endif
static __device__ __forceinline__ void nos_load4(const float* p, float* r) {
#ifdef __CUDACC__
  // volatile: issued where it stands, before the dead-child check, which the compiler would otherwise put first
  // (one more memory latency in every thread's path: the flag's load, then the data's).
  asm volatile("ld.global${hint}.v4.f32 {%0, %1, %2, %3}, [%4];" : "=f"(r[0]), "=f"(r[1]), "=f"(r[2]), "=f"(r[3]) : "l"(p));
#else
  nos_twin_check_aligned(p);
  memcpy(r, p, 16);
#endif
}
static __device__ __forceinline__ void nos_store4(float* p, const float* r) {
#ifdef __CUDACC__
  ${store}
#else
  nos_twin_check_aligned(p);
  memcpy(p, r, 16);
#endif
}`;
}

/**
 * The loop over a child's groups of four: each thread loads all of its groups' arrays, checks the dead flag, then
 * computes and stores group by group.  Group k of thread t is t + k * span, so a warp's accesses stay consecutive.
 */
function groupLoop(groups: UpdateLayout['groups'], arrays: string[], written: string[], element: string[]): string {
  const W = CHILDREN_UPDATE_WIDTH;
  const body = element.map((l) => `      ${l}`).join('\n');
  if (groups === 1) {
    return `  // One pass when the grid has vecs + singles threads (the engine's launch): thread t < vecs takes group t, the
  // next ones the singles; a smaller grid loops.
  for (int t = thread; t < vecs; t += threads) {
    const int first = head + ${W} * t;
    float ${arrays.map((a) => `${a}_r[${W}]`).join(', ')};
    ${arrays.map((a) => `nos_load4(${a} + first, ${a}_r);`).join(' ')}
    if (is_dead != 0) return;
#pragma unroll
    for (int u = 0; u < ${W}; ++u) {
      const long long i = first + u;
${body}
    }
    ${written.map((a) => `nos_store4(${a} + first, ${a}_r);`).join(' ')}
  }`;
  }
  const ks = Array.from({ length: groups }, (_, k) => k);
  const group = (k: number): string => `#pragma unroll
    for (int u = ${k * W}; u < ${(k + 1) * W}; ++u) {
      const long long i = first${k} + (u - ${k * W});
${body}
    }
    ${written.map((a) => `nos_store4(${a} + first${k}, ${a}_r + ${k * W});`).join(' ')}`;
  return `  // One pass when the grid has span + singles threads (the engine's launch): thread t < span takes groups t,
  // t + span, ... below vecs, the next ones the singles; a smaller grid loops.
  const int span = (vecs + ${groups - 1}) / ${groups};
  for (int t = thread; t < span; t += threads) {
    ${ks.map((k) => `const int first${k} = head + ${W} * (t + ${k} * span);`).join(' ')}
    ${ks.slice(1).map((k) => `const bool has${k} = t + ${k} * span < vecs;`).join(' ')}
    float ${arrays.map((a) => `${a}_r[${groups * W}]`).join(', ')};
    ${arrays.map((a) => `nos_load4(${a} + first0, ${a}_r);`).join(' ')}
    ${ks.slice(1).map((k) => `if (has${k}) { ${arrays.map((a) => `nos_load4(${a} + first${k}, ${a}_r + ${k * W});`).join(' ')} }`).join('\n    ')}
    if (is_dead != 0) return;
    ${ks.map((k) => (k === 0 ? group(k) : `if (has${k}) {\n    ${group(k)}\n    }`)).join('\n    ')}
  }`;
}

export function renderChildrenUpdate(rule: KernelRule, layout: UpdateLayout = DEFAULT_UPDATE_LAYOUT): string {
  const { groups, cache } = checkUpdateLayout(layout);
  const schedule = scheduleKernel(rule);
  const vector = emitKernelBody(schedule, vectorDialect);
  const scalar = emitKernelBody(schedule, scalarDialect);
  const indent = (lines: string[], pad: string): string => lines.map((l) => pad + l).join('\n');
  const state = vector.slots.map((k) => `  float* __restrict__ s${k} = state${k} + base;`);
  // Every array the element code reads is loaded first (a slot is read before it is written); w and the slots are
  // written back.
  const arrays = [...(schedule.reads.g ? ['gp'] : []), 'wp', ...vector.slots.map((k) => `s${k}`)];
  const written = ['wp', ...vector.slots.map((k) => `s${k}`)];
  const misaligned = arrays.map((a) => `((unsigned long long)${a} & 15) != mis`).join(' || ');
  const unused = [0, 1, 2, 3].filter((k) => !vector.slots.includes(k)).map((k) => `(void)state${k};`).join(' ');
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
${indent(vector.prologue, '  ')}
  (void)lr; (void)b1; (void)b2; (void)b3; (void)ibc1; (void)ibc2; (void)ibc3; (void)delta; (void)mu; (void)nstd; (void)astd;
  (void)omb1; (void)omb2; (void)omb3;
  (void)seed; (void)step; (void)rng_base;
  // The arrays share the child's offset: elements [0, head) bring them to a 16-byte boundary, [head, head + 4 * vecs)
  // go four at a time, the rest one at a time.  An array off the others' alignment makes every element single.
  // 32-bit indices within a child (the engine refuses children of 2^31 parameters or more).
  const int n = (int)count;
  const unsigned long long mis = (unsigned long long)wp & 15;
  int head = (int)(((16 - mis) & 15) >> 2);
  if ((mis & 3) != 0 || ${misaligned} || head > n) head = n;
  const int vecs = (n - head) / ${CHILDREN_UPDATE_WIDTH};
  const int singles = n - ${CHILDREN_UPDATE_WIDTH} * vecs;
  const int threads = (int)(gridDim.x * blockDim.x);
  const int thread = (int)(blockIdx.x * blockDim.x + threadIdx.x);
${groupLoop(groups, arrays, written, vector.element)}
  // Single e is taken by thread (e + ${groups === 1 ? 'vecs' : 'span'}) mod threads: each exactly once, whatever the grid.
  for (int e = thread - ${groups === 1 ? 'vecs' : 'span'}; e < singles; e += threads) {
    if (e < 0 || is_dead != 0) continue;
    const long long i = e < head ? e : e + ${CHILDREN_UPDATE_WIDTH} * vecs;
    const int u = 0;
    float ${arrays.map((a) => `${a}_r[1]`).join(', ')};
    ${arrays.map((a) => `${a}_r[0] = ${a}[i];`).join(' ')}
${indent(scalar.element, '    ')}
  }
}
`;
}
