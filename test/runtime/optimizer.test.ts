// createOptimizer against references: torch.optim trajectories (sgd, momentum, adam, rmsprop), TensorFlow's
// ApplyPowerSign/ApplyAddSign formulas with their sign decays, state save/restore, and errors for bad calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { types } from 'node:util';
import { createOptimizer, type OptimizerOptions } from '../../src/runtime/optimizer';
import { NAMED_RULES } from '../../src/compiler';
import { packageRoot } from '../../src/runtime/binding';
import { resetFallbackWarning } from '../../src/runtime/devices';
import { resetCompilerLookup } from '../../src/runtime/kernel-cache';

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-opt-test-'));
process.on('exit', () => fs.rmSync(cacheDir, { recursive: true, force: true }));

interface TorchFixture {
  torch: string; steps: number; sizes: number[]; initial: number[][]; grads: number[][][];
  cases: Record<string, { options: OptimizerOptions; trajectory: number[][][] }>;
}
// The JSON stays in test/fixtures (tsc does not copy it to dist), so find it from the package root.
const fixture = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'test', 'fixtures', 'torch-optim.json'), 'utf8')) as TorchFixture;

/** A named rule, resolved by the compiler front end inside createOptimizer. */
function rule(name: string): string {
  return name;
}

const DEVICES = ['cpu', 'js'] as const;
/** Float32 tolerance: a few units in the last place at the parameters' scale per step (op order differs from torch). */
const closeTo = (actual: number, expected: number, steps: number): boolean =>
  Math.abs(actual - expected) <= steps * 4 * 2 ** -23 * Math.max(1, Math.abs(expected));

for (const name of ['sgd', 'momentum', 'adam', 'rmsprop']) {
  for (const device of DEVICES) {
    test(`${name} on ${device} follows torch.optim (torch ${fixture.torch}) step by step`, () => {
      const c = fixture.cases[name];
      const opt = createOptimizer(rule(name), { ...c.options, device, cacheDir });
      const params = fixture.initial.map((w) => Float32Array.from(w));
      for (let t = 0; t < fixture.steps; t++) {
        opt.step(params, fixture.grads[t].map((g) => Float32Array.from(g)));
        params.forEach((p, k) => p.forEach((x, i) => {
          const want = c.trajectory[t][k][i];
          assert.ok(closeTo(x, want, t + 1), `${name}/${device} step ${t + 1} tensor ${k}[${i}]: ${x} vs torch ${want}`);
        }));
      }
      assert.equal(opt.iterations, fixture.steps);
      opt.dispose();
    });
  }
}

// TensorFlow's training_ops ApplyPowerSign / ApplyAddSign, restated independently in double precision:
//   m_t = beta * m + (1 - beta) * g
//   PowerSign: var -= lr * exp(logbase * sign_decay * sign(g) * sign(m_t)) * g        (logbase 1: base e)
//   AddSign:   var -= lr * (alpha + sign_decay * sign(g) * sign(m_t)) * g              (alpha 1)
// sign_decay.py at 0-based global step s of T: linear (T - min(s,T)) / T; cosine 0.5 * (1 + cos(pi * 2 * n * min(s,T) / T))
// with n = 0.5 for cd; restart 0.5 * (1 + cos(pi * ((n * min(s,T)) mod T) / T)).
type SignDecay = (s: number, T: number) => number;
const noDecay: SignDecay = () => 1;
const linearDecay: SignDecay = (s, T) => (T - Math.min(s, T)) / T;
const cosineDecay = (n: number): SignDecay => (s, T) => 0.5 * (1 + Math.cos(Math.PI * 2 * n * Math.min(s, T) / T));
const restartDecay = (n: number): SignDecay => (s, T) => 0.5 * (1 + Math.cos(Math.PI * ((n * Math.min(s, T)) % T) / T));

function tfSignStep(kind: 'power' | 'add', decay: SignDecay, w: Float64Array, m: Float64Array, g: Float32Array, lr: number, beta: number, s: number, T: number): void {
  const d = decay(s, T);
  for (let i = 0; i < w.length; i++) {
    m[i] = beta * m[i] + (1 - beta) * g[i];
    const agree = Math.sign(g[i]) * Math.sign(m[i]);
    const scale = kind === 'power' ? Math.exp(d * agree) : 1 + d * agree;
    w[i] -= lr * scale * g[i];
  }
}

