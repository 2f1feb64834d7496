// Update-step throughput of the JIT-compiled kernels, as ratios against peers measured in the same run: a plain C
// kernel with the same memory traffic (the ceiling), a plain Float32Array loop, one flat buffer vs many tensors;
// plus cold compile and cache-hit times against the bare compiler start-up, and the per-call binding overhead.
//
// On a GPU it also times the CUDA kernels against the device's copy bandwidth, a CUDA kernel with the same traffic
// and PyTorch's fused Adam
// (NOS_PYTHON names a python3 with torch); without one that section says why it was skipped.
//
//   node dist/bench/update-throughput.js [--quick] [--threads N] [--only throughput,small,compile,overhead,gpu]
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compileRule } from '../src/compiler';
import { NOS_SCALAR_COUNT } from '../src/compiler/kernel-abi';
import { renderRule } from '../src/compiler/render';
import { vectorHelpers } from '../src/compiler/cuda-vector-pass';
import { CUDA_UPDATE_BLOCK, cudaLaunchPlan } from '../src/compiler/render-cuda';
import { loadAddon, type NativeAddon, type NativeCpuKernel } from '../src/runtime/binding';
import { cacheKey, clearMemoryCache, DEFAULT_CPU_FLAGS, findCompiler, getCpuKernel, getCudaPtx, type Compiler } from '../src/runtime/kernel-cache';
import { createOptimizer, type Optimizer } from '../src/runtime/optimizer';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const threadsArg = args.indexOf('--threads');
const threads = threadsArg >= 0 ? Number(args[threadsArg + 1]) : 2;
const SECONDS_PER_FIGURE = quick ? 0.15 : 0.6;
const onlyArg = args.indexOf('--only');
/** --only throughput,small,compile,overhead,gpu runs just those sections. */
const sections = new Set(onlyArg >= 0 ? args[onlyArg + 1].split(',') : ['throughput', 'small', 'compile', 'overhead', 'gpu']);

/** Best time per call in ms over repeated calls until `seconds` have passed (best of: the least disturbed by load). */
function best(fn: () => void, seconds = SECONDS_PER_FIGURE, minReps = 3): number {
  fn(); // warm: page faults, lazy binding
  let bestMs = Infinity;
  const deadline = performance.now() + seconds * 1000;
  let reps = 0;
  while (reps < minReps || performance.now() < deadline) {
    const t0 = performance.now();
    fn();
    bestMs = Math.min(bestMs, performance.now() - t0);
    reps++;
  }
  return bestMs;
}

/** CPU seconds used by finished child processes (/proc/self/stat cutime + cstime): compile cost without the wait for a core. */
function childCpuSeconds(): number {
  try {
    const fields = fs.readFileSync('/proc/self/stat', 'utf8').replace(/^.*\) /, '').split(' ');
    return (Number(fields[13]) + Number(fields[14])) / 100; // fields 16, 17 of stat(5), in USER_HZ = 100
  } catch {
    return NaN;
  }
}

/**
 * Two measurements interleaved in rounds (A batch, B batch, A batch, ...) so background load hits both alike. A
 * batch lasts about 2 ms and starts with one untimed call, so both sides are measured with warm caches (the other
 * side's data has just evicted theirs).  Returns per-round ms per call; compare them round by round (ratio of
 * neighbours in time), which stays meaningful when other processes load the machine.
 */
