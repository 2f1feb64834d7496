// Compiles generated C++ kernels with the system compiler and caches the libraries in memory and on disk.
//
// Key: sha256 of (rule hash, target, flags, KERNEL_ABI_VERSION, compiler identity, host CPU, source digest). The
// source digest makes a renderer change invalidate old entries even without an ABI bump (the renderer gives one rule
// the same text in every process, so the digest is stable).  Files live in
// $NOS_CACHE_DIR, else $XDG_CACHE_HOME/nos/kernels, else ~/.cache/nos/kernels, as <key>.so (+ <key>.cc for
// reading); each is written to a temp name and renamed, so parallel processes never see half a file.
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KERNEL_ABI_VERSION } from '../compiler/kernel-abi';
import { CPU_COMPILE_FLAGS } from '../compiler/render-cpu';
import { loadAddon, type NativeCpuKernel } from './binding';
import { makeDirs } from './make-dirs';

/** x86 instruction-set flags, and the /proc/cpuinfo flag that says the CPU has the instructions. */
const X86_ISA: Record<string, string> = { '-mavx2': 'avx2', '-mfma': 'fma', '-mavx512f': 'avx512f' };

let cpuinfoMemo: string | undefined;
/** The first processor's block of /proc/cpuinfo, or '' where there is none (read once). */
function cpuinfoFirst(): string {
  if (cpuinfoMemo === undefined) {
    try {
      cpuinfoMemo = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n\n')[0];
    } catch {
      cpuinfoMemo = '';
    }
  }
  return cpuinfoMemo;
}

/**
 * Keeps an instruction-set flag only where this CPU runs those instructions: a kernel built with -mavx2 would die of
 * SIGILL on an x86 CPU without AVX2, and other architectures refuse the flag.
 */
function hostSupports(flag: string): boolean {
  const isa = X86_ISA[flag];
  if (!isa) return true;
  if (process.arch !== 'x64') return false;
  const flags = /^flags\s*:(.*)$/m.exec(cpuinfoFirst());
  return !flags || flags[1].split(/\s+/).includes(isa);
}

/**
 * Flags for CPU kernels: the renderer's CPU_COMPILE_FLAGS (what the generated code is written for: -O3, AVX2 + FMA,
 * no FMA contraction so results follow the interpreter's float32 steps), plus what a loadable library needs
 * (-fPIC -shared), plus -nostdinc++ so the kernel's <math.h> is glibc's C header rather than libstdc++'s wrapper
 * around <cmath>, which alone costs ~130 ms of a ~180 ms compile.
 */
export const DEFAULT_CPU_FLAGS: readonly string[] = [
  ...CPU_COMPILE_FLAGS.filter(hostSupports),
  ...(process.arch === 'x64' ? [] : ['-march=native']),
  '-fPIC', '-shared', '-nostdinc++',
];

export function defaultCacheDir(): string {
  if (process.env.NOS_CACHE_DIR) return path.resolve(process.env.NOS_CACHE_DIR);
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'nos', 'kernels');
}

export interface Compiler {
  /** The command and any leading arguments (CXX may be e.g. "ccache g++"). */
  command: string[];
  /** Identifies this compiler in cache keys without running it: resolved path, size and mtime. */
  identity: string;
}

function findOnPath(name: string): string | undefined {
  if (name.includes('/')) return fs.existsSync(name) ? name : undefined;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch { /* not here */ }
  }
  return undefined;
}

let compilerMemo: Compiler | null | undefined;

/** The C++ compiler: $CXX, else c++, g++ or clang++ on PATH; null if there is none. Memoized. */
export function findCompiler(): Compiler | null {
  if (compilerMemo !== undefined) return compilerMemo;
  const fromEnv = process.env.CXX?.trim();
  const names = fromEnv ? [fromEnv] : ['c++', 'g++', 'clang++'];
  for (const spec of names) {
    const parts = spec.split(/\s+/);
    const exe = findOnPath(parts[0]);
    if (!exe) continue;
    // Every part that names a program (the wrapper and the compiler behind it) goes into the identity.
    const identity = parts.map((part) => {
      const file = findOnPath(part);
      if (!file) return part;
      const real = fs.realpathSync(file);
      const st = fs.statSync(real);
      return `${real}:${st.size}:${st.mtimeMs}`;
    }).join('|');
    compilerMemo = { command: [exe, ...parts.slice(1)], identity };
    return compilerMemo;
  }
  compilerMemo = null;
  return compilerMemo;
}