/** Every named PowerSign/AddSign variant with the sign decay its name gives (cd is cosine decay without restarts). */
const SIGN_CASES: Array<[string, 'power' | 'add', SignDecay]> = Object.keys(NAMED_RULES)
  .filter((name) => /^(power|add)sign(-|$)/.test(name))
  .map((name) => {
    const [, kind, suffix] = /^(power|add)sign(?:-(.*))?$/.exec(name)!;
    const decay = suffix === undefined ? noDecay : suffix === 'ld' ? linearDecay : suffix === 'cd' ? cosineDecay(0.5)
      : restartDecay(Number(/^rd(\d+)$/.exec(suffix)![1]));
    return [name, kind as 'power' | 'add', decay];
  });

test('every PowerSign/AddSign variant is checked', () => {
  assert.ok(SIGN_CASES.length >= 10, `found ${SIGN_CASES.length} variants`);
});

for (const [name, kind, decay] of SIGN_CASES) {
  test(`${name} follows TensorFlow's Apply${kind === 'power' ? 'PowerSign' : 'AddSign'} with its sign decay`, () => {
    const T = 25;
    const sizes = [33, 4, 129];
    let seed = 7;
    const rand = (): number => { seed = (Math.imul(seed, 48271) % 2147483647 + 2147483647) % 2147483647; return seed / 2147483647 - 0.5; };
    const initial = sizes.map((n) => Float32Array.from({ length: n }, () => rand() * 2));
    const params = initial.map((w) => w.slice());
    const ref = initial.map((w) => Float64Array.from(w));
    const mRef = sizes.map((n) => new Float64Array(n));
    const opt = createOptimizer(rule(name), { lr: 0.02, betas: [0.9, 0.999, 0.999], totalSteps: T, cacheDir });
    for (let s = 0; s < T + 3; s++) { // past T the decays hold their final value
      const grads = sizes.map((n) => Float32Array.from({ length: n }, () => (rand() < 0.1 ? 0 : rand())));
      opt.step(params, grads);
      grads.forEach((g, k) => tfSignStep(kind, decay, ref[k], mRef[k], g, 0.02, 0.9, s, T));
    }
    params.forEach((p, k) => p.forEach((x, i) => {
      assert.ok(Math.abs(x - ref[k][i]) <= 1e-5 * Math.max(1, Math.abs(ref[k][i])), `${name} tensor ${k}[${i}]: ${x} vs TF ${ref[k][i]}`);
    }));
  });
}

test('schedules drive the learning rate of each step (sgd with cosine decay)', () => {
  const T = 10;
  const opt = createOptimizer(rule('sgd'), { lr: 0.5, schedule: { kind: 'cosine' }, totalSteps: T, device: 'js' });
  const w = new Float32Array([0]);
  let expected = 0;
  for (let s = 0; s < T; s++) {
    const lr = 0.5 * 0.5 * (1 + Math.cos(Math.PI * s / T));
    assert.ok(Math.abs(opt.currentLr() - lr) < 1e-7, `lr at step ${s}`);
    opt.step([w], [new Float32Array([1])]);
    expected -= Math.fround(lr);
    assert.ok(Math.abs(w[0] - expected) < 1e-6, `w after step ${s + 1}: ${w[0]} vs ${expected}`);
  }
});