function pairSamples(a: () => void, b: () => void, seconds = 2 * SECONDS_PER_FIGURE, minRounds = 7): { a: number[]; b: number[] } {
  const plan = (fn: () => void): { batch: number; warm: boolean } => {
    fn();
    const t0 = performance.now();
    fn();
    const single = Math.max(performance.now() - t0, 1e-4);
    // Past ~50 ms a call streams far more than any cache holds: no warm-up call needed.
    return { batch: Math.max(1, Math.floor(2 / single)), warm: single < 50 };
  };
  const pa = plan(a);
  const pb = plan(b);
  const timeBatch = (fn: () => void, p: { batch: number; warm: boolean }): number => {
    if (p.warm) fn();
    const s = performance.now();
    for (let i = 0; i < p.batch; i++) fn();
    return (performance.now() - s) / p.batch;
  };
  const out = { a: [] as number[], b: [] as number[] };
  const deadline = performance.now() + seconds * 1000;
  while (out.a.length < minRounds || performance.now() < deadline) {
    out.a.push(timeBatch(a, pa));
    out.b.push(timeBatch(b, pb));
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const k = s.length >> 1;
  return s.length % 2 ? s[k] : (s[k - 1] + s[k]) / 2;
}

/** Median over rounds of b's time / a's time (how many times faster a is than b). */
function medianRatio(samples: { a: number[]; b: number[] }): number {
  return median(samples.a.map((ta, i) => samples.b[i] / ta));
}

// ---- the rules and what a TypeScript user would write for them ----------------------------------------------------
interface BenchRule {
  name: string;
  slots: number;
  /** One step in plain Float32Array code. */
  js(w: Float32Array, g: Float32Array, s: Float32Array[], lr: number, t: number): void;
}
const B1 = 0.9, B2 = 0.999, EPS = 1e-8;
const RULES: BenchRule[] = [
  {
    name: 'powersign', slots: 1,
    js(w, g, [m], lr) {
      for (let i = 0; i < w.length; i++) {
        m[i] = B1 * m[i] + (1 - B1) * g[i];
        w[i] -= lr * Math.exp(Math.sign(g[i]) * Math.sign(m[i])) * g[i];
      }
    },
  },
  {
    name: 'addsign', slots: 1,
    js(w, g, [m], lr) {
      for (let i = 0; i < w.length; i++) {
        m[i] = B1 * m[i] + (1 - B1) * g[i];
        w[i] -= lr * (1 + Math.sign(g[i]) * Math.sign(m[i])) * g[i];
      }
    },
  },
  {
    name: 'adam', slots: 2,
    js(w, g, [m, v], lr, t) {
      const c1 = 1 / (1 - B1 ** t), c2 = 1 / (1 - B2 ** t);
      for (let i = 0; i < w.length; i++) {
        m[i] = B1 * m[i] + (1 - B1) * g[i];
        v[i] = B2 * v[i] + (1 - B2) * g[i] * g[i];
        w[i] -= lr * (m[i] * c1) / (Math.sqrt(v[i] * c2) + EPS);
      }
    },
  },
];

/** The ceiling: the same loads and stores as a rule with `slots` state buffers and almost no arithmetic. */
function ceilingSource(slots: number): string {
  const state = Array.from({ length: slots }, (_, k) => `    const float a${k} = t->s[${k}][i] * b + gi; t->s[${k}][i] = a${k}; acc += a${k};`).join('\n');
  return `#include <stdint.h>
struct nos_tensor { float* w; const float* g; float* s[4]; int64_t n; uint64_t rng_base; };
extern "C" void nos_update_range(const nos_tensor* t, int64_t begin, int64_t end, const float* sc, uint32_t, uint32_t) {
  const float lr = sc[0], b = sc[1];
  float* __restrict w = t->w; const float* __restrict g = t->g;
  ${Array.from({ length: slots }, (_, k) => `float* __restrict s${k} = t->s[${k}];`).join(' ')}
  for (int64_t i = begin; i < end; ++i) {
    const float gi = g[i]; float acc = 0.0f;
${state.replace(/t->s\[(\d)\]\[i\]/g, 's$1[i]')}
    w[i] = w[i] - lr * acc;
  }
}
extern "C" void nos_update_list(const nos_tensor* ts, int32_t count, const float* sc, uint32_t seed, uint32_t step) {
  for (int32_t k = 0; k < count; ++k) nos_update_range(ts + k, 0, ts[k].n, sc, seed, step);
}
`;
}

function filled(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; a[i] = s / 4294967296 - 0.5; }
  return a;
}

const fmt = (x: number, digits = 2): string => (x >= 100 ? x.toFixed(0) : x.toFixed(digits));
const sizeName = (n: number): string => (n === 1 << 24 ? '16M' : n >= 1e6 ? `${n / 1e6}e6`.replace('e6', 'M') : n >= 1e3 ? `${n / 1e3}k` : String(n));

