// Test support for the C++ and CUDA renderers: batch compiles (two at a time) and a dlopen harness that runs a kernel.
//
// The harness reads tensors, state and per-step scalars from a file, runs the kernel's nos_update_range (odd steps,
// each tensor split in two ranges) or nos_update_list (even steps), and writes w and the state back, so the test
// compares the compiled kernel with the interpreter without needing the runtime's addon.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NOS_SCALAR_COUNT, type JsTensor } from '../../src/compiler/kernel-abi';
import { interpretStep, type KernelRule } from '../../src/compiler/interpret';
import { cloneTensors, randomGradient, randomTensors, testScalars } from './render-rules';
import { KernelErrorBound, assertWithinBound } from '../support/kernel-error-bound';
import { packageRoot } from '../../src/runtime/binding';

/** Run commands with at most `parallel` at a time; resolves to each command's error text ('' when it succeeded). */
export async function runAll(commands: Array<[string, string[]]>, parallel = 2): Promise<string[]> {
  const results: string[] = new Array(commands.length).fill('');
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < commands.length) {
      const k = next++;
      const [exe, args] = commands[k];
      results[k] = await new Promise<string>((resolve) => {
        execFile(exe, args, { maxBuffer: 16 << 20 }, (err, _stdout, stderr) => resolve(err ? `${err.message}\n${stderr}` : ''));
      });
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return results;
}

/** Reads tensors and steps, calls `run_step(ts, count, scalars, seed, step, t)` per step, writes w and the state. */
const HARNESS_IO = `
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <vector>
struct nos_host_tensor { float* w; const float* g; float* s[4]; int64_t n; uint64_t rng_base; };
static void must(bool ok, const char* what) { if (!ok) { fprintf(stderr, "harness: %s\\n", what); exit(3); } }
template <class T> static T get(FILE* f) { T x; must(fread(&x, sizeof x, 1, f) == 1, "short input"); return x; }
static void run_step(nos_host_tensor* ts, int32_t count, const float* scalars, uint32_t seed, uint32_t step, int t);
// How many floats past its buffer's (16-byte aligned) start array \`field\` (0 w, 1 g, 2.. state) of a tensor lies.
static int harness_shift(int tensor, int field);
static int harness_main(const char* in_path, const char* out_path) {
  FILE* in = fopen(in_path, "rb");
  must(in, "cannot open input");
  const int32_t count = get<int32_t>(in), steps = get<int32_t>(in);
  const uint32_t seed = get<uint32_t>(in);
  std::vector<nos_host_tensor> ts(count);
  std::vector<std::vector<float>> store;
  store.reserve(count * 6);
  std::vector<int32_t> masks(count);
  for (int k = 0; k < count; ++k) {
    ts[k].n = get<int64_t>(in); ts[k].rng_base = get<uint64_t>(in); masks[k] = get<int32_t>(in);
  }
  for (int k = 0; k < count; ++k) {
    store.emplace_back(ts[k].n + 3); ts[k].w = store.back().data() + harness_shift(k, 0);
    must(fread(ts[k].w, 4, ts[k].n, in) == (size_t)ts[k].n, "short w");
    store.emplace_back(ts[k].n + 3); ts[k].g = store.back().data() + harness_shift(k, 1);
    for (int s = 0; s < 4; ++s) {
      ts[k].s[s] = nullptr;
      if (masks[k] & (1 << s)) {
        store.emplace_back(ts[k].n + 3); ts[k].s[s] = store.back().data() + harness_shift(k, 2 + s);
        must(fread(ts[k].s[s], 4, ts[k].n, in) == (size_t)ts[k].n, "short state");
      }
    }
  }
  std::vector<float> scalars(${NOS_SCALAR_COUNT});
  for (int t = 0; t < steps; ++t) {
    must(fread(scalars.data(), 4, scalars.size(), in) == scalars.size(), "short scalars");
    const uint32_t step = get<uint32_t>(in);
    for (int k = 0; k < count; ++k) must(fread((float*)ts[k].g, 4, ts[k].n, in) == (size_t)ts[k].n, "short g");
    run_step(ts.data(), count, scalars.data(), seed, step, t);
  }
  FILE* out = fopen(out_path, "wb");
  must(out, "cannot open output");
  for (int k = 0; k < count; ++k) {
    fwrite(ts[k].w, 4, ts[k].n, out);
    for (int s = 0; s < 4; ++s) if (ts[k].s[s]) fwrite(ts[k].s[s], 4, ts[k].n, out);
  }
  fclose(out);
  return 0;
}
`;

