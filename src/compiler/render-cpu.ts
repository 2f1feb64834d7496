// The C++ (CPU) target: nos_update_range and nos_update_list per kernel-abi.ts, one fused loop g++ -O3 -mavx2 vectorizes.
//
// The element loop has restrict-qualified pointers and branch-free helpers, so g++ -O3 -mavx2 (with CPU_COMPILE_FLAGS)
// turns it into 8-wide AVX2 code with a scalar tail.  Loops that call expf/logf/powf per element stay scalar: libm is
// not vectorized without -ffast-math, which would break agreement with the interpreter.
import { CDialect, cFloatLiteral, cHelpers } from './render-c-base';
import { emitKernelBody, ruleComment } from './dialect';
import type { KernelRule } from './interpret';
import { KERNEL_ABI_VERSION, NOS_SCALAR_COUNT } from './kernel-abi';

/**
 * Flags the kernels are written for (beside -shared -fPIC): -fno-math-errno lets g++ vectorize sqrtf (errno is never
 * read), -ffp-contract=off keeps a*b+c as two roundings like the interpreter.  Neither changes a result otherwise.
 */
export const CPU_COMPILE_FLAGS: readonly string[] = ['-O3', '-mavx2', '-mfma', '-fno-math-errno', '-ffp-contract=off'];

/** C++ for g++ and clang++: scalars from the `scalars` array, drops as a bit mask (see nos_keep). */
export class CpuDialect extends CDialect {
  lit(x: number): string { return cFloatLiteral(x, '__builtin_inff()', '__builtin_nanf("")'); }
  scalar(k: number): string { return `scalars[${k}]`; }
  drop(a: string, site: number, p: number): string { return `nos_keep(${a}, ${this.keepTest(site, p)})`; }
  indexDecl(): string { return 'const uint64_t idx = rng_base + (uint64_t)i;'; }
}

const cpuDialect = new CpuDialect();

/** C++ source of the fused update kernel for the CPU; compile with g++ -O3 -mavx2 -mfma -shared -fPIC. */
export function renderCpu(rule: KernelRule): string {
  const body = emitKernelBody(rule, cpuDialect);
  const indent = (lines: string[], pad: string): string => lines.map((l) => pad + l).join('\n');
  const slotPointers = body.slots.map((k) => `  float* __restrict s${k} = t->s[${k}];`).join('\n');
  return `// nos kernel for the CPU, ABI ${KERNEL_ABI_VERSION}. ${ruleComment(rule)}
// Build: g++ ${CPU_COMPILE_FLAGS.join(' ')} -shared -fPIC (no -ffast-math: it would change results).
#include <stdint.h>
#include <math.h>

struct nos_tensor { float* w; const float* g; float* s[4]; int64_t n; uint64_t rng_base; };
#define NOS_SCALAR_COUNT ${NOS_SCALAR_COUNT}

${cHelpers('static inline', 'uint32_t', 'uint64_t', (x) => `__builtin_signbit(${x})`)}
// keep ? a : 0 as a bit mask: a select here lets g++ sink a's arithmetic into a branch that then blocks vectorizing.
static inline float nos_keep(float a, bool keep) {
  uint32_t bits;
  __builtin_memcpy(&bits, &a, 4);
  bits &= 0u - (uint32_t)keep;
  float out;
  __builtin_memcpy(&out, &bits, 4);
  return out;
}
extern "C" void nos_update_range(const nos_tensor* t, int64_t begin, int64_t end,
                                 const float* scalars, uint32_t seed, uint32_t step) {
  (void)seed; (void)step;
  float* __restrict wp = t->w;
  const float* __restrict gp = t->g; (void)gp;
${slotPointers}
  const uint64_t rng_base = t->rng_base; (void)rng_base;
  if (begin < 0) begin = 0;
  if (end > t->n) end = t->n;
${indent(body.prologue, '  ')}
  (void)lr; (void)b1; (void)b2; (void)b3; (void)ibc1; (void)ibc2; (void)ibc3; (void)delta; (void)mu; (void)nstd; (void)astd;
  (void)omb1; (void)omb2; (void)omb3;
#pragma GCC ivdep
  for (int64_t i = begin; i < end; ++i) {
${indent(body.element, '    ')}
  }
}

extern "C" void nos_update_list(const nos_tensor* ts, int32_t count,
                                const float* scalars, uint32_t seed, uint32_t step) {
  for (int32_t k = 0; k < count; ++k) nos_update_range(&ts[k], 0, ts[k].n, scalars, seed, step);
}

// The state slots this kernel reads and writes (bit k = slot k): the runtime refuses a call that lacks one.
extern "C" const uint32_t nos_state_slots = ${body.slots.reduce((mask, k) => mask | (1 << k), 0)}u;
`;
}
