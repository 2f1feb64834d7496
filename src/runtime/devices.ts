// Update runners per device: 'cpu' (JIT-compiled native kernel over host memory), 'js' (JS kernel), 'cuda' (NVRTC
// kernel over device buffers).  A runner owns the optimizer state of one parameter list and runs one step at a time.
import type { KernelRule } from '../compiler/interpret';
import { STATE_SLOTS, type JsTensor, type StateName } from '../compiler/kernel-abi';
import { loadJsKernel, renderRule } from '../compiler/render';
import { CUDA_UPDATE_BLOCK, cudaLaunchPlan } from '../compiler/render-cuda';
import { loadAddon, type NativeCpuKernel, type NativeCudaKernel, type NativeCudaTensors } from './binding';
import { compilerProblem, findCompiler, getCpuKernel, getCudaPtx } from './kernel-cache';

export type DeviceName = 'cpu' | 'js' | 'cuda';
export const DEVICE_NAMES: readonly DeviceName[] = ['cpu', 'js', 'cuda'];

/** A rule as the runtime needs it: the compiler's RuleInfo is one. */
export interface RuntimeRule extends KernelRule {
  hash: string;
  state: readonly StateName[];
}

export interface UpdateRunner {
  readonly device: DeviceName;
  /** What runs the step, for messages and reports (kernel library path, 'JS kernel', GPU name). */
  readonly description: string;
  /** Allocates zeroed state for tensors of these sizes; called before the first step or a state load. One that
   *  throws (a list the device refuses) leaves the runner as it was. */
  bind(sizes: readonly number[]): void;
  /** One step in place over params (sizes as bound); grads are read only. */
  step(params: Float32Array[], grads: Float32Array[], scalars: Float32Array, seed: number, step: number): void;
  /** A copy of every bound tensor's state in slot `slot` (0..3), one array per tensor (CUDA: one copy in all). */
  readSlot(slot: number): Float32Array[];
  /** Sets every bound tensor's state in slot `slot` (one array per tensor, lengths as bound). */
  writeSlot(slot: number, values: Float32Array[]): void;
  dispose(): void;
}

export interface RunnerOptions {
  threads?: number;
  cacheDir?: string;
  /** Where the one-line fallback warning goes (default: process.emitWarning). */
  warn?: (message: string) => void;
}

function slotsOf(rule: RuntimeRule): number[] {
  return rule.state.map((s) => STATE_SLOTS.indexOf(s)).sort((a, b) => a - b);
}

function prefixBases(sizes: readonly number[]): Float64Array {
  const out = new Float64Array(sizes.length);
  let base = 0;
  sizes.forEach((n, k) => { out[k] = base; base += n; });
  return out;
}

/**
 * State in host memory: one flat Float32Array per used slot holding every tensor's state, tensor k at offset
 * bases[k] (its Philox rngBase too), so a step passes 4 state arrays whatever the number of tensors.
 */
abstract class HostRunner implements UpdateRunner {
  abstract readonly device: DeviceName;
  abstract readonly description: string;
  protected flat: Array<Float32Array | null> = [null, null, null, null];
  protected bases: Float64Array = new Float64Array(0);
  protected sizes: readonly number[] = [];
  protected readonly slots: number[];
  constructor(protected readonly rule: RuntimeRule) {
    this.slots = slotsOf(rule);
  }
  bind(sizes: readonly number[]): void {
    const total = sizes.reduce((a, b) => a + b, 0);
    this.flat = [0, 1, 2, 3].map((k) => (this.slots.includes(k) ? new Float32Array(total) : null));
    this.bases = prefixBases(sizes);
    this.sizes = [...sizes];
  }
  /** Tensor k's state in slot `slot`, as a view into the flat buffer. */
  protected view(k: number, slot: number): Float32Array {
    const flat = this.flat[slot];
    if (!flat || k < 0 || k >= this.sizes.length) throw new RangeError(`no state for tensor ${k} slot ${slot}`);
    return flat.subarray(this.bases[k], this.bases[k] + this.sizes[k]);
  }
  readSlot(slot: number): Float32Array[] {
    return this.sizes.map((_, k) => this.view(k, slot).slice());
  }
  writeSlot(slot: number, values: Float32Array[]): void {
    values.forEach((v, k) => this.view(k, slot).set(v));
  }
  abstract step(params: Float32Array[], grads: Float32Array[], scalars: Float32Array, seed: number, step: number): void;
  dispose(): void {
    this.flat = [null, null, null, null];
  }
}