function main(): void {
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-bench-'));
  process.on('exit', () => fs.rmSync(cacheDir, { recursive: true, force: true }));
  const addon = loadAddon();
  const compiler = findCompiler();
  // Only the CPU sections need one (the device check runs `--only gpu` on a machine that may have none).
  const cpuSections = [...sections].some((s) => s !== 'gpu');
  if (!compiler && cpuSections) throw new Error('update-throughput needs a C++ compiler (set CXX)');
  console.log(`update-throughput${quick ? ' --quick' : ''}: ${threads} threads, ${os.cpus().length} CPUs (${os.cpus()[0]?.model}), load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  if (compiler) console.log(`kernel flags: ${DEFAULT_CPU_FLAGS.join(' ')}; compiler ${compiler.command.join(' ')}`);

  // ---- throughput over sizes ----------------------------------------------------------------------------------------
  if (sections.has('throughput')) throughput(cacheDir);
  if (sections.has('small')) smallTensors(cacheDir);
  if (sections.has('compile')) compileAndCache(cacheDir, compiler!);
  if (sections.has('overhead')) overhead(cacheDir, addon);
  if (sections.has('gpu')) gpu(cacheDir, addon);
  clearMemoryCache();
}

function throughput(cacheDir: string): void {
  const ceilings = new Map<number, NativeCpuKernel>();
  for (const slots of [1, 2]) ceilings.set(slots, getCpuKernel({ hash: `ceiling-${slots}`, source: ceilingSource(slots), cacheDir }).kernel);
  const sizes = quick ? [1e3, 1e5, 1e6, 1 << 24] : [1e3, 1e4, 1e5, 1e6, 1e7, 1 << 24, 1e8];
  const scalars = new Float32Array(NOS_SCALAR_COUNT);
  scalars[0] = 1e-3;
  scalars[1] = 0.9;
  console.log('\n## Throughput (one tensor): rule kernel via createOptimizer vs the ceiling (same traffic, same pool) and vs a plain Float32Array loop (medians of round-by-round ratios)');
  console.log('| rule | size | kernel GB/s | % of ceiling | x plain JS loop | ceiling GB/s |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const n of sizes) {
    for (const rule of RULES) {
      const bytes = 4 * n * (3 + 2 * rule.slots); // read w, g, state; write w, state
      const w = filled(n, 1), g = filled(n, 2);
      const opt: Optimizer = createOptimizer(rule.name, { lr: 1e-3, threads, cacheDir });
      opt.update([w], [g]);
      const state = Array.from({ length: rule.slots }, () => new Float32Array(n));
      const ceiling = ceilings.get(rule.slots)!;
      const flatState = [state[0], state[1] ?? null, null, null];
      const bases = new Float64Array(1);
      const vsCeiling = pairSamples(() => opt.update([w], [g]), () => ceiling.update([w, g], bases, flatState, scalars, 0, 1, threads));
      // The plain loop is single threaded by nature; fewer rounds at the largest size, where one call takes seconds.
      let t = 1;
      const vsJs = pairSamples(() => opt.update([w], [g]), () => rule.js(w, g, state, 1e-3, ++t), n > 2e7 ? 0 : SECONDS_PER_FIGURE, n > 2e7 ? 3 : 7);
      const tKernel = median(vsCeiling.a);
      console.log(`| ${rule.name} | ${sizeName(n)} | ${fmt(bytes / tKernel / 1e6)} | ${fmt(100 * medianRatio(vsCeiling), 1)}% | ${fmt(medianRatio(vsJs), 1)}x | ${fmt(bytes / median(vsCeiling.b) / 1e6)} |`);
      opt.dispose();
    }
  }

}

function smallTensors(cacheDir: string): void {
  console.log('\n## Many small tensors in one call vs one flat buffer of the same total size (adam)');
  console.log('| tensors | total | list time / flat time |');
  console.log('| --- | --- | --- |');
  for (const total of quick ? [1e5, 1e6] : [1e5, 1e6, 4e6]) {
    for (const count of [100, 1000]) {
      const sizesList = Array.from({ length: count }, (_, k) => Math.floor(total / count) + (k % 2 === 0 ? 1 : -1) * (k % 7));
      const sum = sizesList.reduce((a, b) => a + b, 0);
      const list = sizesList.map((n, k) => filled(n, k + 3));
      const listG = sizesList.map((n, k) => filled(n, k + 1000));
      const flat = filled(sum, 5), flatG = filled(sum, 6);
      const a = createOptimizer('adam', { threads, cacheDir });
      const b = createOptimizer('adam', { threads, cacheDir });
      const samples = pairSamples(() => b.update([flat], [flatG]), () => a.update(list, listG));
      console.log(`| ${count} | ${sizeName(sum)} | ${fmt(medianRatio(samples))} |`);
    }
  }

}

function compileAndCache(cacheDir: string, compiler: Compiler): void {
  console.log('\n## Compile and cache (ms; the peer is the compiler compiling an empty shared library with the same flags)');
  const empty = path.join(cacheDir, 'empty.cc');
  fs.writeFileSync(empty, 'extern "C" int nos_empty() { return 0; }\n');
  const [exe, ...pre] = compiler.command;
  const emptyMs = best(() => execFileSync(exe, [...pre, ...DEFAULT_CPU_FLAGS, empty, '-o', path.join(cacheDir, 'empty.so')]), 0, 3);
  console.log('| rule | cold compile (wall) | compiler CPU time | / empty compile | memory hit | disk hit, fresh process | createOptimizer, rule seen before |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const name of ['powersign', 'addsign', 'adam', 'table6-01']) {
    const info = compileRule(name);
    const source = renderRule(info, 'cpu');
    // CPU time of the compiler over 4 cold compiles (the clock ticks are 10 ms), then one more timed by the wall clock.
    const cpu0 = childCpuSeconds();
    for (let k = 0; k < 4; k++) getCpuKernel({ hash: info.hash, source, cacheDir: fs.mkdtempSync(path.join(cacheDir, 'cpu-')) });
    const compileCpuMs = (childCpuSeconds() - cpu0) / 4 * 1000;
    const coldDir = fs.mkdtempSync(path.join(cacheDir, 'cold-'));
    const cold = getCpuKernel({ hash: info.hash, source, cacheDir: coldDir });
    const memoryMs = best(() => getCpuKernel({ hash: info.hash, source, cacheDir: coldDir }), 0.05);
    const createMs = best(() => createOptimizer(name, { cacheDir: coldDir }), 0.05);
    // A fresh process: the addon is loaded first, then the lookup that finds the library on disk is timed.
    const probes = [0, 1, 2].map(() => JSON.parse(execFileSync(process.execPath,
      [...process.execArgv, __filename, '--probe-disk-hit', coldDir, name], { encoding: 'utf8' })) as { ms: number; miss?: string });
    const misses = probes.filter((p) => p.miss).map((p) => p.miss);
    const diskMs = Math.min(...probes.filter((p) => !p.miss).map((p) => p.ms));
    if (misses.length) console.log(`(disk-hit probe for ${name} missed: ${misses.join(' | ')})`);
    console.log(`| ${name} | ${fmt(cold.compileMs, 1)} | ${fmt(compileCpuMs, 1)} | ${fmt(cold.compileMs / emptyMs, 1)}x | ${memoryMs.toFixed(4)} | ${diskMs.toFixed(3)} | ${createMs.toFixed(3)} |`);
  }
  console.log(`(empty shared library compile: ${fmt(emptyMs, 1)} ms)`);

}

function overhead(cacheDir: string, addon: NativeAddon): void {
  const scalars = new Float32Array(NOS_SCALAR_COUNT);
  console.log('\n## Per-call overhead (one tensor of 1 element; microseconds, and ratio to the simplest N-API call)');
  const w1 = new Float32Array(1), g1 = new Float32Array(1);
  const opt = createOptimizer('adam', { threads, cacheDir });
  const kernel = getCpuKernel({ hash: opt.info.hash, source: renderRule(opt.info, 'cpu'), cacheDir }).kernel;
  const m1 = new Float32Array(1), v1 = new Float32Array(1);
  const state1 = [m1, v1, null, null];
  const bases1 = new Float64Array(1);
  const loops = 20000;
  const perCall = (fn: () => void): number => best(() => { for (let i = 0; i < loops; i++) fn(); }, 0.3) * 1000 / loops;
  const napiUs = perCall(() => addon.isDetached(w1.buffer as ArrayBuffer));
  const kernelUs = perCall(() => kernel.update([w1, g1], bases1, state1, scalars, 0, 1, threads));
  const optUs = perCall(() => opt.update([w1], [g1]));
  const jsUs = perCall(() => RULES[2].js(w1, g1, [m1, v1], 1e-3, 2));
  console.log('| call | us per call | / bare N-API call |');
  console.log('| --- | --- | --- |');
  console.log(`| bare N-API call (isDetached) | ${napiUs.toFixed(3)} | 1.0 |`);
  console.log(`| kernel.update (binding + checks + kernel) | ${kernelUs.toFixed(3)} | ${fmt(kernelUs / napiUs, 1)} |`);
  console.log(`| optimizer.update (JS checks + scalars + kernel) | ${optUs.toFixed(3)} | ${fmt(optUs / napiUs, 1)} |`);
  console.log(`| plain JS loop, 1 element | ${jsUs.toFixed(3)} | ${fmt(jsUs / napiUs, 1)} |`);
}

/**
 * The CUDA ceiling: the same loads and stores as a rule with `slots` state buffers and next to no arithmetic, laid
 * out as the renderer's kernel (a thread per four elements, its 16-byte loads and stores; the bench's sizes are
 * multiples of four, so there is no head or tail).
 */
function cudaCeilingSource(slots: number): string {
  const ks = Array.from({ length: slots }, (_, k) => k);
  return `struct nos_tensor { float* w; const float* g; float* s[4]; long long n; unsigned long long rng_base; };
struct nos_scalars { float v[32]; };
${vectorHelpers('default')}
extern "C" __global__ void nos_update(const nos_tensor* ts, int count, nos_scalars sc, unsigned int seed, unsigned int step) {
  if ((int)blockIdx.y >= count) return;
  const nos_tensor t = ts[blockIdx.y];
  const float lr = sc.v[0], b = sc.v[1];
  for (int q = blockIdx.x * blockDim.x + threadIdx.x; q < (int)(t.n / 4); q += gridDim.x * blockDim.x) {
    float g[4], w[4]${ks.map((k) => `, s${k}[4]`).join('')};
    nos_load4(t.g + 4 * q, g); nos_load4(t.w + 4 * q, w);${ks.map((k) => ` nos_load4(t.s[${k}] + 4 * q, s${k});`).join('')}
    for (int u = 0; u < 4; ++u) {
      float acc = 0.0f;
${ks.map((k) => `      s${k}[u] = s${k}[u] * b + g[u]; acc += s${k}[u];`).join('\n')}
      w[u] -= lr * acc;
    }
    nos_store4(t.w + 4 * q, w);${ks.map((k) => ` nos_store4(t.s[${k}] + 4 * q, s${k});`).join('')}
  }
}
`;
}

/** PyTorch's fused Adam on the same GPU: ms per step for parameters of the comma-separated sizes (printed by python3). */
const TORCH_FUSED_ADAM = `
import sys, time, torch
sizes = [int(n) for n in sys.argv[1].split(',')]
ps = [torch.zeros(n, device='cuda', requires_grad=True) for n in sizes]
for p in ps: p.grad = torch.randn(p.numel(), device='cuda')
opt = torch.optim.Adam(ps, lr=1e-3, fused=True)
for _ in range(10): opt.step()
torch.cuda.synchronize()
t = time.perf_counter()
for _ in range(100): opt.step()
torch.cuda.synchronize()
print((time.perf_counter() - t) / 100 * 1000)
`;

/** The parameter sizes of torchvision's ResNet-50 (161 tensors, 25,557,032 parameters): a real model's list. */
function resnet50Sizes(): number[] {
  const sizes = [64 * 3 * 7 * 7, 64, 64];
  let inC = 64;
  for (const [blocks, width] of [[3, 64], [4, 128], [6, 256], [3, 512]]) {
    for (let b = 0; b < blocks; b++) {
      const out = width * 4;
      sizes.push(width * inC, width, width, width * width * 9, width, width, out * width, out, out);
      if (b === 0) sizes.push(out * inC, out, out); // the downsampling branch
      inC = out;
    }
  }
  sizes.push(1000 * 2048, 1000);
  return sizes;
}

/**
 * On a GPU: rule kernels on device-resident tensors against a CUDA kernel with the same traffic (the ceiling) and,
 * for Adam, against PyTorch's fused Adam, on one large tensor and on ResNet-50's list.  Skipped, with the reason,
 * where there is no GPU.
 */
function gpu(cacheDir: string, addon: NativeAddon): void {
  console.log('\n## GPU (device-resident tensors; ms per step includes one synchronize)');
  let device;
  try {
    device = addon.cudaDeviceInfo();
  } catch (err) {
    console.log(`skipped: ${(err as Error).message.split('\n')[0]}`);
    return;
  }
  const arch = `compute_${device.major}${device.minor}`;
  console.log(`${device.name} (${arch})`);
  const n = quick ? 1 << 24 : 1 << 26;
  const scalars = new Float32Array(NOS_SCALAR_COUNT);
  scalars[0] = 1e-3;
  scalars[1] = 0.9;
  // nos's launch, as createOptimizer's CUDA path makes it: the tensors in chunks (cudaLaunchPlan).
  const makeTensors = (sizes: number[], slots: number[]) => {
    const plan = cudaLaunchPlan(sizes);
    const bases = new Float64Array(sizes.length);
    sizes.reduce((at, size, k) => { bases[k] = at; return at + size; }, 0);
    const tensors = new addon.CudaTensors(Float64Array.from(sizes), slots, bases, plan.chunk);
    sizes.forEach((size, k) => { tensors.upload(0, k, filled(size, 1)); tensors.upload(1, k, filled(size, 2)); });
    return { tensors, plan };
  };
  const timeSteps = ({ tensors, plan }: ReturnType<typeof makeTensors>, kernel: InstanceType<NativeAddon['CudaKernel']>): number => {
    for (let i = 0; i < 5; i++) tensors.step(kernel, scalars, 0, i + 1, plan.blocks, CUDA_UPDATE_BLOCK);
    const reps = quick ? 20 : 100;
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) tensors.step(kernel, scalars, 0, i + 6, plan.blocks, CUDA_UPDATE_BLOCK);
    return (performance.now() - t0) / reps;
  };
  const vsTorch = (sizes: number[], nosMs: number): string => {
    const python = process.env.NOS_PYTHON || 'python3';
    try {
      const out = execFileSync(python, ['-c', TORCH_FUSED_ADAM, sizes.join(',')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      const torchMs = Number(out.trim());
      return `${fmt(torchMs / nosMs)}x torch's speed (torch ${fmt(torchMs, 3)} ms/step)`;
    } catch (err) {
      const stderr = String((err as { stderr?: string }).stderr ?? '').trim().split('\n').pop();
      return `torch fused Adam failed with ${python} (set NOS_PYTHON): ${stderr || (err as Error).message.split('\n')[0]}`;
    }
  };
  const compile = (source: string): string => addon.nvrtcCompile(source, arch).ptx;
  const ruleKernel = (name: string) => {
    const info = compileRule(name);
    const kernel = new addon.CudaKernel(getCudaPtx({ hash: info.hash, source: renderRule(info, 'cuda'), arch, cacheDir }, compile).ptx);
    return { kernel, slots: info.state.map((st) => ['m', 'v', 'y', 'mom'].indexOf(st)) };
  };
  const copyGBs = addon.cudaCopyBandwidth(256 << 20, quick ? 20 : 100);
  console.log(`device-to-device copy: ${fmt(copyGBs)} GB/s (read + written)`);
  console.log('| rule | size | kernel GB/s | % of copy bandwidth | % of ceiling | ceiling GB/s | vs torch fused Adam |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const rule of RULES) {
    const { kernel, slots } = ruleKernel(rule.name);
    const ceiling = new addon.CudaKernel(compile(cudaCeilingSource(rule.slots)));
    const own = makeTensors([n], slots);
    const ceilingOwn = makeTensors([n], Array.from({ length: rule.slots }, (_, k) => k));
    const tKernel = timeSteps(own, kernel);
    const tCeiling = timeSteps(ceilingOwn, ceiling);
    const bytes = 4 * n * (3 + 2 * rule.slots);
    console.log(`| ${rule.name} | ${sizeName(n)} | ${fmt(bytes / tKernel / 1e6)} | ${fmt(100 * bytes / tKernel / 1e6 / copyGBs, 1)}% | ${fmt(100 * tCeiling / tKernel, 1)}% | ${fmt(bytes / tCeiling / 1e6)} | ${rule.name === 'adam' ? vsTorch([n], tKernel) : ''} |`);
    own.tensors.free();
    ceilingOwn.tensors.free();
    kernel.close();
    ceiling.close();
  }
  // A real model's list: 161 tensors from 64 to 2M parameters, in one launch (torch's fused Adam: its multi-tensor
  // launches over the same list).
  const sizes = resnet50Sizes();
  const total = sizes.reduce((a, b) => a + b, 0);
  const { kernel, slots } = ruleKernel('adam');
  const list = makeTensors(sizes, slots);
  const tList = timeSteps(list, kernel);
  const bytes = 4 * total * 7;
  console.log(`| adam | ResNet-50's ${sizes.length} tensors (${sizeName(total)}, ${list.plan.entries} chunks) | ${fmt(bytes / tList / 1e6)} | ${fmt(100 * bytes / tList / 1e6 / copyGBs, 1)}% | | | ${vsTorch(sizes, tList)} |`);
  list.tensors.free();
  // The paper's child (conv 3x3 32, batch norm, conv 3x3 32, batch norm, dense 10: 25,322 parameters), where the calls
  // per array, not the bytes, were the cost; then ResNet-50's list.
  hostArraySteps(addon, kernel, slots, "the paper's child's", [288, 32, 32, 9216, 32, 32, 15680, 10], scalars);
  hostArraySteps(addon, kernel, slots, "ResNet-50's", sizes, scalars);
  kernel.close();
}