test('stateDict survives JSON and a restored optimizer continues bit for bit', () => {
  for (const device of DEVICES) {
    const sizes = [5, 300];
    const make = (): ReturnType<typeof createOptimizer> => createOptimizer(rule('adam'), { lr: 0.01, device, cacheDir });
    const gradsAt = (t: number): Float32Array[] => sizes.map((n) => Float32Array.from({ length: n }, (_, i) => Math.sin(t * 13 + i * 0.7)));
    const a = make();
    const pa = sizes.map((n) => new Float32Array(n).fill(1));
    for (let t = 0; t < 10; t++) a.step(pa, gradsAt(t));

    const b = make();
    const pb = sizes.map((n) => new Float32Array(n).fill(1));
    for (let t = 0; t < 5; t++) b.step(pb, gradsAt(t));
    const saved = JSON.parse(JSON.stringify(b.stateDict()));
    assert.deepEqual(Object.keys(saved.tensors[0]).sort(), ['m', 'v']);
    const c = make();
    c.loadStateDict(saved);
    assert.equal(c.iterations, 5);
    for (let t = 5; t < 10; t++) c.step(pb, gradsAt(t));
    assert.deepEqual(pb, pa, `${device}: restored run differs`);
    assert.deepEqual(c.stateDict(), a.stateDict());
  }
});

test('a state saved before the first update loads and leaves the parameter list open', () => {
  const fresh = createOptimizer(rule('adam'), { cacheDir });
  const empty = JSON.parse(JSON.stringify(fresh.stateDict()));
  assert.deepEqual(empty.sizes, []);
  const b = createOptimizer(rule('adam'), { cacheDir });
  b.loadStateDict(empty);
  const w = new Float32Array([1, 2]);
  b.step([w], [new Float32Array([1, 1])]);
  assert.equal(b.iterations, 1);
  assert.ok(w[0] < 1 && w[1] < 2);
});

test('an update of an empty list leaves the parameter list open, and so does its saved state', () => {
  for (const device of DEVICES) {
    const a = createOptimizer(rule('adam'), { cacheDir, device });
    a.step([], []);
    assert.equal(a.iterations, 1);
    const saved = JSON.parse(JSON.stringify(a.stateDict()));
    assert.deepEqual(saved.sizes, []);
    const w = new Float32Array([1, 2]);
    a.step([w], [new Float32Array([1, 1])]);
    assert.ok(w[0] < 1 && w[1] < 2, `${device}: the first non-empty list is updated`);
    assert.throws(() => a.step([w, w.slice()], [w.slice(), w.slice()]), /params has 2 arrays, expected 1/);
    const b = createOptimizer(rule('adam'), { cacheDir, device });
    b.loadStateDict(saved);
    b.step([], []);
    b.step([new Float32Array(3), new Float32Array(1)], [new Float32Array(3), new Float32Array(1)]);
    assert.deepEqual(b.stateDict().sizes, [3, 1]);
  }
});

test('parameters that share memory with each other or with another gradient are refused, on every device', () => {
  for (const device of DEVICES) {
    const opt = createOptimizer(rule('sgd'), { cacheDir, device, lr: 1 });
    const a = new Float32Array(100_000).fill(1);
    const g = new Float32Array(100_000).fill(0.1);
    assert.throws(() => opt.step([a, a], [g, g]), /params\[1\] shares memory with params\[0\]/);
    const flat = new Float32Array(10);
    assert.throws(() => opt.step([flat.subarray(0, 6), flat.subarray(5)], [g.subarray(0, 6), g.subarray(0, 5)]), /params\[1\] shares memory with params\[0\]/);
    const [p0, p1] = [new Float32Array(4), new Float32Array(4)];
    assert.throws(() => opt.step([p0, p1], [p1, g.subarray(0, 4)]), /grads\[0\] shares memory with params\[1\], which the step writes/);
    const buf = new Float32Array(9);
    assert.throws(() => opt.step([buf.subarray(0, 8)], [buf.subarray(1, 9)]), /grads\[0\] shares memory with params\[0\]/);
    assert.equal(opt.iterations, 0, 'a refused step is not taken');
    // Disjoint views of one buffer, a gradient that is its own parameter's array, and shared gradients are fine.
    const w = new Float32Array([1, 2, 3, 4]);
    const same = new Float32Array([0.5, 0.5]);
    opt.step([w.subarray(0, 2), w.subarray(2)], [same, same]);
    assert.deepEqual(w, new Float32Array([0.5, 1.5, 2.5, 3.5]));
    const self = new Float32Array([0.25, 0.5]);
    opt.step([w.subarray(0, 2), self], [w.subarray(0, 2), self]);
    assert.deepEqual(w.subarray(0, 2), new Float32Array([0, 0]));
    assert.deepEqual(self, new Float32Array([0, 0]));
  }
});

