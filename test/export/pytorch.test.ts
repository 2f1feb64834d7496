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

test('an exported PyTorch optimizer refuses settings the step cannot run with, in the constructor and in add_param_group', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-export-arguments-'));
  try {
    const file = path.join(dir, 'powersign_ld.py');
    fs.writeFileSync(file, exportRule('powersign-ld', 'pytorch'));
    const refused: Array<[string, string, RegExp]> = [
      ['infinite lr', "dict(lr=inf, total_steps=10)", /lr must be a finite number >= 0, got inf/],
      ['lr past float32', 'dict(lr=1e39, total_steps=10)', /lr must be a finite number >= 0, got 1e\+39/],
      ['nan momentum', 'dict(momentum=nan, total_steps=10)', /momentum must be a finite number, got nan/],
      ['negative noise', 'dict(noise_std=-1, total_steps=10)', /noise_std must be a finite number >= 0, got -1/],
      ['a string for a bool', "dict(bias_correction='no', total_steps=10)", /bias_correction must be True or False, got 'no'/],
      ['a bool for steps', 'dict(total_steps=True)', /total_steps must be a positive integer \(the rule's decays need it\), got True/],
      ['no steps', 'dict()', /total_steps must be a positive integer \(the rule's decays need it\), got None/],
      ['two betas', 'dict(betas=(0.9, 0.999), total_steps=10)', /betas must be three numbers in \[0, 1\), got \(0\.9, 0\.999\)/],
    ];
    const cases = [
      ...refused.map(([name, kwargs]) => ({ name, kwargs })),
      { name: 'a group at a negative lr', kwargs: 'dict(total_steps=10)', group: "{'lr': -1}" },
      { name: 'a group without steps', kwargs: 'dict(total_steps=10)', group: "{'total_steps': None}" },
      { name: 'numpy and tensor numbers', kwargs: "dict(lr=torch.tensor(0.01), total_steps=10.0, momentum=torch.tensor(0.5).item())", group: "{'lr': 0.5}" },
    ];
    const out = runTorchScript<Record<string, string | number | null>>('torch-export-arguments.py', { file, class: 'NosPowerSignLd', cases });
    for (const [name, , message] of refused) assert.match(String(out[name]), message, name);
    assert.match(String(out['a group at a negative lr']), /NosPowerSignLd: lr must be a finite number >= 0, got -1/);
    assert.match(String(out['a group without steps']), /total_steps must be a positive integer/);
    assert.equal(out['numpy and tensor numbers'], null);
    assert.equal(out['numpy and tensor numbers groups'], 2, 'a good group is added');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