/**
 * Harness for CPU kernels: dlopens a kernel library; odd steps call nos_update_range on two halves, even steps
 * nos_update_list.  An optional symbol suffix picks one kernel of a bundle (cpuBundle).
 */
export const HARNESS_SOURCE = `// Runs one generated CPU kernel from a shared library over inputs read from a file.
#include <dlfcn.h>
#include <string>
${HARNESS_IO}
typedef void (*range_fn)(const nos_host_tensor*, int64_t, int64_t, const float*, uint32_t, uint32_t);
typedef void (*list_fn)(const nos_host_tensor*, int32_t, const float*, uint32_t, uint32_t);
static range_fn range;
static list_fn list;
static int harness_shift(int, int) { return 0; }
static void run_step(nos_host_tensor* ts, int32_t count, const float* scalars, uint32_t seed, uint32_t step, int t) {
  if (t % 2 == 0) {
    for (int k = 0; k < count; ++k) {
      const int64_t mid = ts[k].n / 2;
      range(&ts[k], mid, ts[k].n, scalars, seed, step);
      range(&ts[k], 0, mid, scalars, seed, step);
    }
  } else {
    list(ts, count, scalars, seed, step);
  }
}
int main(int argc, char** argv) {
  must(argc == 4 || argc == 5, "usage: harness lib.so in.bin out.bin [symbol-suffix]");
  void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) { fprintf(stderr, "harness: %s\\n", dlerror()); return 3; }
  const std::string suffix = argc == 5 ? argv[4] : "";
  range = (range_fn)dlsym(lib, ("nos_update_range" + suffix).c_str());
  list = (list_fn)dlsym(lib, ("nos_update_list" + suffix).c_str());
  must(range && list, "missing nos_update_range or nos_update_list");
  return harness_main(argv[2], argv[3]);
}
`;

/**
 * A host program that runs CUDA kernels on the CPU behind the engine's shim (native/engine/emu_shim.h: CUDA's
 * qualifiers as plain C++, blockIdx and the rest per OS thread), each launch running every (block, thread) in turn:
 * on even steps a grid of 3 blocks of 5 threads (the kernel loops), on odd ones a grid that covers every tensor in
 * one pass.  Tensors lie in memory three ways: 16-byte aligned, all one float past a boundary (tensor 1: the 16-byte
 * loads start after a head), and each array at another offset (tensor 2: every element one at a time).  A launch the twin
 * finds faulty (a misaligned 16-byte access) fails the run.  Each kernel comes in its own namespace with its entry
 * point renamed nos_update_<k>; `harness <k> in.bin out.bin` runs kernel k.
 */
