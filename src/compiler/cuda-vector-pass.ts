// The elementwise pass of the CUDA update kernels over one run of arrays that share an offset: 16-byte loads and
// stores of four consecutive elements in the middle, one element at a time at the unaligned ends.  Shared by the
// optimizer's kernel (render-cuda.ts, a list of tensors) and the child engine's (render-children.ts, a rule's children).
//
// On an H200 this layout ran Adam's update at about the copy bandwidth, where one element in flight per thread
// reached 56-66% (bench/gpu_update_variants.cu, bench/RESULTS.md).  It compiles as C++ too, behind
// native/engine/emu_shim.h (the CPU twin), where a 16-byte access at an address a GPU would fault on fails the launch.
import { CudaDialect } from './cuda-dialect';
import { emitKernelBody } from './dialect';
import type { KernelSchedule } from './schedule';

/** Consecutive elements of one group: one 16-byte access per array. */
export const VECTOR_WIDTH = 4;

/** How a pass spreads its elements over threads and touches memory; every choice computes the same values. */
export interface VectorPassLayout {
  /** Groups of four a thread loads before any arithmetic (more bytes in flight per thread, fewer threads). */
  readonly groups: 1 | 2;
  /** 'streaming' marks the 16-byte loads and stores evict-first (ld/st.global.cs: data used once per step). */
  readonly cache: 'default' | 'streaming';
}

/**
 * CUDA's spelling with element reads from the registers the loads filled (element u of the thread's group).  Stores
 * go to memory and the register (one element at a time) or to the register alone (the group's four, written back
 * with one 16-byte store per array).  `scalar` spells step scalar k (a by-value struct, or a row in memory).
 */
class RegisterDialect extends CudaDialect {
  constructor(private readonly storeToMemory: boolean, private readonly scalarText: (k: number) => string) { super(); }
  scalar(k: number): string { return this.scalarText(k); }
  load(arr: string): string { return `${this.pointer(arr)}_r[u]`; }
  store(arr: string, value: string): string {
    const reg = `${this.pointer(arr)}_r[u]`;
    return this.storeToMemory ? `${this.pointer(arr)}[i] = ${reg} = ${value};` : `${reg} = ${value};`;
  }
}

/**
 * 16-byte loads and stores of four floats (`.cs` for the streaming layout); the CPU twin copies the bytes (no aliasing
 * through a struct there).  Stores are C (`asmStore` false: what the child engine's update was measured with on an
 * H200, 32 registers for Adam) or written out in PTX like the loads (true: the optimizer's kernel, whose pointers come
 * from its tensor table and whose loop over runs makes NVRTC and nvcc 13 split a C store of 16 bytes into four; the
 * PTX store keeps it whole at no register cost there, where in the child engine's update it costs five).
 */
