// The CPU twin's barriers and shared memory (emu_shim.h, emu_launch.h): test kernels compiled as the engine's twin
// is, driven by a small C program that runs a launch's blocks on two OS threads at once, as the host device does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { emulationSource, EMULATION_FLAGS } from '../../../src/runtime/engine/kernel-build';
import { findCompiler } from '../../../src/runtime/kernel-cache';

const KERNELS = String.raw`
// Sum of each block's values by a tree in shared memory: every step reads what other threads wrote before the barrier.
extern "C" __global__ void block_sum(const int* in, int* out) {
  __shared__ int partial[256];
  const unsigned int t = threadIdx.x;
  partial[t] = in[blockIdx.x * blockDim.x + t];
  __syncthreads();
  for (unsigned int half = blockDim.x / 2; half > 0; half /= 2) {
    if (t < half) partial[t] = partial[t] + partial[t + half];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = partial[0];
}

// A 16x16 tile transposed through shared memory: thread (x, y) writes (x, y) and reads (y, x).
extern "C" __global__ void transpose16(const float* in, float* out) {
  __shared__ float tile[16][17];
  const int base = blockIdx.x * 256;
  tile[threadIdx.y][threadIdx.x] = in[base + threadIdx.y * 16 + threadIdx.x];
  __syncthreads();
  out[base + threadIdx.y * 16 + threadIdx.x] = tile[threadIdx.x][threadIdx.y];
}

// Threads that return before the barrier no longer hold it (as on the GPU); the others still meet there.
extern "C" __global__ void early_exit(int* out) {
  __shared__ int seen[64];
  const unsigned int t = threadIdx.x;
  if (t >= 40) return;
  seen[t] = (int)t + 1;
  __syncthreads();
  out[blockIdx.x * 64 + t] = seen[39 - t];
}

// Odd threads wait at one barrier, even ones at another: undefined on a GPU, an error on the twin.
extern "C" __global__ void divergent(int* out) {
  if (threadIdx.x % 2 == 0) {
    __syncthreads();
  } else {
    __syncthreads();
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}

// Thread 0 returns at once and the others wait: the twin runs the block without fibers, and must say so.
extern "C" __global__ void late_barrier(int* out) {
  if (threadIdx.x == 0) return;
  __syncthreads();
  out[threadIdx.x] = 2;
}

// A barrier in a helper, inside a loop whose trip count is the same for the whole block.
static __device__ void rotate(int* ring, unsigned int t, unsigned int n) {
  const int mine = ring[(t + 1) % n];
  __syncthreads();
  ring[t] = mine;
  __syncthreads();
}
extern "C" __global__ void rotate_ring(int* out) {
  __shared__ int ring[96];
  ring[threadIdx.x] = (int)threadIdx.x;
  __syncthreads();
  for (int k = 0; k < 5; ++k) rotate(ring, threadIdx.x, blockDim.x);
  out[blockIdx.x * blockDim.x + threadIdx.x] = ring[threadIdx.x];
}
`;