class JsRunner extends HostRunner {
  readonly device = 'js' as const;
  readonly description = 'JS kernel (render-js)';
  private readonly kernel: (ts: JsTensor[], scalars: Float32Array, seed: number, step: number) => void;
  private views: Array<Array<Float32Array | undefined>> = [];
  constructor(rule: RuntimeRule) {
    super(rule);
    this.kernel = loadJsKernel(rule);
  }
  bind(sizes: readonly number[]): void {
    super.bind(sizes);
    this.views = sizes.map((_, k) => [0, 1, 2, 3].map((slot) => (this.flat[slot] ? this.view(k, slot) : undefined)));
  }
  step(params: Float32Array[], grads: Float32Array[], scalars: Float32Array, seed: number, step: number): void {
    const ts: JsTensor[] = params.map((w, k) => ({ w, g: grads[k], s: this.views[k], rngBase: this.bases[k] }));
    this.kernel(ts, scalars, seed, step);
  }
}

class CpuRunner extends HostRunner {
  readonly device = 'cpu' as const;
  readonly description: string;
  private pairs: Float32Array[] = [];
  constructor(rule: RuntimeRule, private readonly kernel: NativeCpuKernel, private readonly threads: number) {
    super(rule);
    this.description = `native kernel ${kernel.path}`;
  }
  step(params: Float32Array[], grads: Float32Array[], scalars: Float32Array, seed: number, step: number): void {
    const pairs = this.pairs;
    pairs.length = 2 * params.length;
    for (let k = 0; k < params.length; k++) {
      pairs[2 * k] = params[k];
      pairs[2 * k + 1] = grads[k];
    }
    try {
      this.kernel.update(pairs, this.bases, this.flat, scalars, seed, step, this.threads);
    } finally {
      pairs.length = 0; // do not keep the caller's arrays alive between steps
    }
  }
}

/** CUDA: compute capability from the device, the renderer's CUDA source through NVRTC, state on the device. */
class CudaRunner implements UpdateRunner {
  readonly device = 'cuda' as const;
  readonly description: string;
  private tensors: NativeCudaTensors | undefined;
  private sizes: readonly number[] = [];
  private blocks = 1;
  constructor(private readonly rule: RuntimeRule, private readonly kernel: NativeCudaKernel, gpu: string) {
    this.description = `CUDA kernel on ${gpu}`;
  }
  bind(sizes: readonly number[]): void {
    // The new buffers first: a refused list or a full device leaves the bound tensors and their state as they were.
    const plan = cudaLaunchPlan(sizes);
    // With its host staging buffer, so that a list the host cannot stage is refused here too.
    const tensors = new (loadAddon().CudaTensors)(Float64Array.from(sizes), slotsOf(this.rule), prefixBases(sizes), plan.chunk, true);
    this.tensors?.free();
    this.tensors = tensors;
    this.sizes = [...sizes];
    this.blocks = plan.blocks;
  }
  step(params: Float32Array[], grads: Float32Array[], scalars: Float32Array, seed: number, step: number): void {
    // One copy of every w and g to the device, the launch, one copy of every w back (not one copy per array).
    this.tensors!.stepHost(this.kernel, params, grads, scalars, seed, step, this.blocks, CUDA_UPDATE_BLOCK);
  }
  readSlot(slot: number): Float32Array[] {
    const out = this.sizes.map((n) => new Float32Array(n));
    this.tensors!.downloadAll(2 + slot, out);
    return out;
  }
  writeSlot(slot: number, values: Float32Array[]): void {
    this.tensors!.uploadAll(2 + slot, values);
  }
  dispose(): void {
    this.tensors?.free();
    this.tensors = undefined;
    this.kernel.close();
  }
}

