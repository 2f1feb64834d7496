// Builds the child engine's modules for a device, through the kernel cache: PTX from NVRTC for 'cuda', and for
// 'host' (the CPU twin) the same CUDA source compiled as C++ behind native/engine/emu_shim.h into a library.
//
// Sources: native/engine/kernels.cu (forward, backward, statistics, scoring) and, per rule, the children update from
// src/compiler/render-children.ts.  The host build appends emu_launch.h and a table of every extern "C" __global__
// function, so native/engine/device_host.cc finds each launcher by name.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CHILDREN_UPDATE_ENTRY, DEFAULT_UPDATE_LAYOUT, layoutName, renderChildrenUpdate, type UpdateLayout } from '../../compiler/render-children';
import type { KernelRule } from '../../compiler/interpret';
import { loadAddon, packageRoot } from '../binding';
import { cacheKey, compileLibrary, compileLibraryAsync, defaultCacheDir, DEFAULT_CPU_FLAGS, findCompiler, getCudaPtx, getCudaPtxAsync, kernelFlags, libraryIntact } from '../kernel-cache';

export type EngineDevice = 'cuda' | 'host';

/** The engine's sources live beside its native code, read at run time like any generated kernel. */
function engineFile(name: string): string {
  const file = path.join(packageRoot(), 'native', 'engine', name);
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`the child engine's source ${file} is missing (${(err as Error).message}); reinstall nos`);
  }
}

/** native/engine/kernels.cu: the engine's kernels, for NVRTC as they are. */
export function engineKernelSource(): string {
  return engineFile('kernels.cu');
}

/** Every extern "C" __global__ function a CUDA source defines, in order. */
export function kernelNames(source: string): string[] {
  return [...source.matchAll(/extern "C" __global__ void (\w+)\s*\(/g)].map((m) => m[1]);
}

/** A CUDA source as a C++ translation unit for the CPU twin: shim, the source, launchers and their table. */
export function emulationSource(cudaSource: string): string {
  const names = kernelNames(cudaSource);
  if (names.length === 0) throw new Error('internal: an engine source without kernels');
  return [
    '// CPU twin of CUDA kernels for the nos child engine (generated: emu_shim.h + emu_fiber.h + kernels + emu_launch.h + table).',
    // Fibers only where a kernel can wait at a barrier (emu_launch.h): a source that never names __syncthreads cannot.
    ...(/__syncthreads/.test(cudaSource) ? ['#define NOS_EMU_FIBERS 1'] : []),
    engineFile('emu_shim.h'),
    engineFile('emu_fiber.h'),
    cudaSource,
    engineFile('emu_launch.h'),
    'extern "C" const nos_emu_entry nos_emu_kernels[] = {',
    ...names.map((n) => `  NOS_EMU_EXPORT(${n})`),
    '  {nullptr, nullptr}};',
    '',
  ].join('\n');
}

/**
 * Flags of the CPU twin: the optimizer kernels' (no FMA contraction, so float steps follow the GPU's --fmad=false
 * build and the reference interpreter; -nostdinc++: the shim needs only C headers), in C++17.
 */
export const EMULATION_FLAGS: readonly string[] = ['-std=c++17', ...DEFAULT_CPU_FLAGS];

export interface BuildOptions {
  cacheDir?: string;
  /** Build again even when the cache has the module (the device refused the cached one as damaged). */
  fresh?: boolean;
}

/** The compute architecture NVRTC targets on this machine's GPU (throws without a driver or GPU). */
export function gpuArch(): string {
  const gpu = loadAddon().cudaDeviceInfo();
  return `compute_${gpu.major}${gpu.minor}`;
}

/**
 * Where the CPU twin of `source` lives in the cache, and whether it must be compiled. Its flags are
 * EMULATION_FLAGS then NOS_KERNEL_FLAGS, as its cache key says (e.g. "-fsanitize=address,undefined": see
 * test/runtime/engine/twin-sanitizers.test.ts).
 */
function twinBuild(name: string, source: string, options: BuildOptions) {
  const compiler = findCompiler();
  if (!compiler) throw new Error('the CPU twin of the child engine needs a C++ compiler (set CXX, or install g++ or clang++)');
  const unit = emulationSource(source);
  const request = { hash: `${name}:host-twin`, source: unit, flags: EMULATION_FLAGS };
  const dir = path.resolve(options.cacheDir ?? defaultCacheDir());
  const library = path.join(dir, `${cacheKey(request, compiler)}.so`);
  return { compiler, unit, library, flags: kernelFlags(EMULATION_FLAGS), stale: options.fresh === true || !libraryIntact(library) };
}

/**
 * A module image for `device`: PTX text for 'cuda', the path of a library for 'host'.  `name` keys the cache
 * (with the source's digest), `entry` is a kernel the module must have.
 */
export function buildImage(device: EngineDevice, name: string, source: string, entry: string, options: BuildOptions = {}): string {
  if (device === 'cuda') {
    const addon = loadAddon();
    const arch = gpuArch();
    return getCudaPtx({ hash: name, source, arch, cacheDir: options.cacheDir, entry, fresh: options.fresh },
      (src) => addon.nvrtcCompile(src, arch, `${name}.cu`).ptx).ptx;
  }
  const twin = twinBuild(name, source, options);
  if (twin.stale) compileLibrary(twin.compiler, twin.unit, twin.library, twin.flags);
  return twin.library;
}

/** buildImage without blocking the JS thread: NVRTC on the libuv pool, or the C++ compiler as a child process. */
export async function buildImageAsync(device: EngineDevice, name: string, source: string, entry: string, options: BuildOptions = {}): Promise<string> {
  if (device === 'cuda') {
    const addon = loadAddon();
    const arch = gpuArch();
    const got = await getCudaPtxAsync({ hash: name, source, arch, cacheDir: options.cacheDir, entry, fresh: options.fresh },
      async (src) => (await addon.nvrtcCompileAsync(src, arch, `${name}.cu`)).ptx);
    return got.ptx;
  }
  const twin = twinBuild(name, source, options);
  if (twin.stale) await compileLibraryAsync(twin.compiler, twin.unit, twin.library, twin.flags);
  return twin.library;
}

/** The engine module (kernels.cu) for `device`. */
export function buildEngineImage(device: EngineDevice, options: BuildOptions = {}): string {
  return buildImage(device, 'nos-engine', engineKernelSource(), 'nos_gather', options);
}

/** A rule's children-update module for `device`, rendered for `layout`. */
export function buildRuleImage(device: EngineDevice, rule: KernelRule & { hash: string }, layout: UpdateLayout = DEFAULT_UPDATE_LAYOUT, options: BuildOptions = {}): string {
  return buildImage(device, `${rule.hash}:children:${layoutName(layout)}`, renderChildrenUpdate(rule, layout), CHILDREN_UPDATE_ENTRY, options);
}

/** buildRuleImage off the JS thread. */
export function buildRuleImageAsync(device: EngineDevice, rule: KernelRule & { hash: string }, layout: UpdateLayout = DEFAULT_UPDATE_LAYOUT, options: BuildOptions = {}): Promise<string> {
  return buildImageAsync(device, `${rule.hash}:children:${layoutName(layout)}`, renderChildrenUpdate(rule, layout), CHILDREN_UPDATE_ENTRY, options);
}