const DRIVER = String.raw`
#include <pthread.h>
#include <stdio.h>

static nos_emu_launcher find(const char* name) {
  for (const nos_emu_entry* e = nos_emu_kernels; e->name; ++e)
    if (strcmp(e->name, name) == 0) return e->launch;
  return 0;
}

struct half_launch {
  nos_emu_launcher launch;
  const unsigned int* grid;
  const unsigned int* block;
  void** params;
  long long first, last;
  const char* error;
};
static void* run_half(void* p) {
  half_launch* h = (half_launch*)p;
  h->error = h->launch(h->grid, h->block, h->params, h->first, h->last);
  return 0;
}

// Blocks [0, n/2) and [n/2, n) on two OS threads at once; prints the first error or "ok".
static void launch(const char* name, unsigned int gx, unsigned int bx, unsigned int by, void** params) {
  const unsigned int grid[3] = {gx, 1, 1}, block[3] = {bx, by, 1};
  half_launch a = {find(name), grid, block, params, 0, gx / 2, 0};
  half_launch b = {find(name), grid, block, params, gx / 2, gx, 0};
  pthread_t ta, tb;
  pthread_create(&ta, 0, run_half, &a);
  pthread_create(&tb, 0, run_half, &b);
  pthread_join(ta, 0);
  pthread_join(tb, 0);
  printf("%s %s\n", name, a.error ? a.error : b.error ? b.error : "ok");
}

int main() {
  enum { blocks = 6 };
  static int values[blocks * 256], sums[blocks];
  for (int i = 0; i < blocks * 256; ++i) values[i] = (i * 7919) % 1000 - 300;
  const int* in = values;
  int* out = sums;
  void* sum_params[] = {&in, &out};
  launch("block_sum", blocks, 256, 1, sum_params);
  for (int b = 0; b < blocks; ++b) printf("sum %d\n", sums[b]);

  static float square[4 * 256], turned[4 * 256];
  for (int i = 0; i < 4 * 256; ++i) square[i] = (float)i;
  const float* fin = square;
  float* fout = turned;
  void* t_params[] = {&fin, &fout};
  launch("transpose16", 4, 16, 16, t_params);
  int transposed = 1;
  for (int b = 0; b < 4; ++b)
    for (int y = 0; y < 16; ++y)
      for (int x = 0; x < 16; ++x) transposed &= turned[b * 256 + y * 16 + x] == square[b * 256 + x * 16 + y];
  printf("transposed %d\n", transposed);

  static int early[4 * 64];
  int* eout = early;
  void* e_params[] = {&eout};
  launch("early_exit", 4, 64, 1, e_params);
  int expected = 1;
  for (int b = 0; b < 4; ++b)
    for (int t = 0; t < 64; ++t) expected &= early[b * 64 + t] == (t < 40 ? 40 - t : 0);
  printf("early %d\n", expected);

  static int flags[64];
  int* fl = flags;
  void* d_params[] = {&fl};
  launch("divergent", 2, 64, 1, d_params);
  launch("late_barrier", 2, 64, 1, d_params);

  static int rotated[3 * 96];
  int* rout = rotated;
  void* r_params[] = {&rout};
  launch("rotate_ring", 3, 96, 1, r_params);
  int ring = 1;
  for (int b = 0; b < 3; ++b)
    for (int t = 0; t < 96; ++t) ring &= rotated[b * 96 + t] == (t + 5) % 96;
  printf("ring %d\n", ring);
  return 0;
}
`;

const compiler = findCompiler();

// Both fiber switches: x86-64's own (where the twin runs here) and ucontext's (every other machine).
for (const [what, define] of [['the fast switch', []], ['ucontext', ['-DNOS_EMU_UCONTEXT']]] as const) {
  test(`the twin runs barriers and shared memory as a GPU block does, and names a barrier it cannot emulate (${what})`, { skip: compiler ? false : 'no C++ compiler' }, () => {
    runDriver([...define]);
  });
}

function runDriver(defines: string[]): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-emu-barrier-'));
  try {
    const source = path.join(dir, 'driver.cc');
    const exe = path.join(dir, 'driver');
    fs.writeFileSync(source, emulationSource(KERNELS) + DRIVER);
    const flags = EMULATION_FLAGS.filter((f) => f !== '-shared' && f !== '-fPIC');
    execFileSync(compiler!.command[0], [...compiler!.command.slice(1), ...flags, ...defines, '-pthread', source, '-o', exe], { stdio: 'pipe' });
    const lines = execFileSync(exe, { encoding: 'utf8', timeout: 60_000 }).trim().split('\n');

    const values = Array.from({ length: 6 * 256 }, (_, i) => ((i * 7919) % 1000) - 300);
    const sums = Array.from({ length: 6 }, (_, b) => values.slice(b * 256, (b + 1) * 256).reduce((s, v) => s + v, 0));
    assert.deepEqual(lines, [
      'block_sum ok', ...sums.map((s) => `sum ${s}`),
      'transpose16 ok', 'transposed 1',
      'early_exit ok', 'early 1',
      'divergent threads of a block wait at different __syncthreads (a barrier in divergent code)',
      'late_barrier a thread waited at __syncthreads where thread 0 of its block did not (a barrier in divergent code)',
      'rotate_ring ok', 'ring 1',
    ]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
