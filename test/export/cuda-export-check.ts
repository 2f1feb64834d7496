// By hand, on a machine with a GPU and a CUDA build of torch: the PyTorch exports (plain, foreach and --fused) on
// CUDA tensors against nos's trajectories, which are computed here, where nos runs (the GPU machine needs only Python):
//
//   node dist/test/export/cuda-export-check.js prepare DIR     # nos's side: the exports, the inputs, nos's steps
//   (on the GPU machine)  cd DIR && python3 torch-export-run.py < spec.json > result.json
//   node dist/test/export/cuda-export-check.js compare DIR result.json
//
// Every case also runs on that torch's CPU, so one run checks a second torch version too. Not part of npm test
// (CI has no GPU); bench/RESULTS.md holds the last run's figures.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compileRule } from '../../src/compiler';
import { exportRule, exportClassName } from '../../src/export';
import { packageRoot } from '../../src/runtime/binding';
import { FUSED_RULE, STEPS, TOLERANCE, deterministicRules, exportInputs, nosTrajectory, worstRelative } from './export-cases';

interface Case { name: string; file: string; class: string; kwargs: object; mode: 'single' | 'foreach' | 'fused'; device: 'cpu' | 'cuda'; offset?: number }

const FUSED_SEED = 1234;

function prepare(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(packageRoot(), 'test', 'support', 'torch-export-run.py'), path.join(dir, 'torch-export-run.py'));
  const inputs = exportInputs();
  const cases: Case[] = [];
  const nos: Record<string, number[][]> = {};
  for (const { name, info } of deterministicRules()) {
    const file = `${name.replace(/\W/g, '_')}.py`;
    fs.writeFileSync(path.join(dir, file), exportRule(info, 'pytorch'));
    const kwargs = { lr: 0.01, ...(info.decays.length ? { total_steps: STEPS } : {}) };
    const trajectory = nosTrajectory(info, { lr: 0.01, totalSteps: STEPS, device: 'js' }, inputs);
    for (const device of ['cuda', 'cpu'] as const) {
      for (const mode of ['single', 'foreach'] as const) {
        const key = `${name} ${mode} ${device}`;
        cases.push({ name: key, file, class: exportClassName(info), kwargs, mode, device });
        nos[key] = trajectory;
      }
    }
  }
  // The fused path: nos's own kernel with nos's Philox draws, held to nos's CPU kernel on the same seed.
  const fused = compileRule(FUSED_RULE);
  fs.writeFileSync(path.join(dir, 'fused_rule.py'), exportRule(fused, 'pytorch', { fused: true }));
  const fusedNos = nosTrajectory(fused, { lr: 0.01, totalSteps: STEPS, seed: FUSED_SEED, device: 'cpu' }, inputs);
  for (const device of ['cuda', 'cpu'] as const) {
    // Also with every parameter a slice one float into its storage: the CUDA kernel's unaligned path on a GPU.
    for (const offset of [0, 1]) {
      const key = `fused ${device}${offset ? ' offset' : ''}`;
      cases.push({ name: key, file: 'fused_rule.py', class: exportClassName(fused), kwargs: { lr: 0.01, total_steps: STEPS, seed: FUSED_SEED }, mode: 'fused', device, offset });
      nos[key] = fusedNos;
    }
  }
  fs.writeFileSync(path.join(dir, 'spec.json'), JSON.stringify({ ...inputs, cases }));
  fs.writeFileSync(path.join(dir, 'nos.json'), JSON.stringify(nos));
  console.log(`${cases.length} cases in ${dir}: run  cd ${dir} && python3 torch-export-run.py < spec.json > result.json`);
}

function compare(dir: string, resultFile: string): number {
  const nos = JSON.parse(fs.readFileSync(path.join(dir, 'nos.json'), 'utf8')) as Record<string, number[][]>;
  const result = JSON.parse(fs.readFileSync(resultFile, 'utf8')) as { torch: string; cases: Record<string, number[][]> };
  console.log(`torch ${result.torch}; max |export - nos| / (1e-3 + |nos|) over ${STEPS} steps (bar ${TOLERANCE})`);
  const worst = new Map<string, { error: number; where: string }>();
  let failed = 0;
  for (const [name, trajectory] of Object.entries(nos)) {
    const w = worstRelative(result.cases[name] ?? [], trajectory);
    if (!(w.error <= TOLERANCE)) {
      failed += 1;
      console.log(`FAIL ${name}: ${w.error.toExponential(2)} at ${w.where}`);
    }
    const group = name.startsWith('fused') ? name : name.split(' ').slice(1).join(' ');
    if (!(w.error <= (worst.get(group)?.error ?? -1))) worst.set(group, { error: w.error, where: `${name}: ${w.where}` });
  }
  for (const [group, w] of worst) console.log(`${group.padEnd(14)} worst ${w.error.toExponential(2)}  (${w.where})`);
  console.log(failed ? `${failed} of ${Object.keys(nos).length} cases over the bar` : `all ${Object.keys(nos).length} cases within the bar`);
  return failed ? 1 : 0;
}

const [command, dir, resultFile] = process.argv.slice(2);
if (command === 'prepare' && dir) prepare(dir);
else if (command === 'compare' && dir && resultFile) process.exitCode = compare(dir, resultFile);
else {
  console.error('usage: cuda-export-check.js prepare DIR | compare DIR RESULT.json');
  process.exitCode = 2;
}
