// The fake CUDA driver and NVRTC (test/runtime/fake-cuda.c) built for this test process: its environment makes the
// addon (and any worker process started after) load it instead of libcuda and libnvrtc, and child-engine modules
// run on their CPU twin behind the real CUDA host code.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../../src/runtime/binding';
import { findCompiler } from '../../src/runtime/kernel-cache';

export interface FakeCuda {
  /** The fake library's path. */
  library: string;
  /** A folder for this process's kernel cache and twin libraries, removed at exit. */
  dir: string;
  /** The variables that point the addon (and child processes) at the fake; already set in process.env. */
  env: Record<string, string>;
}

/** Builds the fake driver and NVRTC at `library`; `nvrtcVersion` (e.g. 12040) makes its NVRTC say it is that CUDA's. */
export function buildFakeCuda(library: string, nvrtcVersion?: number): void {
  const compiler = findCompiler();
  if (!compiler) throw new Error('no C compiler for the fake CUDA driver');
  const [exe, ...pre] = compiler.command;
  const defines = nvrtcVersion === undefined ? [] : [`-DFAKE_NVRTC_VERSION=${nvrtcVersion}`];
  execFileSync(exe, [...pre, '-x', 'c', ...defines, '-shared', '-fPIC', '-O1', path.join(packageRoot(), 'test', 'runtime', 'fake-cuda.c'), '-o', library, '-ldl', '-lpthread']);
}

/** Builds the fake and sets the environment (before any CUDA call: the addon loads the driver once); false without a compiler. */
export function installFakeCuda(): FakeCuda | false {
  const fake = buildFakeCudaEnv();
  if (fake) Object.assign(process.env, fake.env);
  return fake;
}

/** Builds the fake and gives the environment that points at it, for a child process only; false without a compiler. */
export function buildFakeCudaEnv(): FakeCuda | false {
  const compiler = findCompiler();
  if (!compiler) return false;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-fake-cuda-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const library = path.join(dir, 'libfake-cuda.so');
  buildFakeCuda(library);
  // The kernel cache too: fake PTX must never reach the real cache, where a GPU run would later read it.
  const env = {
    NOS_LIBCUDA: library, NOS_LIBNVRTC: library, NOS_CACHE_DIR: dir,
    NOS_FAKE_CUDA_SHIM: path.join(packageRoot(), 'native', 'engine'), NOS_FAKE_CUDA_DIR: dir,
  };
  return { library, dir, env };
}
