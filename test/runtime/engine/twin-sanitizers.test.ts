// The engine's kernels under AddressSanitizer and UBSan on the CPU twin: what compute-sanitizer would say on a GPU,
// checked on every CI run.  A kernel that reads or writes past a buffer or its shared memory, or whose index math
// overflows, gives garbage or a fault on a GPU (whose allocations are rounded up, so often silently); on the twin it
// is a report and a failed test.  Planted errors prove the sanitizers see them through the twin's launch path (fibers,
// shared memory included), and that the twin fails a misaligned 16-byte access (always on, no sanitizer needed); then
// the engine's twin tests run again with every twin library sanitized.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage, emulationSource, EMULATION_FLAGS } from '../../../src/runtime/engine/kernel-build';
import { findCompiler } from '../../../src/runtime/kernel-cache';
import { vectorHelpers } from '../../../src/compiler/cuda-vector-pass';

const SANITIZER_FLAGS = ['-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-fno-omit-frame-pointer', '-g'];

/** The engine's twin tests that launch its kernels (the rest of test/runtime/engine builds or plans only). */
const SANITIZED_TESTS = ['engine-step', 'engine-tiled', 'children-update', 'engine-profile', 'engine-evaluator'];

const PLANTED = vectorHelpers('default') + String.raw`
// With shift 1 the last thread reads one past the end of its input.
extern "C" __global__ void global_past_end(const float* in, float* out, int shift) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  out[i] = in[i + shift];
}
// Shared memory through a pointer (as the tiled kernels address their slabs): the last thread writes past the tile.
extern "C" __global__ void shared_past_end(const float* in, float* out, int shift) {
  __shared__ float tile[64];
  float* t = tile + shift;
  t[threadIdx.x] = in[blockIdx.x * 64 + threadIdx.x];
  __syncthreads();
  out[blockIdx.x * 64 + threadIdx.x] = tile[threadIdx.x];
}
// 32-bit index math that overflows (a child's offset computed in int where it needs 64 bits).
extern "C" __global__ void index_overflow(const float* in, float* out, int stride) {
  const int at = (int)blockIdx.x * stride * 4;
  out[threadIdx.x] = in[at > 0 ? 0 : threadIdx.x];
}
// The children update's 16-byte access helpers on an address shift floats off a 16-byte boundary.
extern "C" __global__ void misaligned_load(const float* in, float* out, int shift) {
  if (threadIdx.x >= 16) return;
  float r[4];
  nos_load4(in + 4 * threadIdx.x + shift, r);
  nos_store4(out + 4 * threadIdx.x, r);
}
`;

const DRIVER = String.raw`
#include <stdio.h>
#include <stdlib.h>
static nos_emu_launcher find(const char* name) {
  for (const nos_emu_entry* e = nos_emu_kernels; e->name; ++e)
    if (strcmp(e->name, name) == 0) return e->launch;
  return 0;
}
// Runs one planted kernel over 4 blocks of 64 threads on buffers of exactly 256 floats: argv[1] names it, argv[2]
// is its int argument.
int main(int argc, char** argv) {
  float* in = (float*)calloc(256, sizeof(float));
  float* out = (float*)calloc(256, sizeof(float));
  int n = argc > 2 ? atoi(argv[2]) : 0;
  const unsigned int grid[3] = {4, 1, 1}, block[3] = {64, 1, 1};
  void* params[] = {&in, &out, &n};
  const char* error = find(argv[1])(grid, block, params, 0, 4);
  printf("%s\n", error ? error : "ok");
  free(in);
  free(out);
  return 0;
}
`;

