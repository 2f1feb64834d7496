// Appended to an emulation build after the kernels (see emu_shim.h): runs a kernel over a range of a launch's blocks.
// The generated export table (one NOS_EMU_EXPORT per kernel, ended by {nullptr, nullptr}) lists the launchers by
// name; native/engine/device_host.cc looks them up in nos_emu_kernels.  A launcher returns null, or the launch's
// first error (the host device raises it).
// In a library built with NOS_EMU_FIBERS (its source names __syncthreads) a block's thread 0 runs as a fiber: when it
// finishes without waiting at a barrier, the block does not synchronize (CUDA allows a barrier only where the whole
// block reaches it) and the other threads run one after another on the OS thread's own stack; when it waits, every
// thread of the block runs as a fiber.  Other libraries (every rule's update) run threads one after another, with no
// fiber state at all: a search loads a library per rule, and each would keep its own per-thread stacks.
#include <stdlib.h>
#include <sys/mman.h>

typedef const char* (*nos_emu_launcher)(const unsigned int* grid, const unsigned int* block, void** params,
                                        long long first_block, long long last_block);

// std::index_sequence and std::remove_reference, without the C++ library.
template <unsigned long... I>
struct nos_emu_indices {};
template <unsigned long N, unsigned long... I>
struct nos_emu_make_indices : nos_emu_make_indices<N - 1, N - 1, I...> {};
template <unsigned long... I>
struct nos_emu_make_indices<0, I...> {
  typedef nos_emu_indices<I...> type;
};
template <typename T>
struct nos_emu_bare {
  typedef T type;
};
template <typename T>
struct nos_emu_bare<T&> {
  typedef T type;
};

template <typename... A, unsigned long... I>
static inline void nos_emu_call(void (*kernel)(A...), void** params, nos_emu_indices<I...>) {
  kernel(*static_cast<typename nos_emu_bare<A>::type*>(params[I])...);
}

// NOS_EMU_REVERSED (a build flag: test/runtime/engine/twin-order.test.ts) runs a launch's blocks, and each block's
// threads, in the opposite order: a kernel whose threads read what other threads or blocks of the same launch write
// (a race on a GPU) then gives other bits, where the kernels' rules (kernels.cu) promise the same.

// Sets the grid and block dimensions and block b's index (linear order, x fastest).
static inline void nos_emu_enter_block(const unsigned int* grid, const unsigned int* block, long long b) {
  nos_emu.grid_dim = nos_emu_dim3{grid[0], grid[1], grid[2]};
  nos_emu.block_dim = nos_emu_dim3{block[0], block[1], block[2]};
  const long long gx = grid[0], gxy = (long long)grid[0] * grid[1];
#ifdef NOS_EMU_REVERSED
  b = gxy * grid[2] - 1 - b;
#endif
  nos_emu.block = nos_emu_dim3{(unsigned int)(b % gx), (unsigned int)((b / gx) % grid[1]), (unsigned int)(b / gxy)};
}

// Thread t of the block in linear order (x fastest).
static inline void nos_emu_enter_thread(const unsigned int* block, unsigned int t) {
#ifdef NOS_EMU_REVERSED
  t = block[0] * block[1] * block[2] - 1 - t;
#endif
  nos_emu.thread = nos_emu_dim3{t % block[0], (t / block[0]) % block[1], t / (block[0] * block[1])};
}

#ifdef NOS_EMU_FIBERS  // defined by the build when the source names __syncthreads (kernel-build.ts)
// Fiber stacks, kept per OS thread (and per emulation library: each has its own thread-locals) for the process's
// life: thread 0's, mapped at the first launch, and those of threads 1..n-1, mapped only when a block synchronizes.
// Each has a guard page below it, so an overflow faults instead of writing into the next.  (Every guard page costs the
// process two of its memory mappings, which are limited: hence no stacks for kernels that never synchronize.)
enum { nos_emu_stack_bytes = 64 * 1024, nos_emu_guard_bytes = 4096, nos_emu_max_threads = 1024 };
struct nos_emu_fiber_pool {
  char* first;             // thread 0's stack
  char* others;            // threads 1 .. capacity
  unsigned int capacity;
  nos_emu_block block;
};
static thread_local nos_emu_fiber_pool nos_emu_pool;

