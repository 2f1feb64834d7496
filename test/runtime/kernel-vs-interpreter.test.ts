// Every test rule's JIT-compiled CPU kernel against the compiler's reference interpreter on fresh random inputs:
// several steps, ragged tensor lists, odd lengths, one thread and the threaded path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { interpretStep } from '../../src/compiler/interpret';
import { NOS_SCALAR_COUNT, STATE_SLOTS, type JsTensor } from '../../src/compiler/kernel-abi';
import { fillScalars } from '../../src/compiler/decays';
import { createRunner } from '../../src/runtime/devices';
import { compileRule, NAMED_RULES } from '../../src/compiler';
import type { OptimizerRule } from '../../src/runtime/optimizer';
import { TEST_RULES } from './rules-for-tests';
import { KernelErrorBound, assertWithinBound } from '../support/kernel-error-bound';

/** Every named rule (baselines, PowerSign/AddSign variants, Table 6) plus IR-built edge cases of every op. */
const RULES: Record<string, OptimizerRule> = {
  ...Object.fromEntries(Object.keys(NAMED_RULES).map((name) => [name, compileRule(name)])),
  'noise-drop': TEST_RULES['noise-drop'],
  'y-clip-log': TEST_RULES['y-clip-log'],
  'pow-w': TEST_RULES['pow-w'],
};

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-kvi-test-'));
process.on('exit', () => fs.rmSync(cacheDir, { recursive: true, force: true }));

function seeded(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
}

function check(name: string, sizes: number[], threads: number, steps: number, seed: number): void {
  const rule = RULES[name];
  const runner = createRunner(rule, 'cpu', { threads, cacheDir });
  assert.equal(runner.device, 'cpu');
  runner.bind(sizes);
  const rand = seeded(seed);
  const params = sizes.map((n) => Float32Array.from({ length: n }, () => (rand() - 0.5) * 4));
  const reference: JsTensor[] = [];
  let base = 0;
  for (const p of params) {
    reference.push({ w: p.slice(), g: new Float32Array(p.length), s: STATE_SLOTS.map((s) => (rule.state.includes(s) ? new Float32Array(p.length) : undefined)), rngBase: base });
    base += p.length;
  }
  const scalars = new Float32Array(NOS_SCALAR_COUNT);
  const totalSteps = 7;
  const bound = new KernelErrorBound(rule, sizes);
  for (let t = 1; t <= steps; t++) {
    // Gradients with zeros and both signs, so sign(g) * sign(m) takes every value.
    const grads = sizes.map((n) => Float32Array.from({ length: n }, () => (rand() < 0.05 ? 0 : (rand() - 0.5) * 0.2)));
    grads.forEach((gr, k) => reference[k].g.set(gr));
    fillScalars(rule, { lr: 0.01 }, t, totalSteps, scalars);
    runner.step(params, grads, scalars, 1234, t);
    bound.step(reference, scalars, 1234, t);
    interpretStep(rule, reference, scalars, 1234, t);
  }
  // The C kernel and the interpreter do the same float32 operations: the state is equal bit for bit, and w too
  // except where libm (expf, logf, powf, cosf) reaches it, within the bound that difference carries.
  params.forEach((p, k) => {
    assertWithinBound(p, reference[k].w, bound.wBound[k], `${name}: tensor ${k} w (sizes ${sizes.join(',')}, ${threads} threads)`);
    for (const s of rule.state) {
      const slot = STATE_SLOTS.indexOf(s);
      assert.deepEqual(runner.readSlot(slot)[k], reference[k].s[slot], `${name}: tensor ${k} state ${s}`);
    }
  });
}

for (const name of Object.keys(RULES)) {
  test(`${name}: native kernel equals the interpreter on a ragged list (1 thread)`, () => {
    check(name, [1, 3, 16, 17, 255, 1000], 1, 4, name.length * 31 + 1);
  });
}

test('threaded path: large tensors and many small ones, for rules with state, decays and random draws', () => {
  const sizes = [200_003, ...Array.from({ length: 150 }, (_, i) => 1 + ((i * 97) % 700)), 70_001];
  for (const name of ['adam', 'powersign-ld', 'addsign-rd10', 'table6-01', 'noise-drop']) check(name, sizes, 2, 3, 99);
});