/** For tests: forget the memoized compiler (after changing CXX or PATH). */
export function resetCompilerLookup(): void {
  compilerMemo = undefined;
}

export interface KernelRequest {
  /** The rule's canonical hash (RuleInfo.hash). */
  hash: string;
  /** The C++ source that follows kernel-abi.ts. */
  source: string;
  flags?: readonly string[];
  cacheDir?: string;
}

export interface CachedKernel {
  kernel: NativeCpuKernel;
  key: string;
  libraryPath: string;
  /** How this request was served. */
  origin: 'memory' | 'disk' | 'compiled';
  compileMs: number;
}

const memory = new Map<string, NativeCpuKernel>();

let hostMemo: string | undefined;
/**
 * The host's CPU model and instruction set (a library built for AVX2 or -march=native must not be loaded on a CPU
 * without it), so a cache shared over NFS stays correct.
 * On Linux the first processor of /proc/cpuinfo (a few KB, faster than os.cpus(), which also reads /proc/stat).
 */
function hostIdentity(): string {
  if (hostMemo !== undefined) return hostMemo;
  const cpu = cpuinfoFirst().split('\n').filter((l) => /^(model name|flags|Features|CPU implementer|CPU part)\s*:/.test(l)).join('|');
  hostMemo = `${cpu || os.cpus()[0]?.model || 'unknown-cpu'}|${os.arch()}`;
  return hostMemo;
}

/** The flags a request compiles with: its own or the defaults, then NOS_KERNEL_FLAGS (e.g. "-fsanitize=address -g"). */
export function kernelFlags(flags: readonly string[] | undefined): string[] {
  const extra = process.env.NOS_KERNEL_FLAGS?.trim();
  return [...(flags ?? DEFAULT_CPU_FLAGS), ...(extra ? extra.split(/\s+/) : [])];
}

export function cacheKey(req: KernelRequest, compiler: Compiler): string {
  const flags = kernelFlags(req.flags).join(' ');
  const digest = createHash('sha256').update(req.source).digest('hex');
  return createHash('sha256')
    .update([req.hash, 'cpu', flags, `abi${KERNEL_ABI_VERSION}`, compiler.identity, hostIdentity(), digest].join('\n'))
    .digest('hex').slice(0, 32);
}

/** Writes data to file atomically: a unique temp name in the same folder, then rename. */
function writeAtomic(file: string, data: string | Buffer): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/** A compile that takes longer than this is stuck (a generated kernel compiles in well under a second). */
export const COMPILE_TIMEOUT_MS = 120_000;

interface CompileStep { exe: string; args: string[]; tmp: string; failed: (messages: string) => Error }

/** Keeps the source beside the library (so compiler messages point at its lines) and names the compile. */
function prepareCompile(compiler: Compiler, source: string, out: string, flags: readonly string[]): CompileStep {
  const dir = path.dirname(out);
  const base = out.replace(/\.so$/, '');
  try {
    makeDirs(dir);
    writeAtomic(`${base}.cc`, source);
  } catch (err) {
    throw new Error(`the kernel cache folder ${dir} is not writable (${(err as Error).message}); give a writable folder as the cacheDir option or NOS_CACHE_DIR`);
  }
  const tmp = `${base}.${process.pid}.${randomBytes(4).toString('hex')}.tmp.so`;
  const [exe, ...pre] = compiler.command;
  const failed = (messages: string) => new Error(`kernel compilation failed (${[exe, ...pre, ...flags].join(' ')}; source in ${base}.cc):\n${messages}`);
  return { exe, args: [...pre, ...flags, '-x', 'c++', `${base}.cc`, '-o', tmp], tmp, failed };
}

/** The compiler's failure as one error (its messages, or that it ran out of time); the partial output removed. */
function compileFailure(step: CompileStep, signal: string | null | undefined, messages: string): Error {
  try { fs.rmSync(step.tmp, { force: true }); } catch { /* already gone */ }
  return step.failed(signal === 'SIGTERM' ? `the compiler ran past ${COMPILE_TIMEOUT_MS / 1000} s and was stopped` : messages);
}