// `count` stacks, each above its guard page; null when out of memory.
static char* nos_emu_map_stacks(unsigned int count) {
  const size_t each = nos_emu_stack_bytes + nos_emu_guard_bytes;
  void* stacks = mmap(0, each * count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (stacks == MAP_FAILED) return 0;
  for (unsigned int t = 0; t < count; ++t) {
    if (mprotect((char*)stacks + t * each, nos_emu_guard_bytes, PROT_NONE) != 0) {
      munmap(stacks, each * count);
      return 0;
    }
  }
  return (char*)stacks;
}

static inline char* nos_emu_stack(unsigned int t) {
  const size_t each = nos_emu_stack_bytes + nos_emu_guard_bytes;
  return t == 0 ? nos_emu_pool.first + nos_emu_guard_bytes : nos_emu_pool.others + (t - 1) * each + nos_emu_guard_bytes;
}

// Thread 0's stack and the fiber records, once per OS thread.
static const char* nos_emu_pool_ready() {
  nos_emu_fiber_pool& pool = nos_emu_pool;
  if (pool.first != 0) return 0;
  pool.block.fibers = (nos_emu_fiber*)calloc(nos_emu_max_threads, sizeof(nos_emu_fiber));
  pool.first = pool.block.fibers != 0 ? nos_emu_map_stacks(1) : 0;
  if (pool.first == 0) {
    free(pool.block.fibers);
    pool.block.fibers = 0;
    return "could not set up the twin's fibers (out of memory, or of memory mappings)";
  }
  return 0;
}

// Stacks for threads 1 .. threads-1 of a block that synchronizes.
static const char* nos_emu_pool_grow(unsigned int threads) {
  nos_emu_fiber_pool& pool = nos_emu_pool;
  if (threads - 1 <= pool.capacity) return 0;
  if (pool.others != 0) munmap(pool.others, (nos_emu_stack_bytes + nos_emu_guard_bytes) * (size_t)pool.capacity);
  pool.capacity = 0;
  pool.others = nos_emu_map_stacks(threads - 1);
  if (pool.others == 0) return "could not map the fiber stacks of a block that synchronizes (out of memory, or of memory mappings)";
  pool.capacity = threads - 1;
  return 0;
}

// A kernel and its arguments, run for the thread nos_emu_enter_thread set: directly (call) or as a fiber's body (run:
// then back to the scheduler for good, as a fiber's entry has nowhere to return to).
template <typename... A>
struct nos_emu_thread_body {
  static thread_local void (*kernel)(A...);
  static thread_local void** params;
  static void call() { nos_emu_call(kernel, params, typename nos_emu_make_indices<sizeof...(A)>::type{}); }
  static void run() {
    call();
    nos_emu_block* block = nos_emu_block_now;
    nos_emu_fiber* self = &block->fibers[block->current];
    self->state = nos_emu_fiber_done;
    nos_emu_context_swap(&self->context, &block->scheduler);
    __builtin_trap();  // never resumed
  }
};
template <typename... A>
thread_local void (*nos_emu_thread_body<A...>::kernel)(A...);
template <typename... A>
thread_local void** nos_emu_thread_body<A...>::params;

// Resumes fiber t until it waits at a barrier or finishes; false when it finished.
static inline bool nos_emu_resume(nos_emu_block& run, const unsigned int* block, unsigned int t) {
  nos_emu_fiber& f = run.fibers[t];
  run.current = t;
  nos_emu_enter_thread(block, t);
  f.state = nos_emu_fiber_ready;
  nos_emu_context_swap(&run.scheduler, &f.context);
  return f.state != nos_emu_fiber_done;
}

// Runs every thread of the current block to its end, thread 0 first as a fiber (see the top of this file).  With
// barriers: round-robin in thread order, each thread until it waits at a barrier or finishes; a round ends with every
// unfinished thread at the same barrier, which then opens (threads that returned no longer hold it, as on a GPU).
static const char* nos_emu_run_block(const unsigned int* block, unsigned int threads, void (*body)(), void (*call)()) {
  nos_emu_block& run = nos_emu_pool.block;
  nos_emu_block_now = &run;
  nos_emu_context_make(&run.fibers[0].context, nos_emu_stack(0), nos_emu_stack_bytes, body);
  if (!nos_emu_resume(run, block, 0)) {
    nos_emu_block_now = 0;  // no barrier: a __syncthreads now is an error (emu_fiber.h)
    for (unsigned int t = 1; t < threads; ++t) {
      nos_emu_enter_thread(block, t);
      call();
    }
    return nos_emu_error;
  }
  const char* error = nos_emu_pool_grow(threads);
  for (unsigned int t = 1; t < threads && error == 0; ++t) {
    nos_emu_context_make(&run.fibers[t].context, nos_emu_stack(t), nos_emu_stack_bytes, body);
    run.fibers[t].state = nos_emu_fiber_ready;
  }
  unsigned int done = 0;
  for (unsigned int start = 1; error == 0 && done < threads; start = 0) {
    int barrier = start == 1 ? run.fibers[0].line : -1;  // the first waiter's barrier, which all must wait at
    for (unsigned int t = start; t < threads && error == 0; ++t) {
      if (run.fibers[t].state == nos_emu_fiber_done) continue;
      if (!nos_emu_resume(run, block, t)) {
        done += 1;
      } else if (barrier < 0) {
        barrier = run.fibers[t].line;
      } else if (run.fibers[t].line != barrier) {
        error = "threads of a block wait at different __syncthreads (a barrier in divergent code)";
      }
    }
  }
  nos_emu_block_now = 0;
  return error != 0 ? error : nos_emu_error;
}

// Blocks [first, last) of the launch.
template <typename... A>
static const char* nos_emu_run(void (*kernel)(A...), const unsigned int* grid, const unsigned int* block,
                               void** params, long long first, long long last) {
  nos_emu_error = nos_emu_pool_ready();
  const unsigned int threads = block[0] * block[1] * block[2];
  if (nos_emu_error == 0 && threads > nos_emu_max_threads) nos_emu_error = "a block of more than 1024 threads";
  nos_emu_thread_body<A...>::kernel = kernel;
  nos_emu_thread_body<A...>::params = params;
  for (long long b = first; b < last && nos_emu_error == 0; ++b) {
    nos_emu_enter_block(grid, block, b);
    nos_emu_error = nos_emu_run_block(block, threads, &nos_emu_thread_body<A...>::run, &nos_emu_thread_body<A...>::call);
  }
  return nos_emu_error;
}

#else
// Blocks [first, last) of the launch, each block's threads one after another (a library whose source never names
// __syncthreads: no fibers, no stacks).
template <typename... A>
static const char* nos_emu_run(void (*kernel)(A...), const unsigned int* grid, const unsigned int* block,
                               void** params, long long first, long long last) {
  const unsigned int threads = block[0] * block[1] * block[2];
  nos_emu_error = 0;
  for (long long b = first; b < last && nos_emu_error == 0; ++b) {
    nos_emu_enter_block(grid, block, b);
    for (unsigned int t = 0; t < threads; ++t) {
      nos_emu_enter_thread(block, t);
      nos_emu_call(kernel, params, typename nos_emu_make_indices<sizeof...(A)>::type{});
    }
  }
  return nos_emu_error;
}
#endif

#ifdef NOS_EMU_SHARED_STATIC
// Shared memory is one static per kernel here (emu_shim.h): the OS threads of a launch take turns.
#include <pthread.h>
static pthread_mutex_t nos_emu_shared_lock = PTHREAD_MUTEX_INITIALIZER;
template <typename... A>
static const char* nos_emu_launch(void (*kernel)(A...), const unsigned int* grid, const unsigned int* block,
                                  void** params, long long first, long long last) {
  pthread_mutex_lock(&nos_emu_shared_lock);
  const char* error = nos_emu_run(kernel, grid, block, params, first, last);
  pthread_mutex_unlock(&nos_emu_shared_lock);
  return error;
}
#else
template <typename... A>
static inline const char* nos_emu_launch(void (*kernel)(A...), const unsigned int* grid, const unsigned int* block,
                                         void** params, long long first, long long last) {
  return nos_emu_run(kernel, grid, block, params, first, last);
}
#endif

struct nos_emu_entry {
  const char* name;
  nos_emu_launcher launch;
};

#define NOS_EMU_EXPORT(name)                                                                                   \
  {#name, [](const unsigned int* g, const unsigned int* b, void** p, long long f, long long l) {              \
     return nos_emu_launch(name, g, b, p, f, l);                                                               \
   }},
