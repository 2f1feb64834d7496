// The CPU twin of CUDA's kernel language, for compiling the engine's kernels (kernels.cu, the rule updates) as C++:
// a kernel becomes a plain function, and a launch runs it once per thread of every block, with blockIdx/threadIdx
// read from a per-OS-thread context (so the host can run disjoint block ranges on several threads at once).
// A kernel that synchronizes (__syncthreads) runs each thread of a block as a fiber on the OS thread that runs the
// block: a thread runs until it waits at the barrier, then the next one, and once every thread still running waits
// there they all go on, in thread order (emu_fiber.h, emu_launch.h).  __shared__ memory is one copy per OS thread, so the threads
// of a block share it and blocks running at the same time on other OS threads do not.
// Faithful for kernels that follow kernels.cu's rules: no warp intrinsics or atomics, threads of a block exchange
// data only through shared memory across a barrier, and no thread reads what another block of the launch writes.
// Plain C headers only (built with -nostdinc++, like the optimizer kernels: compiles in a fraction of the time).
#include <math.h>
#include <string.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
// One copy per OS thread: the block it runs shares it (see above).  CUDA leaves shared memory uninitialized.
// Under AddressSanitizer (the sanitized twin: test/runtime/engine/twin-sanitizers.test.ts) it is one plain static
// instead, which ASan surrounds with redzones (it guards no thread-locals), so indexing past a __shared__ array is
// caught as compute-sanitizer would catch it on the GPU; such a library runs one launch's blocks at a time
// (emu_launch.h), as the blocks would otherwise share it.
#if defined(__SANITIZE_ADDRESS__)
#define NOS_EMU_SHARED_STATIC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NOS_EMU_SHARED_STATIC 1
#endif
#endif
#ifdef NOS_EMU_SHARED_STATIC
#define __shared__ static
#else
#define __shared__ static thread_local
#endif

struct nos_emu_dim3 {
  unsigned int x, y, z;
};
struct nos_emu_context {
  nos_emu_dim3 thread, block, block_dim, grid_dim;
};
static thread_local nos_emu_context nos_emu;
#define threadIdx (nos_emu.thread)
#define blockIdx (nos_emu.block)
#define blockDim (nos_emu.block_dim)
#define gridDim (nos_emu.grid_dim)

// The launch's first error, which its launcher returns (the host device raises it): what the twin can tell would go
// wrong on a GPU (a barrier it cannot emulate, emu_fiber.h; a misaligned vector access, render-children.ts).
static thread_local const char* nos_emu_error;
static inline void nos_emu_fail(const char* why) {
  if (nos_emu_error == 0) nos_emu_error = why;
}

static inline float __int_as_float(int bits) {
  float f;
  memcpy(&f, &bits, 4);
  return f;
}
static inline int __float_as_int(float f) {
  int bits;
  memcpy(&bits, &f, 4);
  return bits;
}
