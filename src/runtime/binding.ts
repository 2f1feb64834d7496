// The one place that loads the native addon (build/Release/nos.node), with a message that says how to rebuild it.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A JIT-compiled CPU kernel library loaded with dlopen (native/cpu/cpu_kernel.cc). */
export interface NativeCpuKernel {
  readonly path: string;
  /**
   * One synchronous step over every tensor. pairs: [w0, g0, w1, g1, ...]; state: one flat Float32Array per slot
   * (null where unused) holding every tensor's state, tensor i at offsets[i], which is also its Philox rngBase.
   */
  update(pairs: Float32Array[], offsets: Float64Array, state: Array<Float32Array | null>, scalars: Float32Array,
    seed: number, step: number, threads: number): void;
  close(): void;
}
export interface NativeCudaKernel { close(): void }
export interface NativeCudaTensors {
  /** field 0 = w, 1 = g, 2 + s = state slot s. */
  upload(field: number, index: number, array: Float32Array): void;
  download(field: number, index: number, array: Float32Array): void;
  /** Every bound tensor's field at once (one array per tensor): one copy through the host staging buffer. */
  uploadAll(field: number, values: Float32Array[]): void;
  downloadAll(field: number, values: Float32Array[]): void;
  /** One launch of nos_update over every entry: `blocks` x `threadsPerBlock` threads along x (render-cuda.ts cudaLaunchPlan). */
  step(kernel: NativeCudaKernel, scalars: Float32Array, seed: number, step: number, blocks: number, threadsPerBlock: number): void;
  /**
   * One step over host arrays (one per bound tensor, lengths as bound): w and g gathered into one host staging buffer,
   * one copy to the device, the launch, one copy of w back, scattered into `params`. The same driver calls whatever
   * the number of tensors; `grads` are only read.
   */
  stepHost(kernel: NativeCudaKernel, params: Float32Array[], grads: Float32Array[], scalars: Float32Array, seed: number, step: number,
    blocks: number, threadsPerBlock: number): void;
  free(): void;
}
/** The model a child engine trains (native/engine/engine.h ModelShape). */
export interface EngineModelShape {
  kind: 'mlp' | 'convnet'; channels: number; height: number; width: number; classes: number;
  hidden?: number; filters?: number; bnEps: number; bnMomentum: number;
}
/** One round's inputs: per kid (a child slot) its example order, updates done, seed and step scalars. */
export interface EngineRoundInput {
  kids: Int32Array; orders: Uint32Array; orderLength: number; orderOf: Int32Array; t0: Uint32Array; seeds: Uint32Array;
  /** kids x steps x 32 (kernel-abi.ts scalars of each step). */
  scalars: Float32Array;
  /** Which rule updates which kids (indices into kids). */
  groups: Array<{ rule: number; members: Int32Array }>;
  steps: number; update: boolean; divergenceFactor: number;
  /** Only the rules' updates, from the gradients already in the slots. */
  updateOnly?: boolean;
}
export interface EngineRoundOutput { dead: Int32Array; firstLoss: Float32Array; lastLoss: Float32Array; steps: Uint32Array; cancelled: boolean }
export interface EngineEvalOutput { correct: Uint32Array; lossSum: Float64Array; nonfinite: Int32Array; cancelled: boolean }
/** The child engine (native/engine/engine_napi.h): many children trained side by side on one device. */
export interface NativeChildEngine {
  readonly deviceName: string;
  /** Offsets of the parameter tensors in a child's flat vector, then the total. */
  layout(): Float64Array;
  setData(train: Float32Array, trainLabels: Int32Array, validation: Float32Array, validationLabels: Int32Array): void;
  /** A rule's update module rendered for a layout of `groups` groups of four per thread and `block` threads per block. */
  addRule(image: string, groups: number, block: number): number;
  /** addRule off the JS thread; allowed while a round runs. */
  loadRule(image: string, groups: number, block: number): Promise<number>;
  dropRule(handle: number): void;
  start(slots: Int32Array, params: Float32Array): void;
  runRound(input: EngineRoundInput): Promise<EngineRoundOutput>;
  evaluate(kids: Int32Array): Promise<EngineEvalOutput>;
  /** field 0 params, 1 grads, 2..5 state slots, 6 running statistics. */
  read(slot: number, field: number): Float32Array;
  write(slot: number, field: number, values: Float32Array): void;
  cancel(): void;
  close(): void;
  /** Time per kernel name and launch shape ("NAME grid XxY block N"), when made with profile: true (each launch timed alone). */
  profile(): Array<{ kernel: string; launches: number; seconds: number }>;
  /** Each convolution layer's kernels in later rounds (throws when a layer cannot use the tiled weight gradient). */
  setKernels(kernels: NativeConvKernels): void;
}
export interface NativeChildEngineOptions {
  device: 'cuda' | 'host'; image: string; model: EngineModelShape; capacity: number; batch: number; stepsPerRound: number;
  kernels: NativeConvKernels;
  threads?: number;
  /** Synchronize around each launch and time it by kernel name (slower: for finding where a step's time goes). */
  profile?: boolean;
}
/**
 * Per convolution layer (first, second): its forward and input gradient by nos_conv3x3_tiled, its weight gradient by
 * nos_conv3x3_wgrad_tiled (shared memory); the direct kernels where false.
 */
export interface NativeConvKernels { convTiled: boolean[]; wgradTiled: boolean[] }

export interface CudaDeviceInfo { name: string; major: number; minor: number; driverVersion: number; driverPath: string }
export interface NvrtcResult { ptx: string; log: string; nvrtcVersion: string; nvrtcPath: string }

