// The CUDA optimizer (driver and NVRTC loading, device buffers, the tensor table, kernel parameters, state up and
// down, and the rule's CUDA kernel itself) end to end on a fake driver (test/runtime/fake-cuda.c) whose NVRTC builds
// the kernel's CPU twin: the CUDA optimizer must then equal the CPU optimizer bit for bit.  Runs in its own process
// (the driver is loaded once).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compileRule, interpretStep } from '../../src/compiler';
import type { JsTensor } from '../../src/compiler/kernel-abi';
import { testScalars } from '../compiler/render-rules';
import { renderRule } from '../../src/compiler/render';
import { CUDA_UPDATE_BLOCK, cudaLaunchPlan, cudaUpdateGrid } from '../../src/compiler/render-cuda';
import { loadAddon } from '../../src/runtime/binding';
import { buildFakeCuda, installFakeCuda } from '../support/fake-cuda';
import { execFileSync } from 'node:child_process';
import { clearMemoryCache, getCudaPtx } from '../../src/runtime/kernel-cache';
import { createOptimizer } from '../../src/runtime/optimizer';

const installed = installFakeCuda();
const skip = installed === false ? 'no C compiler for the fake driver' : false;
const fake = installed ? installed.library : undefined;
const cacheDir = installed ? installed.dir : os.tmpdir();

test('the fake device is found through NOS_LIBCUDA, with its compute capability', { skip }, () => {
  const info = loadAddon().cudaDeviceInfo();
  assert.equal(info.name, 'nos fake device');
  assert.equal(info.major, 9);
  assert.equal(info.driverPath, fake);
  const { ptx, nvrtcPath } = loadAddon().nvrtcCompile(renderRule(compileRule('adam'), 'cuda'), 'compute_90');
  assert.equal(nvrtcPath, fake);
  assert.match(ptx, /fake PTX for compute_90/);
});

for (const rule of ['adam', 'powersign-cd', 'momentum', 'table6-01', 'table6-17']) {
  test(`${rule}: the CUDA optimizer on the fake device equals the CPU optimizer, state included`, { skip }, () => {
    const options = { lr: 0.01, totalSteps: 20, seed: 11, cacheDir };
    const cpu = createOptimizer(rule, { ...options, device: 'cpu' });
    const cuda = createOptimizer(rule, { ...options, device: 'cuda' });
    assert.equal(cuda.device, 'cuda');
    const sizes = [1, 300, 4097];
    const pc = sizes.map((n) => Float32Array.from({ length: n }, (_, i) => Math.cos(i)));
    const pg = pc.map((p) => p.slice());
    const gradsAt = (t: number): Float32Array[] => sizes.map((n) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7 + t)));
    for (let t = 0; t < 3; t++) {
      cpu.step(pc, gradsAt(t));
      cuda.step(pg, gradsAt(t));
    }
    assert.deepEqual(pg, pc);
    assert.deepEqual(cuda.stateDict(), cpu.stateDict());
    // State restored onto the device continues like the CPU one.
    const again = createOptimizer(rule, { ...options, device: 'cuda' });
    again.loadStateDict(cpu.stateDict());
    const pa = pc.map((p) => p.slice());
    cpu.step(pc, gradsAt(3));
    again.step(pa, gradsAt(3));
    assert.deepEqual(pa, pc);
    cuda.dispose();
    again.dispose();
  });
}