export function cudaEmulationSource(kernels: string[]): string {
  const shim = fs.readFileSync(path.join(packageRoot(), 'native', 'engine', 'emu_shim.h'), 'utf8');
  const body = kernels.map((src, k) => `namespace rule${k} {\n${src.replace('void nos_update(', `void nos_update_${k}(`)}\n}
static void launch_${k}(nos_host_tensor* ts, int count, const float* scalars, unsigned seed, unsigned step) {
  rule${k}::nos_scalars sc;
  for (int j = 0; j < NOS_SCALAR_COUNT; ++j) sc.v[j] = scalars[j];
  for (blockIdx.y = 0; blockIdx.y < gridDim.y; ++blockIdx.y)
    for (blockIdx.x = 0; blockIdx.x < gridDim.x; ++blockIdx.x)
      for (threadIdx.x = 0; threadIdx.x < blockDim.x; ++threadIdx.x)
        rule${k}::nos_update_${k}((const rule${k}::nos_tensor*)ts, count, sc, seed, step);
}`).join('\n');
  return `// CUDA kernels run on the host for testing.
${shim}
${HARNESS_IO}
static int harness_shift(int tensor, int field) { return tensor % 4 == 1 ? 1 : tensor % 4 == 2 ? field % 4 : 0; }
${body}
typedef void (*launch_fn)(nos_host_tensor*, int, const float*, unsigned, unsigned);
static launch_fn launches[] = { ${kernels.map((_, k) => `launch_${k}`).join(', ')} };
static int chosen;
static void run_step(nos_host_tensor* ts, int32_t count, const float* scalars, uint32_t seed, uint32_t step, int t) {
  long long max_n = 0;
  for (int k = 0; k < count; ++k) max_n = ts[k].n > max_n ? ts[k].n : max_n;
  gridDim.y = count; gridDim.z = 1; blockDim.y = 1; blockDim.z = 1;
  if (t % 2 == 0) { gridDim.x = 3; blockDim.x = 5; }
  else { blockDim.x = 32; gridDim.x = (unsigned)((max_n / 4 + 8 + 31) / 32); }
  nos_emu_error = 0;
  launches[chosen](ts, count, scalars, seed, step);
  if (nos_emu_error) { fprintf(stderr, "harness: the kernel failed: %s\\n", nos_emu_error); exit(4); }
}
int main(int argc, char** argv) {
  must(argc == 4, "usage: harness kernel-index in.bin out.bin");
  chosen = atoi(argv[1]);
  must(chosen >= 0 && chosen < (int)(sizeof launches / sizeof launches[0]), "no such kernel");
  return harness_main(argv[2], argv[3]);
}
`;
}

/** One step's inputs: its scalars, its 1-based step number and a gradient per tensor. */
export interface HarnessStep { scalars: Float32Array; step: number; grads: Float32Array[] }

/** The harness input file for `ts` (initial w and state) and `steps`. */
export function harnessInput(ts: JsTensor[], seed: number, steps: HarnessStep[]): Buffer {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(12);
  header.writeInt32LE(ts.length, 0);
  header.writeInt32LE(steps.length, 4);
  header.writeUInt32LE(seed, 8);
  parts.push(header);
  for (const t of ts) {
    const b = Buffer.alloc(20);
    b.writeBigInt64LE(BigInt(t.w.length), 0);
    b.writeBigUInt64LE(BigInt(t.rngBase), 8);
    b.writeInt32LE(t.s.reduce((mask, s, k) => (s ? mask | (1 << k) : mask), 0), 16);
    parts.push(b);
  }
  const bytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  for (const t of ts) {
    parts.push(bytes(t.w));
    for (const s of t.s) if (s) parts.push(bytes(s));
  }
  for (const st of steps) {
    parts.push(bytes(st.scalars));
    const b = Buffer.alloc(4);
    b.writeUInt32LE(st.step, 0);
    parts.push(b);
    for (const g of st.grads) parts.push(bytes(g));
  }
  return Buffer.concat(parts);
}

/** Read the harness output into copies of `shape` (same tensors, same state slots). */
export function harnessOutput(file: string, shape: JsTensor[]): JsTensor[] {
  const buf = fs.readFileSync(file);
  let offset = 0;
  const take = (n: number): Float32Array => {
    const out = new Float32Array(n);
    Buffer.from(out.buffer).set(buf.subarray(offset, offset + 4 * n));
    offset += 4 * n;
    return out;
  };
  return shape.map((t) => ({ w: take(t.w.length), g: t.g, s: t.s.map((s) => (s ? take(s.length) : undefined)), rngBase: t.rngBase }));
}

/** The first executable named `name` on PATH (or at an absolute path), or null. */
export function which(name: string): string | null {
  if (path.isAbsolute(name)) return fs.existsSync(name) ? name : null;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try { fs.accessSync(file, fs.constants.X_OK); return file; } catch { /* next */ }
  }
  return null;
}

