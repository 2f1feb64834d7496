// The CUDA target: one extern "C" __global__ nos_update over a list of tensors (blockIdx.y), grid-stride over elements.
//
// Self-contained for NVRTC (no #include: the math functions are built in, the integer types are spelled out).
// Every element reads w, g and its state once, updates the state, computes the rule and writes w: one pass.
// Launch with gridDim.y = count (at most 65535 tensors per launch) and any gridDim.x, blockDim.x.
import { CDialect, cFloatLiteral, cHelpers } from './render-c-base';
import { emitKernelBody, ruleComment } from './dialect';
import type { KernelRule } from './interpret';
import { KERNEL_ABI_VERSION, NOS_SCALAR_COUNT } from './kernel-abi';

/** CUDA C for NVRTC: scalars from the by-value nos_scalars struct, infinities by bit pattern, drops as a ternary. */
export class CudaDialect extends CDialect {
  lit(x: number): string { return cFloatLiteral(x, '__int_as_float(0x7f800000)', '__int_as_float(0x7fffffff)'); }
  scalar(k: number): string { return `sc.v[${k}]`; }
  drop(a: string, site: number, p: number): string { return `(${this.keepTest(site, p)} ? ${a} : 0.0f)`; }
  indexDecl(): string { return 'const unsigned long long idx = rng_base + (unsigned long long)i;'; }
}

const cudaDialect = new CudaDialect();

/** The shared C helpers (Philox, sign, select ...) spelled for CUDA. */
export function cudaHelpers(): string {
  return cHelpers('static __device__ __forceinline__', 'unsigned int', 'unsigned long long', (x) => `(__float_as_int(${x}) < 0)`);
}

/** CUDA C source of the fused update kernel; compiles with NVRTC or `nvcc -ptx`. */
export function renderCuda(rule: KernelRule): string {
  const body = emitKernelBody(rule, cudaDialect);
  const indent = (lines: string[], pad: string): string => lines.map((l) => pad + l).join('\n');
  const slotPointers = body.slots.map((k) => `  float* __restrict__ s${k} = t.s[${k}];`);
  return `// nos kernel for CUDA, ABI ${KERNEL_ABI_VERSION}. ${ruleComment(rule)}
// Build: NVRTC or nvcc -ptx; --fmad=false rounds a*b+c twice as the interpreter does (the default fuses it).
#define NOS_SCALAR_COUNT ${NOS_SCALAR_COUNT}
struct nos_tensor { float* w; const float* g; float* s[4]; long long n; unsigned long long rng_base; };
struct nos_scalars { float v[NOS_SCALAR_COUNT]; };

${cudaHelpers()}
extern "C" __global__ void nos_update(const nos_tensor* ts, int count, nos_scalars sc,
                                      unsigned int seed, unsigned int step) {
  if ((int)blockIdx.y >= count) return;
  const nos_tensor t = ts[blockIdx.y];
  float* __restrict__ wp = t.w;
  const float* __restrict__ gp = t.g; (void)gp;
${slotPointers.join('\n')}
  const unsigned long long rng_base = t.rng_base;
${indent(body.prologue, '  ')}
  (void)lr; (void)b1; (void)b2; (void)b3; (void)ibc1; (void)ibc2; (void)ibc3; (void)delta; (void)mu; (void)nstd; (void)astd;
  (void)omb1; (void)omb2; (void)omb3;
  (void)seed; (void)step; (void)rng_base;
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < t.n; i += stride) {
${indent(body.element, '    ')}
  }
}
`;
}
