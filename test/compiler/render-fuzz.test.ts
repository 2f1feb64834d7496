// Random IR trees (not only canonical ones) through the renderers: JS bit for bit; C++ and CUDA (run on the host) bit for bit where no libm is involved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ir from '../../src/compiler/ir';
import type { Node } from '../../src/compiler/ir';
import { interpretStep, type KernelRule } from '../../src/compiler/interpret';
import { loadJsKernel } from '../../src/compiler/render-js';
import { renderCpu, CPU_COMPILE_FLAGS } from '../../src/compiler/render-cpu';
import { renderCuda } from '../../src/compiler/render-cuda';
import type { JsTensor } from '../../src/compiler/kernel-abi';
import { cloneTensors, localRuleInfo, randomTensors, seededRandom, testScalars } from './render-rules';
import { HARNESS_SOURCE, assertSameFloats, cpuBundle, cudaEmulationSource, harnessOutput, prepareRuns, runAll, which } from './render-native';

/** A random rule tree of depth <= 4, leaning on sign products so the select and regrouping paths get exercised. */
function randomRule(random: () => number): Node {
  let site = 0;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const sign = (name: ir.InputName): Node => ir.unary('sign', ir.input(name));
  const leaf = (): Node => {
    const r = random();
    if (r < 0.35) return ir.input(pick(['g', 'g2', 'g3', 'm', 'v', 'y', 'w', 'mom'] as const));
    if (r < 0.5) return ir.constant(pick([1, 2, -1, 0, 0.5, 1e-3, -3]));
    if (r < 0.6) return pick([ir.decay('ld'), ir.decay('cd', 0.5), ir.decay('rd', 10), ir.decay('cd', 2)]);
    if (r < 0.65) return ir.noise(random() < 0.5, site++);
    const signs = ir.binary('mul', sign(pick(['g', 'm', 'g2', 'v'] as const)), sign(pick(['g', 'm', 'y'] as const)));
    return random() < 0.5 ? signs : ir.binary('mul', pick([ir.decay('ld'), ir.constant(-2), ir.decay('rd', 10)]), signs);
  };
  const grow = (depth: number): Node => {
    if (depth === 0 || random() < 0.25) return leaf();
    if (random() < 0.4) {
      const op = pick(ir.UNARY_OPS);
      const arg = grow(depth - 1);
      if (op === 'clip') return ir.unary('clip', arg, pick([1e-5, 1e-4, 1e-3]));
      if (op === 'drop') return ir.unary('drop', arg, pick([0.1, 0.3, 0.5]), site++);
      return ir.unary(op, arg);
    }
    return ir.binary(pick(ir.BINARY_OPS), grow(depth - 1), grow(depth - 1));
  };
  return grow(4);
}

function usesLibm(root: Node): boolean {
  return ir.topoOrder(root).some((n) => n.kind === 'noise'
    || (n.kind === 'unary' && (n.op === 'exp' || n.op === 'log' || n.op === 'sigmoid'))
    || (n.kind === 'binary' && n.op === 'pow'));
}

function assertSameTensors(actual: JsTensor[], expected: JsTensor[], what: string): void {
  actual.forEach((t, k) => {
    assertSameFloats(t.w, expected[k].w, `${what} tensor ${k} w`);
    t.s.forEach((s, slot) => { if (s) assertSameFloats(s, expected[k].s[slot]!, `${what} tensor ${k} slot ${slot}`); });
  });
}

function randomRules(count: number, random: () => number): Array<{ name: string; info: KernelRule }> {
  return Array.from({ length: count }, (_, k) => {
    const root = randomRule(random);
    return { name: `fuzz ${k}`, info: localRuleInfo(`fuzz ${k}`, root) };
  });
}

test('JS kernels of 300 random rule trees equal the interpreter bit for bit', () => {
  const runSeed = (Math.random() * 2 ** 32) >>> 0;
  const random = seededRandom(runSeed);
  for (const { name, info } of randomRules(300, random)) {
    const kernel = loadJsKernel(info);
    const byInterpreter = randomTensors(info, [23, 9], random);
    const byKernel = cloneTensors(byInterpreter);
    for (let t = 1; t <= 2; t++) {
      const sc = testScalars(info, t);
      interpretStep(info, byInterpreter, sc, 11, t);
      kernel(byKernel, sc, 11, t);
      assertSameTensors(byKernel, byInterpreter, `${name} (rule seed ${runSeed}: ${info.root.key}), step ${t}`);
    }
  }
});

const compiler = which(process.env.CXX ?? 'g++');

test('C++ and host-run CUDA kernels of 40 random libm-free rule trees equal the interpreter bit for bit', { skip: compiler ? false : 'no C++ compiler on PATH' }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-render-fuzz-'));
  try {
    const runSeed = (Math.random() * 2 ** 32) >>> 0;
    const random = seededRandom(runSeed);
    // Without exp, log, pow, sigmoid and noise every operation is IEEE-exact in both, so no tolerance is needed.
    const rules: Array<{ name: string; info: KernelRule }> = [];
    while (rules.length < 40) {
      const [candidate] = randomRules(1, random);
      if (!usesLibm(candidate.info.root)) rules.push({ name: `fuzz ${rules.length} (${candidate.info.root.key})`, info: candidate.info });
    }
    fs.writeFileSync(path.join(dir, 'harness.cc'), HARNESS_SOURCE);
    fs.writeFileSync(path.join(dir, 'bundle.cc'), cpuBundle(rules.map((r) => renderCpu(r.info))));
    fs.writeFileSync(path.join(dir, 'emulate.cc'), cudaEmulationSource(rules.map((r) => renderCuda(r.info))));
    const errors = await runAll([
      [compiler!, ['-O1', path.join(dir, 'harness.cc'), '-o', path.join(dir, 'harness'), '-ldl']],
      [compiler!, [...CPU_COMPILE_FLAGS, '-shared', '-fPIC', path.join(dir, 'bundle.cc'), '-o', path.join(dir, 'bundle.so')]],
      [compiler!, ['-O1', '-ffp-contract=off', '-fno-math-errno', path.join(dir, 'emulate.cc'), '-o', path.join(dir, 'emulate')]],
    ], 2);
    assert.deepEqual(errors, ['', '', ''], `compile failed (rule seed ${runSeed})`);
    const runs = prepareRuns(rules, dir, random);
    const check = (label: string, runErrors: string[]): void => runs.forEach((r, k) => {
      assert.equal(runErrors[k], '', `${label} ${r.name}: harness failed`);
      harnessOutput(r.output, r.shape).forEach((t, j) => {
        assertSameFloats(t.w, r.expected[j].w, `${label} ${r.name} (rule seed ${runSeed}) tensor ${j} w`);
        t.s.forEach((s, slot) => { if (s) assertSameFloats(s, r.expected[j].s[slot]!, `${label} ${r.name} tensor ${j} slot ${slot}`); });
      });
    });
    check('C++', await runAll(runs.map((r, k) => [path.join(dir, 'harness'), [path.join(dir, 'bundle.so'), r.input, r.output, `_${k}`]]), 2));
    check('CUDA on host', await runAll(runs.map((r, k) => [path.join(dir, 'emulate'), [String(k), r.input, r.output]]), 2));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