// A GPU refuses what a CPU takes (more tensors than a launch's grid holds, a list larger than its memory): a refused
// list must leave the optimizer as it was, its state and the list it is bound to, not half freed.
test('a tensor list the device refuses leaves the CUDA optimizer as it was', { skip }, () => {
  const opt = createOptimizer('adam', { device: 'cuda', lr: 0.01, cacheDir });
  const ones = (n: number): Float32Array[] => Array.from({ length: n }, () => Float32Array.of(1));
  assert.throws(() => opt.step(ones(70000), ones(70000)), /at most 65535 tensors/);
  const params = [Float32Array.from([1, 2, 3])];
  const grads = (): Float32Array[] => [Float32Array.from([0.1, -0.2, 0.3])];
  opt.step(params, grads()); // nothing was bound: the first list it can take binds
  const saved = opt.stateDict();
  const tooMany = { ...saved, sizes: ones(70000).map(() => 1), tensors: ones(70000).map(() => ({ m: Float32Array.of(0), v: Float32Array.of(0) })) };
  assert.throws(() => opt.loadStateDict(tooMany), /at most 65535 tensors/);
  assert.deepEqual(opt.stateDict(), saved);
  const cpu = createOptimizer('adam', { device: 'cpu', lr: 0.01, cacheDir });
  const cpuParams = [Float32Array.from([1, 2, 3])];
  cpu.step(cpuParams, grads());
  cpu.step(cpuParams, grads());
  opt.step(params, grads());
  assert.deepEqual(params, cpuParams);
  opt.dispose();
  cpu.dispose();
});

// The kernel's ways through a tensor (16-byte groups after an unaligned head, every element one at a time when the
// arrays' offsets differ, a grid too small for one pass, tensors cut into chunks) give the interpreter's bits,
// dropout's draws included (each chunk's rng_base is its offset in the tensor).  The fake driver's buffers start 4, 8
// or 12 bytes past a 16-byte boundary here, in turn; a GPU's never do, a framework's slices can.
test('the CUDA kernel equals the interpreter on unaligned tensors, with a grid that loops, and in chunks', { skip }, () => {
  const addon = loadAddon();
  const info = compileRule('drop(adam, 0.5)');
  const sizes = [1, 3, 5, 64, 1031];
  const bases = new Float64Array(sizes.length);
  sizes.reduce((at, n, k) => { bases[k] = at; return at + n; }, 0);
  const kernel = new addon.CudaKernel(loadAddon().nvrtcCompile(renderRule(info, 'cuda'), 'compute_90').ptx);
  const w0 = sizes.map((n) => Float32Array.from({ length: n }, (_, i) => Math.cos(i * 1.3)));
  const g = sizes.map((n) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7)));
  // The reference interpreter: the rule's operations (no libm) are IEEE-exact on both sides, so the bits must agree.
  const scalars = testScalars(info, 1);
  const reference: JsTensor[] = sizes.map((n, k) => ({ w: w0[k].slice(), g: g[k], s: [new Float32Array(n), new Float32Array(n), undefined, undefined], rngBase: bases[k] }));
  interpretStep(info, reference, scalars, 5, 1);
  const expected = reference.map((t) => t.w);
  const run = (misalign: boolean, blocks: number, threads: number, chunk = cudaLaunchPlan(sizes).chunk): Float32Array[] => {
    if (misalign) process.env.NOS_FAKE_CUDA_MISALIGN = '1';
    const tensors = new addon.CudaTensors(Float64Array.from(sizes), [0, 1], bases, chunk);
    delete process.env.NOS_FAKE_CUDA_MISALIGN;
    sizes.forEach((_, k) => { tensors.upload(0, k, w0[k]); tensors.upload(1, k, g[k]); });
    tensors.step(kernel, scalars, 5, 1, blocks, threads);
    const out = sizes.map((n, k) => { const w = new Float32Array(n); tensors.download(0, k, w); return w; });
    tensors.free();
    return out;
  };
  // stepHost: the host arrays through the staging buffer, in one copy each way.
  const runHost = (misalign: boolean): Float32Array[] => {
    if (misalign) process.env.NOS_FAKE_CUDA_MISALIGN = '1';
    const tensors = new addon.CudaTensors(Float64Array.from(sizes), [0, 1], bases, cudaLaunchPlan(sizes).chunk, true);
    delete process.env.NOS_FAKE_CUDA_MISALIGN;
    const w = w0.map((a) => a.slice());
    tensors.stepHost(kernel, w, g, scalars, 5, 1, cudaUpdateGrid(1031), CUDA_UPDATE_BLOCK);
    tensors.free();
    return w;
  };
  assert.deepEqual(runHost(false), expected, 'stepHost, aligned');
  assert.deepEqual(runHost(true), expected, 'stepHost, unaligned');
  assert.deepEqual(run(false, cudaUpdateGrid(1031), CUDA_UPDATE_BLOCK), expected, 'aligned, one pass');
  assert.deepEqual(run(true, cudaUpdateGrid(1031), CUDA_UPDATE_BLOCK), expected, 'unaligned, one pass');
  assert.deepEqual(run(true, 2, 7), expected, 'unaligned, a grid of 14 threads');
  assert.deepEqual(run(false, 1, 32), expected, 'aligned, one block of 32 threads');
  assert.deepEqual(run(true, cudaUpdateGrid(8), CUDA_UPDATE_BLOCK, 8), expected, 'unaligned, in chunks of 8');
  // The draws matter: dropout left about half of the largest tensor's weights as they were.
  const kept = expected[4].filter((w, i) => w === w0[4][i]).length;
  assert.ok(kept > 0.3 * 1031 && kept < 0.7 * 1031, `${kept} of 1031 weights unchanged`);
  kernel.close();
});