export interface NativeAddon {
  CpuKernel: new (libraryPath: string) => NativeCpuKernel;
  CudaKernel: new (ptx: string) => NativeCudaKernel;
  /**
   * Device buffers for tensors of `sizes`, launched as entries of `chunk` elements (render-cuda.ts cudaLaunchPlan).
   * hostStaging: allocate stepHost's host buffer now (else at the first stepHost).
   */
  CudaTensors: new (sizes: Float64Array, slots: number[], rngBases: Float64Array, chunk: number, hostStaging?: boolean) => NativeCudaTensors;
  /** GPUs the driver sees (CUDA_VISIBLE_DEVICES applies), with no context made; throws without a driver. */
  cudaDeviceCount(): number;
  cudaDeviceInfo(): CudaDeviceInfo;
  nvrtcCompile(source: string, arch: string, name?: string): NvrtcResult;
  /** nvrtcCompile on the libuv thread pool. */
  nvrtcCompileAsync(source: string, arch: string, name?: string): Promise<NvrtcResult>;
  /** GB/s (read + written) of device-to-device copies of `bytes`, `reps` times: the device's memory peer. */
  cudaCopyBandwidth(bytes: number, reps: number): number;
  ChildEngine: new (options: NativeChildEngineOptions) => NativeChildEngine;
  /** Device bytes one child slot of an engine takes. */
  childEngineBytes(model: EngineModelShape, batch: number, stepsPerRound: number): number;
  /** Free and total bytes of the GPU (0, 0 where the driver cannot say); throws without a GPU. */
  cudaMemoryInfo(): { free: number; total: number };
  isDetached(buffer: ArrayBuffer): boolean;
  /**
   * The address of a typed array's first byte (its memory plus byteOffset), as a number (exact: below 2^53). Views of
   * the same memory give the same address even through distinct SharedArrayBuffer objects (a shared
   * WebAssembly.Memory's buffer before and after grow(), one SharedArrayBuffer received twice by postMessage).
   */
  viewAddress(view: ArrayBufferView): number;
  hardwareConcurrency: number;
}

/** The package root: the folder with package.json above this file (src/runtime under tsx, dist/src/runtime compiled). */
export function packageRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'binding.gyp'))) return dir;
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '..', '..');
}

let loaded: NativeAddon | undefined;
let loadError: Error | undefined;

/**
 * Loads one addon file: through require (its module cache) when it is named `.node`, else with process.dlopen (so a
 * file of another name is still loaded as a native library, never run as JavaScript). Throws when it does not load
 * or is not this addon.
 */
function loadAddonFile(file: string): NativeAddon {
  let exports: unknown;
  if (file.endsWith('.node')) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    exports = require(file);
  } else {
    const module = { exports: {} };
    process.dlopen(module, file);
    exports = module.exports;
  }
  const addon = exports as Partial<NativeAddon> | null;
  if (!addon || typeof addon.CpuKernel !== 'function' || typeof addon.isDetached !== 'function') {
    throw new Error('it loaded, but it is not the nos addon (it has no CpuKernel or isDetached)');
  }
  return addon as NativeAddon;
}

/**
 * The addon, loaded once; throws an Error that says where it looked and how to rebuild it. With NOS_ADDON set, that
 * file is the only one tried, and its failure is the error (naming NOS_ADDON, the path and why), never a quiet
 * fallback to the package's build.
 */
export function loadAddon(): NativeAddon {
  if (loaded) return loaded;
  if (loadError) throw loadError;
  const root = packageRoot();
  const chosen = process.env.NOS_ADDON;
  if (chosen !== undefined && chosen.length > 0) {
    const file = path.resolve(chosen); // relative to the working folder, not to this module
    const named = file === chosen ? chosen : `${chosen} (${file})`;
    let why: string | undefined;
    let stat: fs.Stats | undefined;
    try {
      stat = fs.statSync(file);
    } catch (err) {
      why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    }
    if (stat && !stat.isFile()) why = 'not a file';
    if (!why) {
      try {
        loaded = loadAddonFile(file);
        return loaded;
      } catch (err) {
        why = (err as Error).message;
      }
    }
    loadError = new Error(
      `the nos native addon could not be loaded from NOS_ADDON=${named}: ${why}.\n` +
      `NOS_ADDON names the only addon tried: point it at a nos.node built for this Node (${process.version}, ` +
      `${process.platform}-${process.arch}), or unset it to load the package's own (${path.join(root, 'build', 'Release', 'nos.node')}).`,
    );
    throw loadError;
  }
  const candidates = [path.join(root, 'build', 'Release', 'nos.node'), path.join(root, 'build', 'Debug', 'nos.node')];
  const reasons: string[] = [];
  for (const file of candidates) {
    if (!fs.existsSync(file)) { reasons.push(`${file}: not found`); continue; }
    try {
      loaded = loadAddonFile(file);
      return loaded;
    } catch (err) {
      reasons.push(`${file}: ${(err as Error).message}`);
    }
  }
  loadError = new Error(
    `the nos native addon could not be loaded:\n  ${reasons.join('\n  ')}\n` +
    `Build it with \`npm rebuild\` (or \`npm ci\`) in ${root}; it needs a C++ compiler and Node's headers, no CUDA.`,
  );
  throw loadError;
}

/**
 * The addon, or undefined when it cannot be loaded (callers that can do without it use this; a bad NOS_ADDON is then
 * reported by the first loadAddon, e.g. createOptimizer's for device 'cpu').
 */
export function tryLoadAddon(): NativeAddon | undefined {
  try {
    return loadAddon();
  } catch {
    return undefined;
  }
}