/** Bit-for-bit equality of two float32 arrays (NaN equals NaN; +0 equals -0). */
export function assertSameFloats(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (a === e || (Number.isNaN(a) && Number.isNaN(e))) continue;
    assert.fail(`${what}[${i}]: kernel ${a}, interpreter ${e}`);
  }
}

/** One kernel run: the interpreter's result after the steps, the bound of its w, the files the harness reads and writes. */
export interface NativeRun { name: string; expected: JsTensor[]; bounds: Float64Array[]; shape: JsTensor[]; input: string; output: string }

/**
 * For each rule: fresh tensors (element indices crossing 2^32, so Philox's high counter word matters), 4 steps of
 * fresh gradients run through the interpreter (with the error bound of w beside it), and the same inputs written
 * for the harness.
 */
export function prepareRuns(rules: Array<{ name: string; info: KernelRule }>, dir: string, random: () => number): NativeRun[] {
  return rules.map(({ name, info }, k) => {
    const sizes = [37, 64, 22, 1];
    const initial = randomTensors(info, sizes, random, 2 ** 32 - 50);
    const expected = cloneTensors(initial);
    const bound = new KernelErrorBound(info, sizes);
    const seed = (random() * 2 ** 32) >>> 0;
    const steps: HarnessStep[] = [];
    for (let t = 1; t <= 4; t++) {
      const grads = initial.map((x) => randomGradient(x.g.length, random));
      const scalars = testScalars(info, t);
      steps.push({ scalars, step: t, grads });
      expected.forEach((x, j) => x.g.set(grads[j]));
      bound.step(expected, scalars, seed, t);
      interpretStep(info, expected, scalars, seed, t);
    }
    const input = path.join(dir, `in${k}.bin`);
    fs.writeFileSync(input, harnessInput(initial, seed, steps));
    return { name, expected, bounds: bound.wBound, shape: initial, input, output: path.join(dir, `out${k}.bin`) };
  });
}

/**
 * Compare every run's harness output with the interpreter; `errors[k]` is run k's harness error text.  The state is
 * bit for bit; w within its error bound (test/support/kernel-error-bound.ts), bit for bit where no libm reaches it.
 */
export function checkRuns(runs: NativeRun[], errors: string[], label: string): void {
  runs.forEach(({ name, expected, bounds, shape, output }, k) => {
    assert.equal(errors[k], '', `${label} rule ${name}: harness failed`);
    harnessOutput(output, shape).forEach((t, j) => {
      const what = `${label} rule ${name}, tensor ${j}`;
      assertWithinBound(t.w, expected[j].w, bounds[j], `${what} w`);
      t.s.forEach((s, slot) => { if (s) assertSameFloats(s, expected[j].s[slot]!, `${what} slot ${slot}`); });
    });
  });
}

/**
 * Many CPU kernels in one translation unit (one g++ start): each in its own namespace, its entry points renamed
 * nos_update_range_<k> and nos_update_list_<k>; the includes go first, once.
 */
export function cpuBundle(sources: string[]): string {
  const includes = /^#include <[^>]+>\n/gm;
  return `#include <stdint.h>\n#include <math.h>\n${sources.map((src, k) => `namespace rule${k} {\n${src.replace(includes, '')
    .replace('extern "C" void nos_update_range(', `extern "C" void nos_update_range_${k}(`)
    .replace('extern "C" void nos_update_list(', `extern "C" void nos_update_list_${k}(`)
    .replace('nos_update_range(&ts[k]', `nos_update_range_${k}(&ts[k]`)
    .replace('extern "C" const uint32_t nos_state_slots', `extern "C" const uint32_t nos_state_slots_${k}`)}\n}\n`).join('\n')}`;
}