// A rule without state reads and writes only w and g, which lie in one allocation: unaligned, they share their offset,
// so the kernel takes its unaligned head one element at a time and the rest in 16-byte groups.
test('a rule without state on unaligned buffers (w and g off a 16-byte boundary alike) equals the interpreter', { skip }, () => {
  const addon = loadAddon();
  const info = compileRule('drop(g, 0.5)');
  const sizes = [3, 64, 1031];
  const bases = new Float64Array([0, 3, 67]);
  const kernel = new addon.CudaKernel(addon.nvrtcCompile(renderRule(info, 'cuda'), 'compute_90').ptx);
  const w0 = sizes.map((n) => Float32Array.from({ length: n }, (_, i) => Math.cos(i * 1.1)));
  const g = sizes.map((n) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.3)));
  const scalars = testScalars(info, 1);
  const reference: JsTensor[] = sizes.map((n, k) => ({ w: w0[k].slice(), g: g[k], s: [undefined, undefined, undefined, undefined], rngBase: bases[k] }));
  interpretStep(info, reference, scalars, 3, 1);
  for (const misalign of [false, true]) {
    if (misalign) process.env.NOS_FAKE_CUDA_MISALIGN = '1';
    const tensors = new addon.CudaTensors(Float64Array.from(sizes), [], bases, cudaLaunchPlan(sizes).chunk);
    delete process.env.NOS_FAKE_CUDA_MISALIGN;
    const w = w0.map((a) => a.slice());
    tensors.stepHost(kernel, w, g, scalars, 3, 1, cudaUpdateGrid(1031), CUDA_UPDATE_BLOCK);
    tensors.free();
    assert.deepEqual(w, reference.map((t) => t.w), misalign ? 'unaligned' : 'aligned');
  }
  kernel.close();
});

