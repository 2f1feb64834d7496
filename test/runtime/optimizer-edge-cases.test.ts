// createOptimizer under unusual but valid use, against the reference interpreter: long runs past totalSteps, views at
// odd offsets of one buffer, a gradient that is its own parameter's array, state reloaded through JSON across devices
// in the middle of a schedule; and the problems such use found (restart steps of cosine_decay_restarts that rounding
// put at the end of the period before, options objects changed after the optimizer was made, the error for a
// gradient shifted over its own parameter).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compileRule, interpretStep } from '../../src/compiler';
import { fillScalars } from '../../src/compiler/decays';
import { STATE_SLOTS, type JsTensor } from '../../src/compiler/kernel-abi';
import { createOptimizer, type Optimizer, type OptimizerOptions } from '../../src/runtime/optimizer';
import { learningRate, type ScheduleSpec } from '../../src/runtime/schedules';

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-opt-edge-test-'));
process.on('exit', () => fs.rmSync(cacheDir, { recursive: true, force: true }));

function seeded(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296 - 0.5; };
}

/** Views of `sizes` into one buffer, each 1 + 3k floats after the last (offsets off every 16-byte boundary). */
function viewsOf(buffer: Float32Array, sizes: number[]): Float32Array[] {
  let at = 1;
  return sizes.map((n, k) => { const v = buffer.subarray(at, at + n); at += n + 1 + 3 * (k % 3); return v; });
}

/** The interpreter run step by step with the optimizer's scalars (schedule, bias corrections, decays, seed). */
class Reference {
  readonly ts: JsTensor[];
  private readonly info;
  constructor(rule: string, private readonly o: OptimizerOptions, params: Float32Array[]) {
    this.info = compileRule(rule);
    let base = 0;
    this.ts = params.map((w) => {
      const t = { w, g: w, s: STATE_SLOTS.map((s) => (this.info.state.includes(s) ? new Float32Array(w.length) : undefined)), rngBase: base };
      base += w.length;
      return t;
    });
  }
  step(t: number, grads: Float32Array[]): void {
    const o = this.o;
    const lr = learningRate(o.schedule ?? { kind: 'constant' }, o.lr ?? 1e-3, t - 1, o.totalSteps, o.seed ?? 0);
    const scalars = fillScalars(this.info, { lr, betas: o.betas, biasCorrection: o.biasCorrection }, t, o.totalSteps);
    this.ts.forEach((x, k) => { x.g = grads[k]; });
    interpretStep(this.info, this.ts, scalars, o.seed ?? 0, t);
  }
}

const same = (a: Float32Array, b: Float32Array): boolean => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));

test('long runs past totalSteps on views at odd offsets equal the interpreter step by step, through reloads across devices', () => {
  const sizes = [0, 1, 3, 5, 17, 0, 2];
  const steps = 360;
  // Rules whose CPU kernel needs no libm (sign ops, sqrt, decays computed on the host): bit for bit on every device.
  const cases: Array<[string, OptimizerOptions]> = [
    ['addsign-rd10', { lr: 0.01, totalSteps: 200, schedule: { kind: 'cosine' } }],
    ['(1 + ld*sign(g)*sign(m))*adam + cd(2)*mom', { lr: 0.003, totalSteps: 150, schedule: { kind: 'restarts', firstDecaySteps: 40, tMul: 1.5, mMul: 0.9 } }],
    ['g + drop(m, 0.3)', { lr: 0.02, seed: 0xfffffff0, biasCorrection: false, schedule: { kind: 'step', decaySteps: 64, rate: 0.7 } }],
  ];
  for (const [rule, o] of cases) {
    for (const selfGrads of [false, true]) {
      const rand = seeded(rule.length * 7 + (selfGrads ? 1 : 0));
      const buffers = { ref: new Float32Array(64), cpu: new Float32Array(64), chain: new Float32Array(64) };
      buffers.ref.forEach((_, i) => { buffers.ref[i] = rand(); });
      buffers.cpu.set(buffers.ref);
      buffers.chain.set(buffers.ref);
      const params = { ref: viewsOf(buffers.ref, sizes), cpu: viewsOf(buffers.cpu, sizes), chain: viewsOf(buffers.chain, sizes) };
      const reference = new Reference(rule, o, params.ref);
      const cpu = createOptimizer(rule, { ...o, cacheDir });
      // The same run, saved as JSON and reloaded at two steps into the next device: cpu -> js -> cpu.
      const chainDevices = ['cpu', 'js', 'cpu'] as const;
      let chain: Optimizer = createOptimizer(rule, { ...o, device: chainDevices[0], cacheDir });
      let link = 0;
      for (let t = 1; t <= steps; t++) {
        if (t === 120 || t === 251) {
          const saved = JSON.parse(JSON.stringify(chain.stateDict()));
          const lr = chain.currentLr();
          chain.dispose();
          chain = createOptimizer(rule, { ...o, device: chainDevices[++link], cacheDir });
          chain.step([new Float32Array(4)], [new Float32Array(4).fill(1)]); // a used optimizer takes the state too
          chain.loadStateDict(saved);
          assert.equal(chain.currentLr(), lr, `${rule}: the schedule continues at step ${t}`);
        }
        const grads = selfGrads ? null : sizes.map((n) => Float32Array.from({ length: n }, () => (rand() < 0.1 ? 0 : rand())));
        assert.equal(cpu.currentLr(), Math.fround(learningRate(o.schedule ?? { kind: 'constant' }, o.lr!, t - 1, o.totalSteps, o.seed ?? 0)));
        reference.step(t, grads ?? params.ref);
        cpu.step(params.cpu, grads ?? params.cpu);
        chain.step(params.chain, grads ?? params.chain);
        assert.ok(same(buffers.cpu, buffers.ref), `${rule} (grads ${selfGrads ? 'are the params' : 'apart'}): cpu differs from the interpreter at step ${t}`);
        assert.ok(same(buffers.chain, buffers.ref), `${rule} (grads ${selfGrads ? 'are the params' : 'apart'}): reloaded run (${chainDevices[link]}) differs at step ${t}`);
      }
      assert.deepEqual(chain.stateDict(), cpu.stateDict());
      const saved = cpu.stateDict();
      reference.ts.forEach((x, k) => {
        for (const name of saved.slots) {
          const bytes = Buffer.from(saved.tensors[k][name] as string, 'base64');
          const values = new Float32Array(bytes.length / 4);
          new Uint8Array(values.buffer).set(bytes);
          assert.ok(same(values, x.s[STATE_SLOTS.indexOf(name)]!), `${rule}: state ${name} of tensor ${k}`);
        }
      });
    }
  }
});

