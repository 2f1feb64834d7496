// nos export --to pytorch --fused against nos itself: the rule's own C++ kernel built by load_inline, with nos's
// Philox draws, so even a rule with noise and dropout follows nos (one compile of torch's headers: ~30 s).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compileRule } from '../../src/compiler';
import { exportRule, exportClassName } from '../../src/export';
import { fusedExtension } from '../../src/export/fused-extension';
import { runAll, which } from '../compiler/render-native';
import { runTorchScript } from '../support/torch';
import { FUSED_RULE, STEPS, TOLERANCE, exportInputs, nosTrajectory, worstRelative } from './export-cases';

test(`a fused PyTorch export runs nos's kernel: ${FUSED_RULE} with nos's draws, within ${TOLERANCE} over ${STEPS} steps`, () => {
  const info = compileRule(FUSED_RULE);
  const inputs = exportInputs(7);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-export-fused-'));
  try {
    const file = path.join(dir, 'fused_rule.py');
    fs.writeFileSync(file, exportRule(info, 'pytorch', { fused: true }));
    const kwargs = { lr: 0.01, total_steps: STEPS, seed: 1234 };
    // Also with every parameter a slice one float into its storage (the kernel's unaligned path).
    const cases = [{ name: 'fused', file, class: exportClassName(info), kwargs, mode: 'fused' }, { name: 'fused offset', file, class: exportClassName(info), kwargs, mode: 'fused', offset: 1 }];
    // A fresh build folder: the extension really compiles here, and nothing is left in ~/.cache.
    const env = { ...process.env, TORCH_EXTENSIONS_DIR: path.join(dir, 'torch-extensions') };
    const out = runTorchScript<{ cases: Record<string, number[][]> }>('torch-export-run.py', { ...inputs, cases }, env);
    const nos = nosTrajectory(info, { lr: 0.01, totalSteps: STEPS, seed: 1234, device: 'cpu' }, inputs);
    const w = worstRelative(out.cases.fused, nos);
    if (process.env.NOS_PRINT_SCORES) console.log(`fused: ${w.error.toExponential(2)} (${w.where})`);
    assert.ok(w.error <= TOLERANCE, `fused ${FUSED_RULE}: ${w.error.toExponential(2)} at ${w.where}`);
    assert.deepEqual(out.cases['fused offset'], out.cases.fused, 'parameters off a 16-byte boundary step bit for bit alike');
    // The draws are nos's: an unfused run (torch's generator) of the same rule does not follow nos.
    const unfused = runTorchScript<{ cases: Record<string, number[][]> }>('torch-export-run.py', { ...inputs, cases: [{ ...cases[0], name: 'single', mode: 'single' }] }, env);
    assert.ok(worstRelative(unfused.cases.single, nos).error > 1e-3, 'without the fused kernel the draws differ');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

const nvcc = which('nvcc') ?? which('/usr/local/cuda/bin/nvcc');

test('the fused export\'s CUDA kernel and launcher compile with nvcc (its torch binding needs a CUDA build of torch)', { skip: nvcc ? false : 'no CUDA toolkit (nvcc) found' }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-export-fused-cuda-'));
  try {
    fs.writeFileSync(path.join(dir, 'fused.cu'), fusedExtension(compileRule(FUSED_RULE), 'FusedRule').cudaSource);
    const [error] = await runAll([[nvcc!, ['-c', '-O3', '--fmad=false', '-diag-suppress', '177', path.join(dir, 'fused.cu'), '-o', path.join(dir, 'fused.o')]]]);
    assert.equal(error, '', 'nvcc failed');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
