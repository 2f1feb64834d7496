// The kernel cache: memory and disk hits, a fresh process that loads without compiling, parallel processes that
// compile the same rule at once, damaged entries, and compiler errors that name the compiler and the source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { compileRule } from '../../src/compiler';
import { renderRule } from '../../src/compiler/render';
import { cacheKey, clearMemoryCache, defaultCacheDir, findCompiler, getCpuKernel, libraryIntact } from '../../src/runtime/kernel-cache';
import { loadAddon } from '../../src/runtime/binding';
import { SGD_STAND_IN } from './stand-in-kernels';

const run = promisify(execFile);
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-cache-test-'));
process.on('exit', () => fs.rmSync(cacheDir, { recursive: true, force: true }));

const probe = path.join(__dirname, 'kernel-cache-probe' + path.extname(__filename));
const nodeArgs = __filename.endsWith('.ts') ? ['--import', 'tsx', probe] : [probe];
async function probeInChild(dir: string, variant = ''): Promise<{ origin: string; key: string; w: number[] }> {
  const { stdout } = await run(process.execPath, [...nodeArgs, variant], { env: { ...process.env, NOS_CACHE_DIR: dir } });
  return JSON.parse(stdout);
}

test('the cache folder is $NOS_CACHE_DIR, else ~/.cache/nos/kernels', () => {
  const saved = process.env.NOS_CACHE_DIR;
  try {
    process.env.NOS_CACHE_DIR = '/tmp/some-nos-cache';
    assert.equal(defaultCacheDir(), '/tmp/some-nos-cache');
    delete process.env.NOS_CACHE_DIR;
    const xdg = process.env.XDG_CACHE_HOME;
    delete process.env.XDG_CACHE_HOME;
    assert.equal(defaultCacheDir(), path.join(os.homedir(), '.cache', 'nos', 'kernels'));
    if (xdg !== undefined) process.env.XDG_CACHE_HOME = xdg;
  } finally {
    if (saved === undefined) delete process.env.NOS_CACHE_DIR; else process.env.NOS_CACHE_DIR = saved;
  }
});

test('compiled once, then served from memory, then from disk after the memory cache is dropped', () => {
  const dir = fs.mkdtempSync(path.join(cacheDir, 'a-'));
  const req = { hash: SGD_STAND_IN.hash, source: SGD_STAND_IN.source, cacheDir: dir };
  const first = getCpuKernel(req);
  assert.equal(first.origin, 'compiled');
  assert.ok(fs.existsSync(first.libraryPath) && first.libraryPath.startsWith(dir));
  assert.ok(fs.existsSync(first.libraryPath.replace(/\.so$/, '.cc')), 'the source is kept next to the library');
  assert.equal(getCpuKernel(req).origin, 'memory');
  clearMemoryCache();
  const third = getCpuKernel(req);
  assert.equal(third.origin, 'disk');
  assert.equal(third.key, first.key);
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.tmp')), [], 'no temp files left behind');
});

test('the key changes with the flags, the source and the rule hash', () => {
  const compiler = findCompiler()!;
  const base = { hash: 'h', source: 's' };
  const k = cacheKey(base, compiler);
  assert.notEqual(cacheKey({ ...base, flags: ['-O2'] }, compiler), k);
  assert.notEqual(cacheKey({ ...base, source: 's2' }, compiler), k);
  assert.notEqual(cacheKey({ ...base, hash: 'h2' }, compiler), k);
  assert.equal(cacheKey({ ...base }, compiler), k);
});

test('a fresh process loads a rule another process compiled, without compiling', async () => {
  const dir = fs.mkdtempSync(path.join(cacheDir, 'b-'));
  const first = await probeInChild(dir);
  assert.equal(first.origin, 'compiled');
  assert.deepEqual(first.w, [0, 1]);
  const second = await probeInChild(dir);
  assert.equal(second.origin, 'disk');
  assert.equal(second.key, first.key);
  assert.deepEqual(second.w, [0, 1]);
});

test('parallel processes compiling the same rule do not corrupt the cache', async () => {
  const dir = fs.mkdtempSync(path.join(cacheDir, 'c-'));
  const results = await Promise.all([1, 2, 3, 4].map(() => probeInChild(dir, '\n// parallel')));
  for (const r of results) assert.deepEqual(r.w, [0, 1]);
  assert.equal(new Set(results.map((r) => r.key)).size, 1);
  const files = fs.readdirSync(dir);
  assert.deepEqual(files.filter((f) => f.includes('.tmp')), []);
  assert.equal((await probeInChild(dir, '\n// parallel')).origin, 'disk');
});