test('noise rules: the js device equals the interpreter, and a reload continues the same random stream', () => {
  const rule = 'g*anoise + noise + drop(v, 0.5)';
  const o: OptimizerOptions = { lr: 0.5, seed: 77, totalSteps: 50, schedule: { kind: 'noisy-linear-cosine' } };
  const sizes = [3, 0, 130];
  const gradsAt = (t: number): Float32Array[] => sizes.map((n) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.9 + t)));
  const init = (): Float32Array[] => sizes.map((n) => Float32Array.from({ length: n }, (_, i) => Math.cos(i)));
  const ref = init();
  const reference = new Reference(rule, o, ref);
  const js = createOptimizer(rule, { ...o, device: 'js' });
  const pj = init();
  for (let t = 1; t <= 70; t++) {
    reference.step(t, gradsAt(t));
    js.step(pj, gradsAt(t));
    pj.forEach((p, k) => assert.ok(same(p, ref[k]), `js differs from the interpreter at step ${t}, tensor ${k}`));
  }
  // On the CPU (libm may round the noise's logf/cosf differently from JS): uninterrupted against reloaded mid-run.
  for (const device of ['cpu', 'js'] as const) {
    const whole = createOptimizer(rule, { ...o, device, cacheDir });
    const pw = init();
    for (let t = 1; t <= 70; t++) whole.step(pw, gradsAt(t));
    let opt = createOptimizer(rule, { ...o, device, cacheDir });
    const pr = init();
    for (let t = 1; t <= 70; t++) {
      if (t === 33) {
        const saved = JSON.stringify(opt.stateDict());
        opt = createOptimizer(rule, { ...o, device, cacheDir });
        opt.loadStateDict(JSON.parse(saved));
      }
      opt.step(pr, gradsAt(t));
    }
    pr.forEach((p, k) => assert.ok(same(p, pw[k]), `${device}: reloaded run differs from the uninterrupted one, tensor ${k}`));
  }
});

test('cosine_decay_restarts restarts at every period boundary (rounding put some at the end of the period before)', () => {
  // tMul 10, firstDecaySteps 1: periods 1, 10, 100 start at steps 0, 1, 11, 111; log(1000)/log(10) rounds to
  // 2.9999999999999996, and step 111 had the rate of the first period's end (alpha) instead of the restart's peak.
  const at = (spec: ScheduleSpec, t: number, T?: number): number => learningRate(spec, 1, t, T, 0);
  assert.equal(at({ kind: 'restarts', firstDecaySteps: 1, tMul: 10 }, 111), 1);
  assert.equal(at({ kind: 'restarts', firstDecaySteps: 16, tMul: 1.5 }, 211), 1);
  assert.equal(at({ kind: 'restarts', firstDecaySteps: 10, tMul: 0.9 }, 19, 50), 1);
  let checked = 0;
  for (const tMul of [1, 1.25, 1.5, 2, 3, 10, 0.5, 0.75, 0.9]) {
    for (const first of [1, 2, 3, 7, 10, 16, 100]) {
      for (const mMul of [1, 0.8]) {
        const spec: ScheduleSpec = { kind: 'restarts', firstDecaySteps: first, tMul, mMul, alpha: 0.1 };
        let start = 0;
        let length = first;
        for (let i = 0; i < 30 && start < 1e6 && length >= 1; i++, start += length, length *= tMul) {
          if (Math.abs(start - Math.round(start)) > 1e-9) continue; // a boundary between steps
          const t = Math.round(start);
          const peak = 0.9 * mMul ** i + 0.1;
          assert.ok(Math.abs(at(spec, t, 1e7) - peak) < 1e-12, `tMul ${tMul} first ${first} mMul ${mMul}: step ${t} starts period ${i}, rate ${at(spec, t, 1e7)}, expected ${peak}`);
          checked++;
        }
      }
    }
  }
  assert.ok(checked > 300, `${checked} boundaries`);
  // Through the optimizer: the step after a reload at the boundary runs at the peak.
  const opt = createOptimizer('sgd', { lr: 0.5, schedule: { kind: 'restarts', firstDecaySteps: 1, tMul: 10 }, device: 'js' });
  const state = opt.stateDict();
  opt.loadStateDict({ ...state, step: 111 });
  assert.equal(opt.currentLr(), 0.5);
  const w = new Float32Array([1]);
  opt.step([w], [new Float32Array([1])]);
  assert.equal(w[0], 0.5);
});