/**
 * createOptimizer's CUDA path over host Float32Arrays (the parameters live in JS): one staged copy each way per step
 * (stepHost) against a copy per array (upload w and g, launch, download w), on the same list in the same run.
 */
function hostArraySteps(addon: NativeAddon, kernel: InstanceType<NativeAddon['CudaKernel']>, slots: number[],
  model: string, sizes: number[], scalars: Float32Array): void {
  const plan = cudaLaunchPlan(sizes);
  const bases = new Float64Array(sizes.length);
  sizes.reduce((at, size, k) => { bases[k] = at; return at + size; }, 0);
  const params = sizes.map((size) => filled(size, 1));
  const grads = sizes.map((size) => filled(size, 2));
  const tensors = new addon.CudaTensors(Float64Array.from(sizes), slots, bases, plan.chunk, true);
  const staged = (t: number) => tensors.stepHost(kernel, params, grads, scalars, 0, t, plan.blocks, CUDA_UPDATE_BLOCK);
  const perArray = (t: number) => {
    sizes.forEach((_, k) => { tensors.upload(0, k, params[k]); tensors.upload(1, k, grads[k]); });
    tensors.step(kernel, scalars, 0, t, plan.blocks, CUDA_UPDATE_BLOCK);
    sizes.forEach((_, k) => tensors.download(0, k, params[k]));
  };
  const time = (step: (t: number) => void): number => {
    for (let i = 0; i < 3; i++) step(i + 1);
    const reps = sizes.length < 100 ? (quick ? 100 : 1000) : (quick ? 5 : 20);
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) step(i + 4);
    return (performance.now() - t0) / reps;
  };
  const tPerArray = time(perArray);
  const tStaged = time(staged);
  const hostBytes = 4 * sizes.reduce((a, b) => a + b, 0) * 3; // w and g over, w back
  console.log(`host arrays, adam on ${model} ${sizes.length} tensors: one staged copy each way ${fmt(tStaged, 3)} ms/step ` +
    `(${fmt(hostBytes / tStaged / 1e6)} GB/s of host traffic), a copy per array ${fmt(tPerArray, 3)} ms/step: ${fmt(tPerArray / tStaged)}x`);
  tensors.free();
}

/** Child mode: load the addon, then time one lookup that must come from the disk cache; prints milliseconds. */
function probeDiskHit(dir: string, name: string): void {
  loadAddon();
  const compiler = findCompiler()!;
  const info = compileRule(name);
  const source = renderRule(info, 'cpu');
  const before = fs.readdirSync(dir).filter((f) => f.endsWith('.so'));
  const t0 = performance.now();
  const got = getCpuKernel({ hash: info.hash, source, cacheDir: dir });
  const ms = performance.now() - t0;
  // A miss is reported, not thrown, with what was on disk, so a surprise shows in the table instead of a crash.
  const miss = got.origin === 'disk' ? undefined : `${got.origin}; key ${cacheKey({ hash: info.hash, source }, compiler)}; before: ${before.join(' ') || 'none'}`;
  process.stdout.write(JSON.stringify({ ms, miss }));
}

if (require.main === module) {
  const probe = args.indexOf('--probe-disk-hit');
  if (probe >= 0) probeDiskHit(args[probe + 1], args[probe + 2]);
  else main();
}