test('views over a SharedArrayBuffer are updated, empty ones included', () => {
  const opt = createOptimizer(rule('sgd'), { cacheDir, lr: 1 });
  const w = new Float32Array(new SharedArrayBuffer(12)).fill(1);
  const g = new Float32Array(new SharedArrayBuffer(12)).fill(0.5);
  const empty = new Float32Array(new SharedArrayBuffer(0));
  opt.step([w, empty], [g, new Float32Array(new SharedArrayBuffer(0))]);
  assert.deepEqual(w, new Float32Array([0.5, 0.5, 0.5]));
});

// Distinct SharedArrayBuffer objects over one memory: a shared WebAssembly.Memory's buffer before and after grow().
test('parameters that share memory through distinct SharedArrayBuffer objects are refused, on every device', () => {
  // (WebAssembly is a global of Node 20 that this project's type libraries do not declare.)
  const { WebAssembly: wasm } = globalThis as unknown as {
    WebAssembly: { Memory: new (d: { initial: number; maximum: number; shared: true }) => { readonly buffer: SharedArrayBuffer; grow(pages: number): number } };
  };
  const memory = new wasm.Memory({ initial: 1, maximum: 4, shared: true });
  const before = memory.buffer;
  memory.grow(1);
  const after = memory.buffer;
  assert.ok(before !== after && types.isSharedArrayBuffer(before) && types.isSharedArrayBuffer(after), 'two SharedArrayBuffer objects');
  const fresh = new Float32Array(new SharedArrayBuffer(32)).fill(0.5); // other shared memory
  for (const device of DEVICES) {
    const opt = createOptimizer(rule('sgd'), { cacheDir, device, lr: 1 });
    const g = [new Float32Array(8).fill(0.1), new Float32Array(8).fill(0.1)];
    // The same range through each object: one tensor listed twice, updated twice without the check.
    assert.throws(() => opt.step([new Float32Array(before, 0, 8), new Float32Array(after, 0, 8)], g), /params\[1\] shares memory with params\[0\]/);
    // Overlapping, not equal, ranges, listed out of order.
    assert.throws(() => opt.step([new Float32Array(after, 64, 8), new Float32Array(before, 48, 8)], g), /params\[1\] shares memory with params\[0\]/);
    // A gradient over another parameter's memory through the other object.
    const p0 = new Float32Array(before, 0, 8);
    const p1 = new Float32Array(before, 32, 8);
    assert.throws(() => opt.step([p0, p1], [new Float32Array(after, 32, 8), g[1]]), /grads\[0\] shares memory with params\[1\], which the step writes/);
    assert.throws(() => opt.step([p0, p1], [g[0], new Float32Array(after, 0, 8)]), /grads\[1\] shares memory with params\[0\]/);
    assert.equal(opt.iterations, 0, 'a refused step is not taken');
    // Disjoint ranges through the two objects, a gradient that is its own parameter's memory through the other
    // object, and other shared memory are fine.
    const w = new Float32Array(after, 0, 16);
    w.fill(1);
    opt.step([new Float32Array(before, 0, 8), new Float32Array(after, 32, 8), fresh], [new Float32Array(after, 0, 8), g[1], g[0]]);
    assert.deepEqual(Array.from(w), [...Array(8).fill(0), ...Array(8).fill(Math.fround(1 - Math.fround(0.1)))]);
    assert.equal(opt.iterations, 1);
  }
});

test('a state from another rule, or a damaged one, is refused and leaves the optimizer unchanged', () => {
  const adam = createOptimizer(rule('adam'), { cacheDir });
  adam.step([new Float32Array(4)], [new Float32Array(4).fill(1)]);
  const saved = adam.stateDict();
  const rms = createOptimizer(rule('rmsprop'), { cacheDir });
  assert.throws(() => rms.loadStateDict(saved), /the state is for rule "m\/sqrt\(v\)" \(hash [0-9a-f]{16}\), but this optimizer runs "g\/sqrt\(v\)"/);
  const other = createOptimizer(rule('adam'), { cacheDir });
  assert.throws(() => other.loadStateDict({ ...saved, tensors: [{ m: saved.tensors[0].m }] }), /tensor 0 lacks state 'v'/);
  assert.throws(() => other.loadStateDict({ ...saved, tensors: [{ m: 'AAAA', v: saved.tensors[0].v }] }), /tensor 0 state 'm' holds 3 bytes, expected 16 \(4 float32 values\)/);
  assert.throws(() => other.loadStateDict({ format: 'x' } as never), /expected an object from stateDict/);
  assert.equal(other.iterations, 0);
});