test('a damaged library on disk is rebuilt', () => {
  const dir = fs.mkdtempSync(path.join(cacheDir, 'd-'));
  const req = { hash: SGD_STAND_IN.hash, source: SGD_STAND_IN.source + '\n// damaged', cacheDir: dir };
  // Damage the entry before anything maps it (a library in use is never rewritten in place: the cache renames).
  const file = path.join(dir, `${cacheKey(req, findCompiler()!)}.so`);
  fs.writeFileSync(file, 'not an ELF file');
  const again = getCpuKernel(req);
  assert.equal(again.origin, 'compiled');
  assert.equal(again.libraryPath, file);
  const w = new Float32Array([1]);
  const scalars = new Float32Array(32);
  scalars[0] = 1;
  again.kernel.update([w, new Float32Array([1])], new Float64Array(1), [null, null, null, null], scalars, 0, 1, 1);
  assert.equal(w[0], 0);
});

test('a library cut short on disk is refused before dlopen maps it (no SIGBUS) and rebuilt', async () => {
  const dir = fs.mkdtempSync(path.join(cacheDir, 't-'));
  const first = await probeInChild(dir, '\n// truncated');
  assert.equal(first.origin, 'compiled');
  const file = path.join(dir, `${first.key}.so`);
  const whole = fs.readFileSync(file);
  for (const length of [Math.floor(whole.length / 4), Math.floor(whole.length / 2), whole.length - 8]) {
    fs.writeFileSync(file, whole.subarray(0, length));
    const again = await probeInChild(dir, '\n// truncated');
    assert.equal(again.origin, 'compiled', `cut to ${length} of ${whole.length} bytes`);
    assert.deepEqual(again.w, [0, 1]);
    assert.equal(fs.statSync(file).size, whole.length);
  }
  const cut = path.join(dir, 'cut.so');
  fs.writeFileSync(cut, whole.subarray(0, whole.length - 8));
  assert.throws(() => new (loadAddon().CpuKernel)(cut), /could not load the kernel library .*cut\.so: the file is truncated or damaged \(\d+ bytes; /);
});

// Damage that keeps the size and the ELF headers loads, and crashed the process (SIGSEGV) when the kernel ran.
test('a library damaged in the middle on disk fails its digest and is rebuilt, not run', async () => {
  const dir = fs.mkdtempSync(path.join(cacheDir, 'm-'));
  const first = await probeInChild(dir, '\n// damaged inside');
  assert.equal(first.origin, 'compiled');
  const file = path.join(dir, `${first.key}.so`);
  assert.ok(libraryIntact(file));
  const whole = fs.readFileSync(file);
  const damaged = Buffer.from(whole);
  damaged.fill(0xff, 1024, whole.length - 1024);
  fs.writeFileSync(file, damaged);
  assert.equal(libraryIntact(file), false);
  const again = await probeInChild(dir, '\n// damaged inside');
  assert.equal(again.origin, 'compiled');
  assert.deepEqual(again.w, [0, 1]);
  assert.ok(fs.readFileSync(file).equals(whole), 'the same library, compiled again');
  // A cache written before the digests existed: each library is compiled once more, then loads from disk.
  fs.rmSync(`${file}.sha256`);
  assert.equal((await probeInChild(dir, '\n// damaged inside')).origin, 'compiled');
  assert.equal((await probeInChild(dir, '\n// damaged inside')).origin, 'disk');
});

test('a compile error names the compiler, the kept source file and the compiler message', () => {
  const dir = fs.mkdtempSync(path.join(cacheDir, 'e-'));
  assert.throws(
    () => getCpuKernel({ hash: 'broken', source: 'extern "C" void nos_update_range( {', cacheDir: dir }),
    (err: Error) => /kernel compilation failed \(.*c\+\+|g\+\+|clang/.test(err.message) && /source in .*\.cc/.test(err.message) && /error/.test(err.message),
  );
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.so')), []);
});

test('the key digests the source as rendered (the renderer gives one rule one text in every process)', () => {
  const compiler = findCompiler()!;
  const source = renderRule(compileRule('powersign'), 'cpu');
  assert.equal(cacheKey({ hash: 'h', source: renderRule(compileRule('exp(sign(m)*sign(g))*g'), 'cpu') }, compiler), cacheKey({ hash: 'h', source }, compiler));
  // Any change to the text is another kernel, another operation or another name alike.
  assert.notEqual(cacheKey({ hash: 'h', source: source.replace('expf', 'logf') }, compiler), cacheKey({ hash: 'h', source }, compiler));
  assert.notEqual(cacheKey({ hash: 'h', source: source.replace(/\bt1\b/g, 't99') }, compiler), cacheKey({ hash: 'h', source }, compiler));
});

test('a cache folder that cannot be created gives an error that names it and NOS_CACHE_DIR', () => {
  const file = path.join(cacheDir, 'a-file');
  fs.writeFileSync(file, 'not a folder');
  assert.throws(() => getCpuKernel({ hash: 'x', source: SGD_STAND_IN.source + '\n// unwritable', cacheDir: path.join(file, 'kernels') }),
    /the kernel cache folder .*a-file\/kernels is not writable .*give a writable folder as the cacheDir option or NOS_CACHE_DIR/);
});