test('an options object changed after createOptimizer (a sweep reusing it) does not change the optimizer made with it', () => {
  for (const device of ['cpu', 'js'] as const) {
    const options: OptimizerOptions = { lr: 0.1, betas: [0.9, 0.999, 0.999], schedule: { kind: 'cosine', decaySteps: 10 }, device, cacheDir };
    const opt = createOptimizer('adam', options);
    const untouched = createOptimizer('adam', { lr: 0.1, betas: [0.9, 0.999, 0.999], schedule: { kind: 'cosine', decaySteps: 10 }, device, cacheDir });
    options.betas![0] = 0.5;
    (options.schedule as { decaySteps: number }).decaySteps = 2;
    Object.assign(options.schedule!, { kind: 'step' }); // now missing its rate: it was an error at the next step
    const [a, b] = [[Float32Array.of(1, -2)], [Float32Array.of(1, -2)]];
    for (let t = 0; t < 4; t++) {
      assert.equal(opt.currentLr(), untouched.currentLr(), `${device}: rate of step ${t + 1}`);
      opt.step(a, [Float32Array.of(0.3, t)]);
      untouched.step(b, [Float32Array.of(0.3, t)]);
    }
    assert.deepEqual(a, b, `${device}: the steps follow the options as they were given`);
  }
});

test('a gradient shifted over its own parameter is refused with an error that says so; one over another parameter names it', () => {
  for (const device of ['cpu', 'js'] as const) {
    const opt = createOptimizer('sgd', { device, cacheDir, lr: 1 });
    const buf = new Float32Array(40);
    const p0 = buf.subarray(0, 8);
    const p1 = buf.subarray(20, 30);
    // grads[1] starts 2 floats into params[1] and runs on into memory no parameter holds.
    assert.throws(() => opt.step([p0, p1], [new Float32Array(8), buf.subarray(22, 32)]),
      /step: grads\[1\] shares memory with params\[1\], shifted by 2 elements \(a gradient may be exactly its own parameter's array, but not shifted over it\)$/);
    assert.throws(() => opt.step([p0, p1], [new Float32Array(8), buf.subarray(19, 29)]), /grads\[1\] shares memory with params\[1\], shifted by -1 element \(/);
    // grads[1] covers the end of params[0] and the start of its own: params[0] is the problem, and is named.
    const p2 = buf.subarray(8, 14);
    assert.throws(() => opt.step([p0, p2], [new Float32Array(8), buf.subarray(6, 12)]), /grads\[1\] shares memory with params\[0\], which the step writes/);
    assert.throws(() => opt.step([p0, p2], [new Float32Array(8), buf.subarray(10, 16)]), /grads\[1\] shares memory with params\[1\], shifted by 2 elements/);
    assert.equal(opt.iterations, 0);
    // Apart from every parameter (in the same buffer), or exactly its own: taken.
    opt.step([p0, p1], [buf.subarray(10, 18), p1]);
    assert.equal(opt.iterations, 1);
  }
});

test('step reads each entry of its lists once: a getter cannot show the checks one array and the kernel another', () => {
  for (const device of ['cpu', 'js'] as const) {
    const opt = createOptimizer('sgd', { device, cacheDir, lr: 1 });
    const a = Float32Array.of(10);
    const b = Float32Array.of(10);
    let reads = 0;
    const params: Float32Array[] = [a];
    // The first reads give b (apart from a: the overlap check passes); later ones a, which the list then holds twice.
    Object.defineProperty(params, 1, { get: () => (++reads >= 4 ? a : b), enumerable: true });
    opt.step(params, [Float32Array.of(1), Float32Array.of(1)]);
    assert.equal(reads, 1, `${device}: one read`);
    assert.deepEqual([a[0], b[0]], [9, 9], `${device}: each parameter stepped once`);
  }
});
