// Adam and RMSProp against torch.optim in float64: nos's float32 error is at most twice torch's own float32 error.
//
// Score: max over 40 steps and 257 parameters of |x - torch float64| / (1e-3 + |torch float64|), for nos's
// trajectory and for torch.optim's own float32 run of the same steps.  Needs Debian's python3-torch (.ci/run installs it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createOptimizer, type OptimizerOptions } from '../../src/runtime/optimizer';
import { seededRandom } from '../support/seeded-random';
import { runTorchScript } from '../support/torch';

const STEPS = 40;
const SIZE = 257;

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-precision-test-'));
process.on('exit', () => fs.rmSync(cacheDir, { recursive: true, force: true }));

interface Case { rule: string; options: OptimizerOptions; optimizer: string; kwargs: Record<string, unknown> }
const CASES: Record<string, Case> = {
  adam: { rule: 'adam', options: { lr: 1e-3, betas: [0.9, 0.999, 0.999], delta: 1e-8 }, optimizer: 'Adam', kwargs: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8 } },
  'adam-lr1e-2': { rule: 'adam', options: { lr: 1e-2, betas: [0.9, 0.999, 0.999], delta: 1e-8 }, optimizer: 'Adam', kwargs: { lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8 } },
  rmsprop: { rule: 'rmsprop', options: { lr: 1e-3, betas: [0.9, 0.99, 0.999], delta: 1e-8, biasCorrection: false }, optimizer: 'RMSprop', kwargs: { lr: 1e-3, alpha: 0.99, eps: 1e-8 } },
};

function inputs(): { initial: number[]; grads: number[][] } {
  const random = seededRandom(20170907);
  const f32 = (x: number): number => Math.fround(x);
  const initial = Array.from({ length: SIZE }, () => f32(4 * random() - 2));
  // Mixed scales and signs, a few exact zeros, as training gives.
  const grads = Array.from({ length: STEPS }, (_, t) => Array.from({ length: SIZE }, (_, i) =>
    (i % 31 === t % 31 ? 0 : f32((2 * random() - 1) * 10 ** (-(i % 4))))));
  return { initial, grads };
}

function score(run: number[][] | Float32Array[], reference: number[][]): number {
  let worst = 0;
  run.forEach((step, t) => step.forEach((x: number, i: number) => {
    worst = Math.max(worst, Math.abs(x - reference[t][i]) / (1e-3 + Math.abs(reference[t][i])));
  }));
  return worst;
}

test(`adam and rmsprop match torch.optim to float32 rounding (${STEPS} steps of ${SIZE} parameters)`, () => {
  const { initial, grads } = inputs();
  const spec = { initial, grads, cases: Object.fromEntries(Object.entries(CASES).map(([k, c]) => [k, { optimizer: c.optimizer, kwargs: c.kwargs }])) };
  const out = runTorchScript<{ torch: string; cases: Record<string, { float32: number[][]; float64: number[][] }> }>('torch-optim-run.py', spec);
  for (const [name, c] of Object.entries(CASES)) {
    for (const device of ['cpu', 'js'] as const) {
      const opt = createOptimizer(c.rule, { ...c.options, device, cacheDir });
      const w = Float32Array.from(initial);
      const run: Float32Array[] = [];
      for (const g of grads) {
        opt.step([w], [Float32Array.from(g)]);
        run.push(w.slice());
      }
      const ours = score(run, out.cases[name].float64);
      const torch32 = score(out.cases[name].float32, out.cases[name].float64);
      if (process.env.NOS_PRINT_SCORES) console.log(`${name} ${device}: nos ${ours.toExponential(2)}, torch float32 ${torch32.toExponential(2)}`);
      assert.ok(ours <= 2 * torch32, `${name} on ${device}: nos scores ${ours.toExponential(2)} against torch ${out.torch} float64, torch's own float32 ${torch32.toExponential(2)}`);
    }
  }
});