const compiler = findCompiler();
/** The ASan runtime of the twin's compiler, which node must load first for a sanitized library to load (null: none). */
const libasan = (() => {
  if (!compiler) return null;
  try {
    const found = execFileSync(compiler.command[0], [...compiler.command.slice(1), '-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
    return path.isAbsolute(found) && fs.existsSync(found) ? found : null;
  } catch {
    return null;
  }
})();
const skip = !compiler ? 'no C++ compiler' : !libasan ? `${compiler.command[0]} has no AddressSanitizer runtime (-print-file-name=libasan.so)` : false;

/** Builds the planted kernels as a program on the twin's launch path (with `sanitizers`, once per dir); runs `name`. */
function runPlanted(dir: string, name: string, arg: number, sanitizers: readonly string[] = SANITIZER_FLAGS): { status: number | null; output: string } {
  const exe = path.join(dir, 'planted');
  if (!fs.existsSync(exe)) {
    const source = path.join(dir, 'planted.cc');
    fs.writeFileSync(source, emulationSource(PLANTED) + DRIVER);
    const flags = EMULATION_FLAGS.filter((f) => f !== '-shared' && f !== '-fPIC');
    execFileSync(compiler!.command[0], [...compiler!.command.slice(1), ...flags, ...sanitizers, '-pthread', source, '-o', exe], { stdio: 'pipe' });
  }
  try {
    const output = execFileSync(exe, [name, String(arg)], { encoding: 'utf8', stdio: 'pipe', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' } });
    return { status: 0, output };
  } catch (err) {
    const e = err as { status: number | null; stdout: string; stderr: string };
    return { status: e.status, output: `${e.stdout}${e.stderr}` };
  }
}

test('the sanitized twin catches a kernel reading past a buffer or its shared memory, and 32-bit index overflow', { skip }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-twin-sanitize-'));
  try {
    const clean = [runPlanted(dir, 'global_past_end', 0), runPlanted(dir, 'shared_past_end', 0), runPlanted(dir, 'index_overflow', 1)];
    for (const r of clean) assert.deepEqual(r, { status: 0, output: 'ok\n' }, 'the same kernels within bounds run clean');
    const past = runPlanted(dir, 'global_past_end', 1);
    assert.notEqual(past.status, 0);
    assert.match(past.output, /AddressSanitizer: heap-buffer-overflow[\s\S]*in global_past_end/);
    const shared = runPlanted(dir, 'shared_past_end', 1);
    assert.notEqual(shared.status, 0);
    // UBSan's object-size check or ASan's redzone around the tile (emu_shim.h), whichever sees it first.
    assert.match(shared.output, /AddressSanitizer: global-buffer-overflow[\s\S]*in shared_past_end|planted\.cc:\d+:\d+: runtime error: store to address \S+ with insufficient space/);
    const overflow = runPlanted(dir, 'index_overflow', 1 << 30);
    assert.notEqual(overflow.status, 0);
    assert.match(overflow.output, /runtime error: signed integer overflow/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a 16-byte access at an address that is not 16-byte aligned fails the launch on the twin, as it faults on a GPU', { skip: compiler ? false : 'no C++ compiler' }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-twin-aligned-'));
  try {
    assert.deepEqual(runPlanted(dir, 'misaligned_load', 0, []), { status: 0, output: 'ok\n' });
    assert.deepEqual(runPlanted(dir, 'misaligned_load', 1, []), { status: 0, output: 'a 16-byte load or store at an address that is not 16-byte aligned (a GPU faults there)\n' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the engine build passes NOS_KERNEL_FLAGS to the twin, so it can be sanitized', { skip }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-twin-flags-'));
  const before = process.env.NOS_KERNEL_FLAGS;
  try {
    process.env.NOS_KERNEL_FLAGS = SANITIZER_FLAGS.join(' ');
    const library = buildImage('host', 'planted', PLANTED, 'global_past_end', { cacheDir: dir });
    assert.match(execFileSync('readelf', ['-d', library], { encoding: 'utf8' }), /NEEDED.*libasan/);
  } finally {
    if (before === undefined) delete process.env.NOS_KERNEL_FLAGS;
    else process.env.NOS_KERNEL_FLAGS = before;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test(`the engine's kernels run clean under AddressSanitizer and UBSan (${SANITIZED_TESTS.join(', ')})`, { skip }, async () => {
  const files = SANITIZED_TESTS.map((name) => path.join(__dirname, `${name}.test.js`));
  // NODE_TEST_CONTEXT would make the inner test runner report to this one in its binary protocol.
  const { NODE_TEST_CONTEXT: _, ...outer } = process.env;
  const env = {
    ...outer,
    NOS_KERNEL_FLAGS: SANITIZER_FLAGS.join(' '),
    LD_PRELOAD: libasan!,
    // node itself is not instrumented: its own allocations are not leaks to report.
    ASAN_OPTIONS: 'detect_leaks=0:verify_asan_link_order=0',
    UBSAN_OPTIONS: 'print_stacktrace=1',
  };
  const result = await new Promise<{ code: number | null; output: string }>((resolve) => {
    execFile(process.execPath, ['--test', '--test-concurrency=1', ...files], { env, maxBuffer: 64 << 20, timeout: 15 * 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, output: `${stdout}${stderr}` }));
  });
  const report = result.output.match(/(ERROR: AddressSanitizer|runtime error:)[\s\S]{0,3000}/)?.[0];
  const failed = result.output.split('\n').filter((l) => /^not ok|^# (pass|fail)/.test(l)).join('\n');
  assert.equal(result.code, 0, report ?? failed ?? result.output.slice(-3000));
  assert.match(result.output, /^# fail 0$/m);
});