export function vectorHelpers(cache: VectorPassLayout['cache'], asmStore = false): string {
  const hint = cache === 'streaming' ? '.cs' : '';
  const store = asmStore
    ? `asm volatile("st.global${hint}.v4.f32 [%0], {%1, %2, %3, %4};" :: "l"(p), "f"(r[0]), "f"(r[1]), "f"(r[2]), "f"(r[3]) : "memory");`
    : cache === 'streaming'
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
 * The loop over the run's groups of four: each thread loads all of its groups' arrays, checks the skip flag, then
 * computes and stores group by group.  Group k of thread t is t + k * span, so a warp's accesses stay consecutive.
 */
function groupLoop(groups: VectorPassLayout['groups'], arrays: string[], written: string[], element: string[], skip: string): string {
  const W = VECTOR_WIDTH;
  const body = element.map((l) => `      ${l}`).join('\n');
  if (groups === 1) {
    return `  // One pass when the grid has vecs + singles threads: thread t < vecs takes group t, the next ones the singles; a
  // smaller grid loops.
  for (int t = thread; t < vecs; t += threads) {
    const int first = head + ${W} * t;
    float ${arrays.map((a) => `${a}_r[${W}]`).join(', ')};
    ${arrays.map((a) => `nos_load4(${a} + first, ${a}_r);`).join(' ')}${skip}
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
  return `  // One pass when the grid has span + singles threads: thread t < span takes groups t, t + span, ... below vecs,
  // the next ones the singles; a smaller grid loops.
  const int span = (vecs + ${groups - 1}) / ${groups};
  for (int t = thread; t < span; t += threads) {
    ${ks.map((k) => `const int first${k} = head + ${W} * (t + ${k} * span);`).join(' ')}
    ${ks.slice(1).map((k) => `const bool has${k} = t + ${k} * span < vecs;`).join(' ')}
    float ${arrays.map((a) => `${a}_r[${groups * W}]`).join(', ')};
    ${arrays.map((a) => `nos_load4(${a} + first0, ${a}_r);`).join(' ')}
    ${ks.slice(1).map((k) => `if (has${k}) { ${arrays.map((a) => `nos_load4(${a} + first${k}, ${a}_r + ${k * W});`).join(' ')} }`).join('\n    ')}${skip}
    ${ks.map((k) => (k === 0 ? group(k) : `if (has${k}) {\n    ${group(k)}\n    }`)).join('\n    ')}
  }`;
}

/** What a kernel around the pass needs from it: the prologue (step scalars as locals) and the pass itself. */
export interface VectorPass {
  /** Statements naming the step scalars (lr, b1, ...), before the pass; each is (void)-ed, as a rule may not use it. */
  prologue: string;
  /** The pass: expects `wp`, `gp`, `s<k>` for each slot in `slots`, `int n`, `int thread`, `int threads` and `rng_base` in scope. */
  body: string;
  /** The state slots the rule uses (their pointers `s<k>` must be in scope). */
  slots: number[];
}

export interface VectorPassOptions {
  layout: VectorPassLayout;
  /** How step scalar k is spelled: `sc.v[k]` for a by-value struct, `sc[k]` for a row in memory. */
  scalar: (k: number) => string;
  /** An int expression, nonzero when the whole pass is to write nothing (a dead child); checked after the loads. */
  skipIf?: string;
}

/** The rule's pass over one run of `n` elements of its arrays (see the top of this file). */
export function vectorPass(schedule: KernelSchedule, options: VectorPassOptions): VectorPass {
  const { layout, scalar, skipIf } = options;
  const vector = emitKernelBody(schedule, new RegisterDialect(false, scalar));
  const single = emitKernelBody(schedule, new RegisterDialect(true, scalar));
  // Every array the element code reads is loaded first (a slot is read before it is written); w and the slots are
  // written back.
  const arrays = [...(schedule.reads.g ? ['gp'] : []), 'wp', ...vector.slots.map((k) => `s${k}`)];
  const written = ['wp', ...vector.slots.map((k) => `s${k}`)];
  const misaligned = arrays.map((a) => `((unsigned long long)${a} & 15) != mis`).join(' || ');
  const span = layout.groups === 1 ? 'vecs' : 'span';
  const skip = skipIf ? `\n    if (${skipIf}) return;` : '';
  const prologue = `${vector.prologue.join('\n  ')}
  (void)lr; (void)b1; (void)b2; (void)b3; (void)ibc1; (void)ibc2; (void)ibc3; (void)delta; (void)mu; (void)nstd; (void)astd;
  (void)omb1; (void)omb2; (void)omb3;`;
  const body = `  // The arrays share the run's offset: elements [0, head) bring them to a 16-byte boundary, [head, head + 4 * vecs)
  // go four at a time, the rest one at a time.  An array off the others' alignment makes every element single.
  const unsigned long long mis = (unsigned long long)wp & 15;
  int head = (int)(((16 - mis) & 15) >> 2);
  if ((mis & 3) != 0 || ${misaligned} || head > n) head = n;
  const int vecs = (n - head) / ${VECTOR_WIDTH};
  const int singles = n - ${VECTOR_WIDTH} * vecs;
${groupLoop(layout.groups, arrays, written, vector.element, skip)}
  // Single e is taken by thread (e + ${span}) mod threads: each exactly once, whatever the grid.
  for (int e = thread - ${span}; e < singles; e += threads) {
    if (e < 0${skipIf ? ` || ${skipIf}` : ''}) continue;
    const long long i = e < head ? e : e + ${VECTOR_WIDTH} * vecs;
    const int u = 0;
    float ${arrays.map((a) => `${a}_r[1]`).join(', ')};
    ${arrays.map((a) => `${a}_r[0] = ${a}[i];`).join(' ')}
${single.element.map((l) => `    ${l}`).join('\n')}
  }`;
  return { prologue: `  ${prologue}`, body, slots: vector.slots };
}
