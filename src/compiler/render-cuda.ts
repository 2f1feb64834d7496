// The CUDA target: one extern "C" __global__ nos_update over a list of tensors (blockIdx.y), four elements per thread.
//
// Self-contained for NVRTC (no #include: the math functions are built in, the integer types are spelled out).
// Every element reads w, g and its state once, updates the state, computes the rule and writes w: one pass, with
// 16-byte loads and stores where a tensor's arrays allow (cuda-vector-pass.ts).  Launch with gridDim.y = count (at
// most 65535 tensors per launch), any blockDim.x, and any gridDim.x with gridDim.x * blockDim.x < 2^31; the launch
// covers a tensor in one pass when gridDim.x * blockDim.x >= min(n, 2^30) / 4 + 8 (cudaUpdateGrid), and loops
// otherwise.  A tensor of 2^30 elements or more is taken in runs of 2^30, so indices within a run fit in 32 bits.
// nos itself launches a list as a table of chunks (cudaLaunchPlan below), which any launcher may do: an entry is a
// tensor's chunk with its pointers and rng_base moved by the chunk's offset.
import { cudaHelpers } from './cuda-dialect';
import { vectorHelpers, vectorPass, VECTOR_WIDTH } from './cuda-vector-pass';
import { ruleComment } from './dialect';
import type { KernelRule } from './interpret';
import { KERNEL_ABI_VERSION, NOS_SCALAR_COUNT } from './kernel-abi';
import { scheduleKernel } from './schedule';

/** Elements of one run of a tensor (the kernel's 32-bit indices). */
export const CUDA_RUN_ELEMENTS = 2 ** 30;

/** Threads per block of nos's launches of nos_update. */
export const CUDA_UPDATE_BLOCK = 256;

/**
 * Blocks along x for a launch of nos_update over tensors of at most `maxN` elements: one pass over each (a thread per
 * group of four, and the unaligned head and tail, at most 3 + 3 elements, one per thread).
 */
export function cudaUpdateGrid(maxN: number, block = CUDA_UPDATE_BLOCK): number {
  const threads = Math.ceil(Math.min(maxN, CUDA_RUN_ELEMENTS) / VECTOR_WIDTH) + 2 * VECTOR_WIDTH;
  return Math.max(1, Math.ceil(threads / block));
}

/** Entries of a launch's table at most (gridDim.y). */
export const CUDA_MAX_ENTRIES = 65535;
/** The smallest chunk nos cuts tensors into (a multiple of four, so a chunk keeps its tensor's alignment). */
const CUDA_MIN_CHUNK = 2 ** 16;

/**
 * How nos launches nos_update over tensors of `sizes`: each tensor cut into table entries of `chunk` elements (the
 * last one shorter), so that the blocks along x serve one chunk rather than the largest tensor, and a list of many
 * small tensors and one large one does not launch (tensors x largest / 1,024) blocks that have nothing to do.  The
 * chunk is the smallest power of two from 2^16 that keeps the table within CUDA_MAX_ENTRIES; each entry's rng_base
 * is its tensor's plus the chunk's offset, so the draws are those of the whole tensor.
 */
export interface CudaLaunchPlan { chunk: number; entries: number; blocks: number }

export function cudaLaunchPlan(sizes: readonly number[]): CudaLaunchPlan {
  if (sizes.length > CUDA_MAX_ENTRIES) throw new RangeError(`CUDA update: at most ${CUDA_MAX_ENTRIES} tensors per list, got ${sizes.length}`);
  const largest = sizes.reduce((a, b) => Math.max(a, b), 0);
  for (let chunk = CUDA_MIN_CHUNK; chunk <= CUDA_RUN_ELEMENTS; chunk *= 2) {
    const entries = sizes.reduce((sum, n) => sum + Math.ceil(n / chunk), 0);
    if (entries <= CUDA_MAX_ENTRIES) return { chunk, entries, blocks: cudaUpdateGrid(Math.min(chunk, largest)) };
  }
  throw new RangeError(`CUDA update: ${sizes.reduce((a, b) => a + b, 0)} elements do not fit one launch (${CUDA_MAX_ENTRIES} entries of 2^30)`);
}

/**
 * cudaLaunchPlan in C++, for launchers built from source (the PyTorch export's): nos_update_entries(ts, count,
 * &blocks) cuts a host table into the entries to launch (empty when the tensors cannot be launched at once: the
 * caller says so).  Needs <vector> and the nos_tensor struct.
 */