function fileDigest(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/**
 * Whether a cached library is the one compiled: its SHA-256 against the one written beside it (`<key>.so.sha256`).
 * A library damaged in the middle (a bad block, a stray write) keeps its size and headers, loads, and crashes the
 * process when called; one that fails this check, or has no digest (an older cache), is compiled again.
 */
export function libraryIntact(file: string): boolean {
  try {
    return fs.readFileSync(`${file}.sha256`, 'utf8').trim() === fileDigest(file);
  } catch {
    return false;
  }
}

/** Moves the finished library into place (atomically), then its digest. */
function finishCompile(step: CompileStep, out: string): void {
  if (!fs.existsSync(step.tmp)) throw step.failed('the compiler reported success but wrote no library');
  const digest = fileDigest(step.tmp);
  fs.renameSync(step.tmp, out);
  try {
    writeAtomic(`${out}.sha256`, `${digest}\n`);
  } catch { /* without its digest the library is only compiled again next time */ }
}

/** Compiles source into a shared library at `out` (atomically); throws with the compiler's messages. */
export function compileLibrary(compiler: Compiler, source: string, out: string, flags: readonly string[]): void {
  const step = prepareCompile(compiler, source, out, flags);
  try {
    execFileSync(step.exe, step.args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 16 << 20, timeout: COMPILE_TIMEOUT_MS });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string; signal?: string };
    throw compileFailure(step, e.signal, e.stderr?.toString().trim() || e.message);
  }
  finishCompile(step, out);
}

/** compileLibrary without blocking the JS thread (the compiler runs while training goes on). */
export async function compileLibraryAsync(compiler: Compiler, source: string, out: string, flags: readonly string[]): Promise<void> {
  const step = prepareCompile(compiler, source, out, flags);
  await new Promise<void>((resolve, reject) => {
    execFile(step.exe, step.args, { maxBuffer: 16 << 20, timeout: COMPILE_TIMEOUT_MS }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      reject(compileFailure(step, err.signal, String(stderr).trim() || err.message));
    });
  });
  finishCompile(step, out);
}

/** The smallest library with the kernel ABI's two entry points (they do nothing): what compilerProblem builds. */
const CHECK_SOURCE = 'extern "C" void nos_update_range() {}\nextern "C" void nos_update_list() {}\n';
const compilerChecks = new Map<string, string | null>();

/**
 * Why `compiler` cannot build a loadable kernel library with `flags` (tried once per compiler and flags, on a trivial
 * library in a temporary folder), or null when it can.  Tells a broken compiler (the optimizer then falls back to the
 * JS kernel) from a rule whose source does not compile (an error).
 */