/** The driver calls `body` makes, by name (the fake driver's NOS_FAKE_CUDA_CALLS trace). */
function driverCalls(body: () => void): Record<string, number> {
  const file = path.join(cacheDir, `calls-${process.pid}-${Math.random().toString(36).slice(2)}.txt`);
  process.env.NOS_FAKE_CUDA_CALLS = file;
  try {
    body();
  } finally {
    delete process.env.NOS_FAKE_CUDA_CALLS;
  }
  const counts: Record<string, number> = {};
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  for (const line of text.split('\n').filter((l) => l.length > 0)) {
    const name = line.split(' ')[0];
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

test('a CUDA step over host arrays copies once each way, whatever the number of tensors', { skip }, () => {
  const options = { lr: 0.01, seed: 4, cacheDir };
  const perStep = (count: number): Record<string, number> => {
    const sizes = Array.from({ length: count }, (_, k) => 1 + ((k * 37) % 101)); // odd sizes: padding between tensors
    const params = sizes.map((n, k) => Float32Array.from({ length: n }, (_, i) => Math.cos(i + k)));
    const reference = params.map((p) => p.slice());
    const gradsAt = (t: number): Float32Array[] => sizes.map((n, k) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.5 + k + t)));
    const cuda = createOptimizer('adam', { ...options, device: 'cuda' });
    const cpu = createOptimizer('adam', { ...options, device: 'cpu' });
    cuda.step(params, gradsAt(0)); // binds: allocations and the table
    cpu.step(reference, gradsAt(0));
    const grads = gradsAt(1);
    const calls = driverCalls(() => cuda.step(params, grads));
    cpu.step(reference, grads);
    assert.deepEqual(params, reference, `${count} tensors: the CPU optimizer's bits`);
    cuda.dispose();
    cpu.dispose();
    return calls;
  };
  const few = perStep(2);
  const many = perStep(40);
  assert.deepEqual(many, few, 'the same driver calls for 2 tensors and for 40');
  assert.equal(many.cuMemcpyHtoD, 1, 'one copy of every w and g to the device');
  assert.equal(many.cuMemcpyDtoH, 1, 'one copy of every w back');
  assert.equal(many.cuLaunchKernel, 1);
  assert.equal(many.cuMemAlloc ?? 0, 0, 'nothing allocated per step');
  assert.equal(many.cuMemAllocHost ?? 0, 0, 'the host staging buffer was allocated at bind');
});

test('a CUDA state dict is saved and loaded with one copy per state slot, whatever the number of tensors', { skip }, () => {
  const options = { lr: 0.01, seed: 4, cacheDir };
  const sizes = Array.from({ length: 40 }, (_, k) => 1 + ((k * 37) % 101)); // odd sizes: padding between tensors
  const params = sizes.map((n, k) => Float32Array.from({ length: n }, (_, i) => Math.cos(i + k)));
  const grads = sizes.map((n, k) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.5 + k)));
  const cuda = createOptimizer('adam', { ...options, device: 'cuda' });
  const cpu = createOptimizer('adam', { ...options, device: 'cpu' });
  cuda.step(params.map((p) => p.slice()), grads);
  cpu.step(params.map((p) => p.slice()), grads);
  let saved!: ReturnType<typeof cuda.stateDict>;
  const saving = driverCalls(() => { saved = cuda.stateDict(); });
  assert.deepEqual(saved, cpu.stateDict(), 'the CPU optimizer\'s state, tensor by tensor');
  assert.deepEqual([saving.cuMemcpyDtoH, saving.cuMemcpyHtoD ?? 0], [2, 0], 'one copy for m, one for v');
  const again = createOptimizer('adam', { ...options, device: 'cuda' });
  const loading = driverCalls(() => again.loadStateDict(saved));
  assert.equal(loading.cuMemcpyHtoD, 3, 'the bind\'s tensor table, then one copy for m and one for v');
  assert.deepEqual(again.stateDict(), saved);
  const [pa, pc] = [params.map((p) => p.slice()), params.map((p) => p.slice())];
  again.step(pa, grads);
  cpu.step(pc, grads);
  assert.deepEqual(pa, pc, 'the loaded state steps like the CPU one');
  for (const o of [cuda, cpu, again]) o.dispose();
});

test('uploadAll and downloadAll check their arguments and name them', { skip }, () => {
  const addon = loadAddon();
  const tensors = new addon.CudaTensors(new Float64Array([3, 5]), [0], new Float64Array([0, 3]), 65536, true);
  const arrays = [Float32Array.of(1, 2, 3), Float32Array.of(4, 5, 6, 7, 8)];
  tensors.uploadAll(2, arrays);
  const back = [new Float32Array(3), new Float32Array(5)];
  tensors.downloadAll(2, back);
  assert.deepEqual(back, arrays);
  assert.throws(() => tensors.uploadAll(2, [arrays[0]]), /uploadAll: values has 1 arrays, but 2 tensors are bound/);
  assert.throws(() => tensors.downloadAll(2, [back[0], new Float32Array(4)]), /downloadAll: values\[1\] has 4 elements, but tensor 1 was bound with 5/);
  assert.throws(() => tensors.uploadAll(2, [arrays[0], new Float64Array(5) as never]), /uploadAll: values\[1\]: expected a Float32Array, received a Float64Array/);
  assert.throws(() => tensors.uploadAll(3, arrays), /uploadAll: state slot 1 is not used by this rule/);
  assert.throws(() => tensors.uploadAll(6, arrays), /uploadAll: field must be 0 \(w\), 1 \(g\) or 2\.\.5/);
  assert.throws(() => tensors.uploadAll(2, arrays[0] as never), /uploadAll\(field, values: Float32Array\[\]\)/);
  tensors.free();
  assert.throws(() => tensors.downloadAll(2, back), /downloadAll: the tensors were freed/);
});