test('bad calls give errors that say what was expected and what was received', () => {
  const opt = createOptimizer(rule('adam'), { cacheDir });
  const w = new Float32Array(8);
  assert.throws(() => opt.step([w], [new Float32Array(7)]), /grads\[0\] has 7 elements, params\[0\] has 8/);
  assert.throws(() => opt.step([w], [new Float64Array(8) as never]), /grads\[0\] must be a Float32Array, received a Float64Array/);
  assert.throws(() => opt.step([w], []), /grads has 0 arrays, expected 1/);
  assert.throws(() => opt.step(w as never, [w]), /params must be an Array of Float32Array, received a Float32Array/);
  // A sparse list's hole is named, not skipped (forEach skipped it and the kernel read undefined).
  const holed: Float32Array[] = [];
  holed.length = 1;
  assert.throws(() => opt.step(holed, [new Float32Array(8)]), /params\[0\] must be a Float32Array, received undefined$/);
  assert.throws(() => (opt.step as () => void)(), /params must be an Array of Float32Array, received undefined$/);
  const gone = new Float32Array(8);
  structuredClone(gone.buffer as ArrayBuffer, { transfer: [gone.buffer as ArrayBuffer] });
  assert.throws(() => opt.step([gone], [new Float32Array(0)]), /params\[0\] is detached/);
  opt.step([w], [new Float32Array(8)]);
  assert.throws(() => opt.step([new Float32Array(9)], [new Float32Array(9)]), /params\[0\] has 9 elements, but the optimizer's state for it has 8/);
  assert.throws(() => opt.step([w, w], [w, w]), /params has 2 arrays, expected 1/);
  opt.dispose();
  assert.throws(() => opt.step([w], [w]), /used after dispose/);

  assert.throws(() => createOptimizer(rule('adam'), { device: 'tpu' as never }), /device must be one of cpu, js, cuda, received "tpu"/);
  assert.throws(() => createOptimizer(rule('adam'), { lr: NaN }), /lr must be a finite number/);
  assert.throws(() => createOptimizer(rule('adam'), { betas: [0.9, 1, 0.9] }), /betas\[1\] must be in \[0, 1\), received 1/);
  assert.throws(() => createOptimizer(rule('powersign-ld')), /uses the decay ld, which needs totalSteps/);
  assert.throws(() => createOptimizer(rule('sgd'), { schedule: { kind: 'cosine' } }), /needs decaySteps or the optimizer's totalSteps/);
  assert.throws(() => createOptimizer(rule('sgd'), { schedule: { kind: 'warp' } as never }), /unknown kind 'warp'/);
  assert.throws(() => createOptimizer(rule('sgd'), { seed: -1 }), /seed must be an integer in \[0, 2\^32\)/);
  assert.throws(() => createOptimizer(42 as never), /rule must be a rule text, a rule name or a compiled RuleInfo, received number 42/);
  assert.throws(() => createOptimizer('exp(sign(g)*sign(m)*g'), /unbalanced parentheses/);
  assert.throws(() => createOptimizer('adam', null as never), /options must be an object, received null/);
});

test('device cpu without a C++ compiler falls back to the JS kernel with one warning', () => {
  const saved = process.env.CXX;
  process.env.CXX = '/nonexistent/c++';
  resetCompilerLookup();
  resetFallbackWarning();
  const warnings: string[] = [];
  try {
    const a = createOptimizer(rule('adam'), { warn: (m) => warnings.push(m), cacheDir });
    const b = createOptimizer(rule('sgd'), { warn: (m) => warnings.push(m), cacheDir });
    assert.equal(a.device, 'js');
    assert.equal(b.device, 'js');
    const w = new Float32Array([1]);
    b.step([w], [new Float32Array([1])]);
    assert.equal(w[0], Math.fround(1 - Math.fround(1e-3)));
  } finally {
    if (saved === undefined) delete process.env.CXX; else process.env.CXX = saved;
    resetCompilerLookup();
  }
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /no C\+\+ compiler found .*slower JS kernel/);
});

test('a CXX that cannot build kernels (fails, writes nothing, writes garbage, not executable) falls back with one line', () => {
  const dir = fs.mkdtempSync(path.join(cacheDir, 'cxx-'));
  const script = (name: string, body: string, mode = 0o755): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode });
    return file;
  };
  const compilers: Array<[string, RegExp]> = [
    [script('fails', 'echo "internal compiler error: Segmentation fault" >&2; exit 1'), /internal compiler error: Segmentation fault/],
    [script('silent', 'exit 0'), /reported success but wrote no library/],
    [script('garbage', 'while [ "$1" != "-o" ]; do shift; done; echo "not a library" > "$2"'), /could not load the kernel library/],
    [script('noexec', 'exit 0', 0o644), /EACCES/],
  ];
  const saved = process.env.CXX;
  try {
    for (const [cxx, why] of compilers) {
      process.env.CXX = cxx;
      resetCompilerLookup();
      resetFallbackWarning();
      const warnings: string[] = [];
      const opt = createOptimizer(rule('powersign'), { warn: (m) => warnings.push(m), cacheDir: path.join(dir, 'cache') });
      assert.equal(opt.device, 'js', cxx);
      assert.equal(warnings.length, 1, cxx);
      assert.ok(!warnings[0].includes('\n'), `one line: ${warnings[0]}`);
      assert.match(warnings[0], new RegExp(`the C\\+\\+ compiler ${cxx} does not work \\(.*\\); updates run in the slower JS kernel`));
      assert.match(warnings[0], why);
      const w = new Float32Array([1, -1]);
      opt.step([w], [new Float32Array([0.5, -0.5])]);
      assert.ok(w[0] < 1 && w[1] > -1, `${cxx}: the JS kernel updated w`);
    }
  } finally {
    if (saved === undefined) delete process.env.CXX; else process.env.CXX = saved;
    resetCompilerLookup();
  }
});

