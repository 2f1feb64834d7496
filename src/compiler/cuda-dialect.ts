// How CUDA C spells a kernel (the dialect of dialect.ts) and the shared C helpers in CUDA's words: the base of both
// CUDA update kernels (render-cuda.ts for the optimizer, render-children.ts for the child engine).
import { CDialect, cFloatLiteral, cHelpers } from './render-c-base';

/** CUDA C for NVRTC: scalars from the by-value nos_scalars struct, infinities by bit pattern, drops as a ternary. */
export class CudaDialect extends CDialect {
  lit(x: number): string { return cFloatLiteral(x, '__int_as_float(0x7f800000)', '__int_as_float(0x7fffffff)'); }
  scalar(k: number): string { return `sc.v[${k}]`; }
  drop(a: string, site: number, p: number): string { return `(${this.keepTest(site, p)} ? ${a} : 0.0f)`; }
  indexDecl(): string { return 'const unsigned long long idx = rng_base + (unsigned long long)i;'; }
}

/** The shared C helpers (Philox, sign, select ...) spelled for CUDA. */
export function cudaHelpers(): string {
  return cHelpers('static __device__ __forceinline__', 'unsigned int', 'unsigned long long', (x) => `(__float_as_int(${x}) < 0)`);
}
