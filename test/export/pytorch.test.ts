// nos export --to pytorch against nos itself: every named and Table 6 rule without random draws, 50 steps, one
// tensor at a time and foreach, in one Python process (Debian's python3-torch, which .ci/run installs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exportRule, exportClassName } from '../../src/export';
import { runTorchScript } from '../support/torch';
import { STEPS, TOLERANCE, deterministicRules, exportInputs, nosTrajectory, worstRelative } from './export-cases';

const OPTIONS = { lr: 0.01, totalSteps: STEPS };

test(`PyTorch exports follow nos within ${TOLERANCE} (every named and Table 6 rule without draws, ${STEPS} steps, single and foreach)`, () => {
  const rules = deterministicRules();
  assert.ok(rules.length >= 30, `${rules.length} rules`);
  const inputs = exportInputs();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-export-torch-'));
  try {
    const cases = rules.flatMap(({ name, info }) => {
      const file = path.join(dir, `${name.replace(/\W/g, '_')}.py`);
      fs.writeFileSync(file, exportRule(info, 'pytorch'));
      const kwargs = { lr: OPTIONS.lr, ...(info.decays.length ? { total_steps: STEPS } : {}) };
      return (['single', 'foreach'] as const).map((mode) => ({ name: `${name} ${mode}`, file, class: exportClassName(info), kwargs, mode }));
    });
    const out = runTorchScript<{ torch: string; cases: Record<string, number[][]> }>('torch-export-run.py', { ...inputs, cases });
    let worst = { error: 0, where: '' };
    for (const { name, info } of rules) {
      const nos = nosTrajectory(info, { ...OPTIONS, device: 'js' }, inputs);
      for (const mode of ['single', 'foreach']) {
        const w = worstRelative(out.cases[`${name} ${mode}`], nos);
        assert.ok(w.error <= TOLERANCE, `${name} (${info.canonical}), ${mode}: ${w.error.toExponential(2)} at ${w.where} (torch ${out.torch})`);
        if (w.error >= worst.error) worst = { error: w.error, where: `${name} ${mode} ${w.where}` };
      }
    }
    if (process.env.NOS_PRINT_SCORES) console.log(`worst: ${worst.error.toExponential(2)} (${worst.where})`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('param groups keep their own settings: two groups at two learning rates follow nos run per tensor', () => {
  const inputs = exportInputs(3);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-export-groups-'));
  try {
    const file = path.join(dir, 'powersign_ld.py');
    fs.writeFileSync(file, exportRule('powersign-ld', 'pytorch'));
    const groups = [{ tensors: [0], lr: 0.01 }, { tensors: [1], lr: 0.003 }];
    const cases = (['single', 'foreach'] as const).map((mode) => ({ name: mode, file, class: 'NosPowerSignLd', kwargs: { total_steps: STEPS }, mode, groups }));
    const out = runTorchScript<{ cases: Record<string, number[][]> }>('torch-export-run.py', { ...inputs, cases });
    // nos per tensor: tensor k alone with its group's learning rate.
    const perTensor = groups.map((g, k) => nosTrajectory('powersign-ld', { lr: g.lr, totalSteps: STEPS, device: 'js' },
      { initial: [inputs.initial[k]], grads: inputs.grads.map((step) => [step[k]]) }));
    const nos = inputs.grads.map((_, t) => [...perTensor[0][t], ...perTensor[1][t]]);
    for (const mode of ['single', 'foreach']) {
      const w = worstRelative(out.cases[mode], nos);
      assert.ok(w.error <= TOLERANCE, `${mode}: ${w.error.toExponential(2)} at ${w.where}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