test('with a working compiler, a rule whose C++ does not compile is an error with the compiler message, not a fallback', () => {
  const saved = process.env.NOS_KERNEL_FLAGS;
  process.env.NOS_KERNEL_FLAGS = '-Dexpf=(';   // breaks every kernel (their <math.h>), not the compiler itself
  resetFallbackWarning();
  const warnings: string[] = [];
  try {
    assert.throws(() => createOptimizer(rule('powersign'), { warn: (m) => warnings.push(m), cacheDir }),
      /kernel compilation failed \(.*-Dexpf=\(; source in .*\.cc\):\n[^]*error/);
  } finally {
    if (saved === undefined) delete process.env.NOS_KERNEL_FLAGS; else process.env.NOS_KERNEL_FLAGS = saved;
  }
  assert.deepEqual(warnings, []);
});

test('Float32Arrays made in another realm (a vm context) are accepted on every device', () => {
  const foreign = (code: string): Float32Array => vm.runInNewContext(code) as Float32Array;
  for (const device of DEVICES) {
    const opt = createOptimizer(rule('adam'), { cacheDir, device, lr: 0.1 });
    const w = foreign('new Float32Array([1, -1, 0.5])');
    assert.ok(!(w instanceof Float32Array), 'the test needs an array from another realm');
    opt.step([w, foreign('new Float32Array(new SharedArrayBuffer(0))')], [foreign('new Float32Array([1, -1, 0.5])'), foreign('new Float32Array(0)')]);
    assert.ok(w[0] < 1 && w[1] > -1 && w[2] < 0.5, `${device}: updated`);
    const saved = opt.stateDict();
    const again = createOptimizer(rule('adam'), { cacheDir, device, lr: 0.1 });
    again.loadStateDict({ ...saved, tensors: [{ m: foreign('new Float32Array([0.1, -0.1, 0.05])'), v: foreign('new Float32Array([0.1, 0.1, 0.025])') }, { m: '', v: '' }] });
    assert.deepEqual([...again.stateDict().sizes], [3, 0]);
  }
});

test('options are checked: unknown names, float32 range, cacheDir, warn, and a RuleInfo missing fields', () => {
  assert.throws(() => createOptimizer('sgd', { learningRate: 0.1 } as never), /createOptimizer: unknown option 'learningRate' \(options: lr, schedule, /);
  assert.throws(() => createOptimizer('sgd', { lr: 1e39 }), /lr must be a finite number \(as a float32\), received number 1e\+39/);
  assert.throws(() => createOptimizer('sgd', { delta: -1e39 }), /delta must be a finite number \(as a float32\)/);
  assert.throws(() => createOptimizer('sgd', { cacheDir: 5 as never }), /cacheDir must be a folder path \(a non-empty string\), received number 5/);
  assert.throws(() => createOptimizer('sgd', { cacheDir: '' }), /cacheDir must be a folder path/);
  assert.throws(() => createOptimizer('sgd', { warn: 'console' as never }), /warn must be a function, received string console/);
  assert.throws(() => createOptimizer('sgd', { threads: '2' as never }), /threads must be an integer in \[0, 1024\], received string 2/);
  const { canonical: _, ...partial } = createOptimizer('adam', { cacheDir }).info;
  assert.throws(() => createOptimizer(partial as never), /rule must be a rule text, a rule name or a compiled RuleInfo, received an object/);
  // A relative cache folder is taken from the working directory, like any path.
  const here = process.cwd();
  try {
    process.chdir(cacheDir);
    const w = new Float32Array([1]);
    createOptimizer('sgd', { cacheDir: 'relative-kernels', lr: 1 }).step([w], [new Float32Array([0.5])]);
    assert.equal(w[0], 0.5);
    assert.ok(fs.readdirSync(path.join(cacheDir, 'relative-kernels')).some((f) => f.endsWith('.so')));
  } finally {
    process.chdir(here);
  }
});

test('a saved step the kernels cannot count to is refused when loaded, not at the next update', () => {
  const a = createOptimizer(rule('adam'), { cacheDir });
  a.step([new Float32Array(2)], [new Float32Array(2)]);
  const saved = a.stateDict();
  const b = createOptimizer(rule('adam'), { cacheDir });
  assert.throws(() => b.loadStateDict({ ...saved, step: 2 ** 40 }), /loadStateDict: step must be an integer in \[0, 2\^32 - 1\], received 1099511627776/);
  assert.throws(() => b.loadStateDict({ ...saved, step: '5' as never }), /step must be an integer .*received string 5/);
  assert.equal(b.iterations, 0);
  b.loadStateDict({ ...saved, step: 0xfffffffe });
  b.step([new Float32Array(2)], [new Float32Array(2)]);
  assert.equal(b.iterations, 0xffffffff);
  // What a state saved at the last step holds loads again; its next step is the one refused, saying why.
  const last = createOptimizer(rule('adam'), { cacheDir });
  last.loadStateDict(b.stateDict());
  assert.equal(last.iterations, 0xffffffff);
  assert.throws(() => last.step([new Float32Array(2)], [new Float32Array(2)]), /step: step counter would pass 2\^32 - 1/);
});

test('update is the deprecated name of step: the same step, counted once', () => {
  const byStep = createOptimizer(rule('powersign'), { lr: 0.1, device: 'js' });
  const byUpdate = createOptimizer(rule('powersign'), { lr: 0.1, device: 'js' });
  const [w1, w2] = [new Float32Array([1, -2, 3]), new Float32Array([1, -2, 3])];
  for (let t = 0; t < 3; t++) {
    const g = new Float32Array([0.5, -t, 0.25 * t]);
    byStep.step([w1], [g]);
    byUpdate.update([w2], [g]);
  }
  assert.deepEqual(w2, w1);
  assert.equal(byUpdate.iterations, 3);
  assert.deepEqual(byUpdate.stateDict(), byStep.stateDict());
});