export function compilerProblem(compiler: Compiler, flags: readonly string[] = kernelFlags(undefined)): string | null {
  const memoKey = `${compiler.identity}\n${flags.join(' ')}`;
  const memo = compilerChecks.get(memoKey);
  if (memo !== undefined) return memo;
  let problem: string | null = null;
  let dir: string | undefined;
  try {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-compiler-check-'));
    const out = path.join(dir, 'check.so');
    compileLibrary(compiler, CHECK_SOURCE, out, flags);
    new (loadAddon().CpuKernel)(out).close();
  } catch (err) {
    const lines = (err as Error).message.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
    problem = (lines.length > 1 ? lines.slice(1) : lines).join(' ').slice(0, 300);
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
  compilerChecks.set(memoKey, problem);
  return problem;
}

/**
 * The kernel for this source: from memory, else from the disk cache, else compiled (and stored). Throws if there is
 * no compiler (callers fall back to JS; see findCompiler) or if compilation fails.
 */
export function getCpuKernel(req: KernelRequest): CachedKernel {
  const compiler = findCompiler();
  if (!compiler) throw new Error('no C++ compiler found (set CXX, or install g++ or clang++)');
  const flags = kernelFlags(req.flags);
  const key = cacheKey(req, compiler);
  const dir = path.resolve(req.cacheDir ?? defaultCacheDir());
  const libraryPath = path.join(dir, `${key}.so`);
  const inMemory = memory.get(`${dir}|${key}`);
  if (inMemory) return { kernel: inMemory, key, libraryPath, origin: 'memory', compileMs: 0 };
  const addon = loadAddon();
  let origin: CachedKernel['origin'] = 'disk';
  let compileMs = 0;
  if (!libraryIntact(libraryPath)) {
    const start = performance.now();
    compileLibrary(compiler, req.source, libraryPath, flags);
    compileMs = performance.now() - start;
    origin = 'compiled';
  }
  let kernel: NativeCpuKernel;
  try {
    kernel = new addon.CpuKernel(libraryPath);
  } catch (err) {
    if (origin !== 'disk') throw err;
    // A damaged cache entry (truncated by a crash, wrong architecture): rebuild it once.
    const start = performance.now();
    compileLibrary(compiler, req.source, libraryPath, flags);
    compileMs = performance.now() - start;
    origin = 'compiled';
    kernel = new addon.CpuKernel(libraryPath);
  }
  memory.set(`${dir}|${key}`, kernel);
  return { kernel, key, libraryPath, origin, compileMs };
}

export interface PtxRequest {
  hash: string;
  /** CUDA source that follows kernel-abi.ts. */
  source: string;
  /** NVRTC's --gpu-architecture, e.g. compute_90. */
  arch: string;
  cacheDir?: string;
  /** Compile even if memory or disk has an entry, and replace it (the driver refused a cached one as damaged). */
  fresh?: boolean;
  /** An entry point the PTX must name (default nos_update); a cached file without it is compiled again. */
  entry?: string;
}

const ptxMemory = new Map<string, string>();

/** Where a PTX request lives in the caches, and what they hold for it (undefined: compile it). */
function ptxLookup(req: PtxRequest): { dir: string; file: string; memoKey: string; ptx?: string; origin?: CachedKernel['origin'] } {
  const key = createHash('sha256')
    .update([req.hash, 'cuda', req.arch, `abi${KERNEL_ABI_VERSION}`, createHash('sha256').update(req.source).digest('hex')].join('\n'))
    .digest('hex').slice(0, 32);
  const dir = path.resolve(req.cacheDir ?? defaultCacheDir());
  const file = path.join(dir, `${key}.ptx`);
  const memoKey = `${dir}|${key}`;
  const inMemory = req.fresh ? undefined : ptxMemory.get(memoKey);
  if (inMemory) return { dir, file, memoKey, ptx: inMemory, origin: 'memory' };
  let ptx: string | undefined;
  try {
    if (!req.fresh) ptx = fs.readFileSync(file, 'utf8');
  } catch { /* not cached yet */ }
  return ptx && ptx.includes(req.entry ?? 'nos_update') ? { dir, file, memoKey, ptx, origin: 'disk' } : { dir, file, memoKey };
}

function ptxStore(at: { dir: string; file: string; memoKey: string }, ptx: string, compiled: boolean): void {
  if (compiled) {
    try {
      makeDirs(at.dir);
      writeAtomic(at.file, ptx);
    } catch { /* an unwritable cache only costs a recompile next time */ }
  }
  ptxMemory.set(at.memoKey, ptx);
}

/**
 * PTX for a CUDA kernel: from memory, else from the disk cache (<key>.ptx, same folder and atomic writes as the CPU
 * libraries), else from `compile` (NVRTC), then stored.  The key covers the rule hash, the architecture, the ABI
 * version and the source.
 */
export function getCudaPtx(req: PtxRequest, compile: (source: string, arch: string) => string): { ptx: string; origin: CachedKernel['origin'] } {
  const found = ptxLookup(req);
  const ptx = found.ptx ?? compile(req.source, req.arch);
  ptxStore(found, ptx, found.ptx === undefined);
  return { ptx, origin: found.origin ?? 'compiled' };
}

/** getCudaPtx with a compile that runs off the JS thread (NVRTC on the libuv pool). */
export async function getCudaPtxAsync(req: PtxRequest, compile: (source: string, arch: string) => Promise<string>): Promise<{ ptx: string; origin: CachedKernel['origin'] }> {
  const found = ptxLookup(req);
  const ptx = found.ptx ?? await compile(req.source, req.arch);
  ptxStore(found, ptx, found.ptx === undefined);
  return { ptx, origin: found.origin ?? 'compiled' };
}

/** For tests and benchmarks: drop the in-memory caches (the libraries stay loaded by the kernels already handed out). */
export function clearMemoryCache(): void {
  memory.clear();
  ptxMemory.clear();
}