export function cudaLaunchPlanC(): string {
  return `// nos's launch plan for nos_update (render-cuda.ts cudaLaunchPlan): tensors cut into chunks of a power of two from
// 2^16, the smallest that keeps the table within ${CUDA_MAX_ENTRIES} entries; blocks of ${CUDA_UPDATE_BLOCK} threads along x.
static std::vector<nos_tensor> nos_update_entries(const nos_tensor* ts, size_t count, long long* blocks) {
  std::vector<nos_tensor> out;
  long long largest = 0;
  for (size_t k = 0; k < count; ++k) largest = ts[k].n > largest ? ts[k].n : largest;
  for (long long chunk = ${CUDA_MIN_CHUNK}ll; chunk <= ${CUDA_RUN_ELEMENTS}ll && count <= ${CUDA_MAX_ENTRIES}; chunk *= 2) {
    long long entries = 0;
    for (size_t k = 0; k < count; ++k) entries += (ts[k].n + chunk - 1) / chunk;
    if (entries > ${CUDA_MAX_ENTRIES}) continue;
    for (size_t k = 0; k < count; ++k) {
      for (long long at = 0; at < ts[k].n; at += chunk) {
        nos_tensor e = ts[k];
        e.w += at;
        e.g += at;
        for (int s = 0; s < 4; ++s) if (e.s[s]) e.s[s] += at;
        e.n = ts[k].n - at < chunk ? ts[k].n - at : chunk;
        e.rng_base += (unsigned long long)at;
        out.push_back(e);
      }
    }
    const long long run = largest < chunk ? largest : chunk;
    *blocks = ${cudaUpdateGridC('run', String(CUDA_UPDATE_BLOCK))};
    return out;
  }
  return out;
}`;
}

/** cudaUpdateGrid in C: `maxN` and `block` are C expressions. */
function cudaUpdateGridC(maxN: string, block: string): string {
  const run = `(${maxN} < ${CUDA_RUN_ELEMENTS}ll ? ${maxN} : ${CUDA_RUN_ELEMENTS}ll)`;
  return `((${run} + ${VECTOR_WIDTH - 1}) / ${VECTOR_WIDTH} + ${2 * VECTOR_WIDTH} + (${block}) - 1) / (${block})`;
}

/** CUDA C source of the fused update kernel; compiles with NVRTC or `nvcc -ptx`. */
export function renderCuda(rule: KernelRule): string {
  const schedule = scheduleKernel(rule);
  const pass = vectorPass(schedule, { layout: { groups: 1, cache: 'default' }, scalar: (k) => `sc.v[${k}]` });
  const slotPointers = pass.slots.map((k) => `    float* __restrict__ s${k} = tensor.s[${k}] + at;`);
  return `// nos kernel for CUDA, ABI ${KERNEL_ABI_VERSION}. ${ruleComment(rule)}
// Build: NVRTC or nvcc -ptx; --fmad=false rounds a*b+c twice as the interpreter does (the default fuses it).
// Launch: ts is a device array of count nos_tensor (state slot s[0] m, s[1] v, s[2] y, s[3] mom; rng_base, the first
// element's index for the random draws), gridDim.y = count <= 65535, any block, any gridDim.x with fewer than 2^31
// threads along x; one pass over a tensor of n elements with gridDim.x * blockDim.x >= min(n, 2^30) / 4 + 8.
// sc: the step's scalars (nos's kernel-abi.ts).
#define NOS_SCALAR_COUNT ${NOS_SCALAR_COUNT}
struct nos_tensor { float* w; const float* g; float* s[4]; long long n; unsigned long long rng_base; };
struct nos_scalars { float v[NOS_SCALAR_COUNT]; };

${cudaHelpers()}
${vectorHelpers('default', true)}
extern "C" __global__ void nos_update(const nos_tensor* ts, int count, nos_scalars sc,
                                      unsigned int seed, unsigned int step) {
  if ((int)blockIdx.y >= count) return;
  const nos_tensor tensor = ts[blockIdx.y];
${pass.prologue}
  (void)seed; (void)step;
  const int threads = (int)(gridDim.x * blockDim.x);
  const int thread = (int)(blockIdx.x * blockDim.x + threadIdx.x);
  for (long long at = 0; at < tensor.n; at += ${CUDA_RUN_ELEMENTS}ll) {
    const int n = (int)(tensor.n - at < ${CUDA_RUN_ELEMENTS}ll ? tensor.n - at : ${CUDA_RUN_ELEMENTS}ll);
    float* __restrict__ wp = tensor.w + at;
    const float* __restrict__ gp = tensor.g + at; (void)gp;
${slotPointers.join('\n')}
    const unsigned long long rng_base = tensor.rng_base + (unsigned long long)at; (void)rng_base;
${pass.body.split('\n').map((l) => `  ${l}`).join('\n')}
  }
}
`;
}