let warned = false;
function warnOnce(options: RunnerOptions, message: string): void {
  if (warned) return;
  warned = true;
  if (options.warn) options.warn(message);
  else process.emitWarning(message, { code: 'NOS_JS_FALLBACK' });
}

/** For tests: let the next fallback warn again. */
export function resetFallbackWarning(): void {
  warned = false;
}

/** The runner for `device`; 'cpu' falls back to the JS kernel (one warning) when there is no compiler or addon. */
export function createRunner(rule: RuntimeRule, device: DeviceName, options: RunnerOptions = {}): UpdateRunner {
  switch (device) {
    case 'js':
      return new JsRunner(rule);
    case 'cpu': {
      // An addon chosen with NOS_ADDON that does not load is an error naming it, not a fallback to the JS kernel.
      if (process.env.NOS_ADDON) loadAddon();
      if (!findCompiler()) {
        warnOnce(options, 'nos: no C++ compiler found (set CXX or install g++/clang++); updates run in the slower JS kernel');
        return new JsRunner(rule);
      }
      let addonProblem: string | undefined;
      try {
        loadAddon();
      } catch (err) {
        // One line: where it looked and why each failed (the message's later lines), without the rebuild advice.
        addonProblem = (err as Error).message.split('\n').filter((l) => !l.startsWith('Build it')).map((l) => l.trim()).join(' ');
      }
      if (addonProblem) {
        warnOnce(options, `nos: ${addonProblem}; updates run in the slower JS kernel (build it with npm rebuild)`);
        return new JsRunner(rule);
      }
      let kernel: NativeCpuKernel;
      try {
        kernel = getCpuKernel({ hash: rule.hash, source: renderRule(rule, 'cpu'), cacheDir: options.cacheDir }).kernel;
      } catch (err) {
        // A compiler that cannot build even an empty library is broken: fall back. Otherwise the rule is at fault.
        const compiler = findCompiler();
        const problem = compiler && compilerProblem(compiler);
        if (!compiler || !problem) throw err;
        warnOnce(options, `nos: the C++ compiler ${compiler.command.join(' ')} does not work (${problem}); updates run in the slower JS kernel`);
        return new JsRunner(rule);
      }
      return new CpuRunner(rule, kernel, options.threads ?? 0);
    }
    case 'cuda': {
      const addon = loadAddon();
      const gpu = addon.cudaDeviceInfo(); // throws: no driver / no GPU, naming what is missing
      const arch = `compute_${gpu.major}${gpu.minor}`;
      const request = { hash: rule.hash, source: renderRule(rule, 'cuda'), arch, cacheDir: options.cacheDir };
      const compile = (source: string): string => addon.nvrtcCompile(source, arch, `nos_${rule.hash}.cu`).ptx;
      const cached = getCudaPtx(request, compile);
      let kernel: NativeCudaKernel;
      try {
        kernel = new addon.CudaKernel(cached.ptx);
      } catch (err) {
        if (cached.origin === 'compiled') throw err;
        // A damaged cache entry (cut short by a crash or a full disk): compile it again, once.
        kernel = new addon.CudaKernel(getCudaPtx({ ...request, fresh: true }, compile).ptx);
      }
      return new CudaRunner(rule, kernel, `${gpu.name} (sm_${gpu.major}${gpu.minor})`);
    }
    default:
      throw new RangeError(`device must be one of ${DEVICE_NAMES.join(', ')}, received ${JSON.stringify(device)}`);
  }
}