test('stepHost checks its arguments before copying anything, and errors name them', { skip }, () => {
  const addon = loadAddon();
  const kernel = new addon.CudaKernel(addon.nvrtcCompile(renderRule(compileRule('sgd'), 'cuda'), 'compute_90').ptx);
  const tensors = new addon.CudaTensors(new Float64Array([3, 5]), [], new Float64Array([0, 3]), 65536, true);
  const s = testScalars(compileRule('sgd'), 1);
  const w = [Float32Array.of(1, 2, 3), new Float32Array(5).fill(1)];
  const g = [Float32Array.of(1, 1, 1), new Float32Array(5).fill(2)];
  const before = w.map((a) => a.slice());
  const call = (params: unknown, grads: unknown): void => tensors.stepHost(kernel, params as Float32Array[], grads as Float32Array[], s, 0, 1, 1, 256);
  assert.throws(() => call([w[0]], g), /stepHost: params has 1 arrays, but 2 tensors are bound/);
  assert.throws(() => call(w, [g[0], g[1], g[1]]), /stepHost: grads has 3 arrays, but 2 tensors are bound/);
  assert.throws(() => call([w[0], new Float32Array(4)], g), /stepHost: params\[1\] has 4 elements, but tensor 1 was bound with 5/);
  assert.throws(() => call(w, [g[0], new Float64Array(5)]), /stepHost: grads\[1\]: expected a Float32Array, received a Float64Array/);
  assert.throws(() => call(w, [g[0], undefined]), /stepHost: grads\[1\]: expected a Float32Array, received undefined/);
  assert.throws(() => call(w[0], g), /stepHost: params must be an Array of Float32Array/);
  assert.throws(() => tensors.stepHost({} as never, w, g, s, 0, 1, 1, 256), /stepHost\(kernel: CudaKernel, params/);
  assert.throws(() => tensors.stepHost(kernel, w, g, s, 0, 1, 0, 256), /stepHost: blocks and threadsPerBlock must be positive/);
  assert.throws(() => tensors.stepHost(kernel, w, g, new Float32Array(8), 0, 1, 1, 256), /stepHost: scalars must hold at least 32 values/);
  assert.deepEqual(w, before, 'a refused step changed nothing');
  // A gradient may be its own parameter's array (read before written).
  const same = [Float32Array.of(1, 2, 3), new Float32Array(5).fill(4)];
  tensors.stepHost(kernel, same, same, s, 0, 1, 1, 256);
  assert.ok(same[0][0] < 1 && same[1][0] < 4, 'updated');
  tensors.stepHost(kernel, w, g, s, 0, 1, 1, 256);
  assert.notDeepEqual(w, before);
  tensors.free();
  assert.throws(() => call(w, g), /stepHost: the tensors were freed/);
  kernel.close();
  assert.throws(() => tensors.stepHost(kernel, w, g, s, 0, 1, 1, 256), /stepHost: the CUDA kernel was closed/);
});

test('CUDA kernels are cached: NVRTC runs once per rule, then memory, then disk in a fresh cache lookup', { skip }, () => {
  const dir = fs.mkdtempSync(path.join(cacheDir, 'ptx-'));
  const source = renderRule(compileRule('addsign'), 'cuda');
  let compiles = 0;
  const compile = (src: string, arch: string): string => {
    compiles++;
    return loadAddon().nvrtcCompile(src, arch).ptx;
  };
  const req = { hash: 'addsign-test', source, arch: 'compute_90', cacheDir: dir };
  assert.equal(getCudaPtx(req, compile).origin, 'compiled');
  assert.equal(getCudaPtx(req, compile).origin, 'memory');
  clearMemoryCache();
  const fromDisk = getCudaPtx(req, compile);
  assert.equal(fromDisk.origin, 'disk');
  assert.match(fromDisk.ptx, /\.entry nos_update/);
  assert.equal(compiles, 1);
  assert.equal(getCudaPtx({ ...req, arch: 'compute_80' }, compile).origin, 'compiled', 'another architecture is another entry');
});

test('a PTX cut short in the disk cache is compiled again, not an error until the cache is deleted', { skip }, () => {
  const dir = fs.mkdtempSync(path.join(cacheDir, 'ptx-cut-'));
  createOptimizer('powersign', { device: 'cuda', cacheDir: dir }).dispose();
  const [file] = fs.readdirSync(dir).filter((f) => f.endsWith('.ptx')).map((f) => path.join(dir, f));
  const whole = fs.readFileSync(file, 'utf8');
  fs.writeFileSync(file, whole.slice(0, whole.indexOf('.entry')) + '// .globl nos_update\n');
  clearMemoryCache();
  const opt = createOptimizer('powersign', { device: 'cuda', cacheDir: dir });
  assert.equal(opt.device, 'cuda');
  const w = new Float32Array([1, -1]);
  opt.step([w], [new Float32Array([0.5, -0.5])]);
  assert.ok(w[0] < 1 && w[1] > -1);
  opt.dispose();
  assert.equal(fs.readFileSync(file, 'utf8'), whole, 'the entry on disk is whole again');
});

test('device errors come back as JS errors with their context', { skip }, () => {
  const addon = loadAddon();
  assert.throws(() => new addon.CudaKernel('not ptx'), /cuModuleLoadData \(loading the compiled kernel\): fake CUDA error 218/);
  assert.throws(() => addon.nvrtcCompile('int x;', 'compute_90', 'empty.cu'), /NVRTC could not compile empty\.cu for compute_90: NVRTC_ERROR_COMPILATION/);
  const tensors = new addon.CudaTensors(new Float64Array([4]), [0], new Float64Array([0]), 65536);
  for (const bad of [0, 6, 2 ** 31]) {
    assert.throws(() => new addon.CudaTensors(new Float64Array([4]), [0], new Float64Array([0]), bad), /CudaTensors: chunk must be/);
  }
  assert.throws(() => tensors.upload(0, 0, new Float32Array(3)), /upload: array has 3 elements, device buffer 4/);
  assert.throws(() => tensors.upload(3, 0, new Float32Array(4)), /state slot 1 is not used by this rule/);
  assert.throws(() => tensors.download(0, 2, new Float32Array(4)), /tensor index 2 out of range \(1 tensors\)/);
  assert.throws(() => tensors.step({} as never, new Float32Array(32), 0, 1, 1, 256), /step\(kernel: CudaKernel/);
  // Argument types and ranges are checked before any cast or read (a Float32Array was read as doubles past its end).
  assert.throws(() => new addon.CudaTensors(new Float32Array([4, 4]) as never, [0], new Float64Array(2), 65536), /CudaTensors: sizes must be a Float64Array/);
  assert.throws(() => new addon.CudaTensors(new Float64Array([4]), [0], new Int32Array(1) as never, 65536), /CudaTensors: rngBases must be a Float64Array/);
  for (const bad of [-1, 2.5, NaN, Infinity]) {
    assert.throws(() => new addon.CudaTensors(new Float64Array([bad]), [0], new Float64Array([0]), 65536), /tensor 0: size and rngBase must be non-negative integers/);
    assert.throws(() => new addon.CudaTensors(new Float64Array([4]), [0], new Float64Array([bad]), 65536), /tensor 0: size and rngBase must be non-negative integers/);
  }
  const kernel = new addon.CudaKernel(loadAddon().nvrtcCompile(renderRule(compileRule('sgd'), 'cuda'), 'compute_90').ptx);
  assert.throws(() => tensors.step(kernel, new Float32Array(32), -1, 1, 1, 256), /step: seed must be an integer in \[0, 4294967295\]/);
  assert.throws(() => tensors.step(kernel, new Float32Array(32), 0, NaN, 1, 256), /step: step must be an integer in \[0, 4294967295\]/);
  assert.throws(() => tensors.step(kernel, new Float32Array(32), 0, 1, 0, 256), /step: blocks and threadsPerBlock must be positive/);
  assert.throws(() => tensors.step(kernel, new Float32Array(32), 0, 1, 1, 2048), /step: threadsPerBlock must be an integer in \[0, 1024\]/);
  assert.throws(() => tensors.step(kernel, new Float32Array(32), 0, 1, 2 ** 22, 1024), /fewer than 2\^31 threads in all/);
  kernel.close();
  assert.ok(addon.cudaCopyBandwidth(1 << 20, 3) > 0);
  assert.throws(() => addon.cudaCopyBandwidth(0, 3), /bytes in \[4, 64 GiB\]/);
  tensors.free();
});

/** Which NVRTC a fresh process takes (the loaders run once per process), with `env`: its path and version. */
function nvrtcTaken(env: NodeJS.ProcessEnv): { nvrtcPath: string; nvrtcVersion: string } {
  const binding = path.join(__dirname, '..', '..', 'src', 'runtime', 'binding' + path.extname(__filename));
  const script = `const r = require(${JSON.stringify(binding)}).loadAddon().nvrtcCompile('extern "C" __global__ void nos_update() {}', 'compute_90');
    process.stdout.write(JSON.stringify({ nvrtcPath: r.nvrtcPath, nvrtcVersion: r.nvrtcVersion }));`;
  const execArgv = path.extname(__filename) === '.ts' ? ['--import', 'tsx'] : [];
  return JSON.parse(execFileSync(process.execPath, [...execArgv, '-e', script], { env, encoding: 'utf8' })) as { nvrtcPath: string; nvrtcVersion: string };
}

test('of several NVRTCs (here Python wheels of CUDA 12.4 and 13.0 in a virtualenv) the first no newer than the driver is taken', { skip }, () => {
  const venv = fs.mkdtempSync(path.join(cacheDir, 'venv-'));
  const wheel = (name: string, file: string) => {
    const dir = path.join(venv, 'lib', 'python3.99', 'site-packages', 'nvidia', name, 'lib');
    fs.mkdirSync(dir, { recursive: true });
    return path.join(dir, file);
  };
  const cu12 = wheel('cuda_nvrtc', 'libnvrtc.so.12');
  const cu13 = wheel('cu13', 'libnvrtc.so.13');
  buildFakeCuda(cu12, 12040);
  fs.copyFileSync(fake!, cu13);
  const env: NodeJS.ProcessEnv = { ...process.env, VIRTUAL_ENV: venv };
  delete env.NOS_LIBNVRTC;
  // A CUDA 12.4 driver cannot load 13.0's PTX: the 12.4 wheel, although CUDA 13's comes first (and any toolkit's on
  // this machine before both).
  assert.deepEqual(nvrtcTaken({ ...env, NOS_FAKE_CUDA_DRIVER_VERSION: '12040' }), { nvrtcPath: cu12, nvrtcVersion: '12.4' });
  // A CUDA 13.0 driver takes the first found: a toolkit's on the loader path, else CUDA 13's wheel.
  assert.match(nvrtcTaken({ ...env, NOS_FAKE_CUDA_DRIVER_VERSION: '13000' }).nvrtcVersion, /^13\./);
  // NOS_LIBNVRTC is taken as named, even when newer than the driver (loading its PTX then says what to change).
  assert.deepEqual(nvrtcTaken({ ...env, NOS_LIBNVRTC: cu13, NOS_FAKE_CUDA_DRIVER_VERSION: '12040' }), { nvrtcPath: cu13, nvrtcVersion: '13.0' });
});
