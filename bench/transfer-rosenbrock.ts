// Rosenbrock (the transfer task's starts, steps and learning-rate grid) run by nos and by PyTorch side by side:
// per optimizer, the tuned rate each picks and the final distances per start, to show both agree.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createOptimizer } from '../src/runtime/optimizer';
import { BASELINES } from '../src/transfer/optimizers';
import { ROSENBROCK_FULL, ROSENBROCK_LRS, runFromStart } from '../src/transfer/rosenbrock';
import type { OptimizerSpec } from '../src/transfer/task';

const names = (process.env.NOS_BENCH_OPTIMIZERS ?? 'powersign,addsign,powersign-ld,sgd,momentum,adam,rmsprop').split(',');
const settings = ROSENBROCK_FULL;
const lrs = ROSENBROCK_LRS;

function torchScript(): string {
  const local = path.join(__dirname, 'transfer_rosenbrock_torch.py');
  return fs.existsSync(local) ? local : path.join(__dirname, '..', '..', 'bench', 'transfer_rosenbrock_torch.py');
}

/** Per optimizer, per grid learning rate (in order), the final distance per start (null: diverged). */
type Distances = Record<string, Array<Array<number | null>>>;

function runNos(): Distances {
  const out: Distances = {};
  for (const name of names) {
    const spec: OptimizerSpec = BASELINES[name] ?? { label: name, rule: name, options: {} };
    out[name] = lrs.map((lr) => settings.starts.map((start) => {
        const optimizer = createOptimizer(spec.rule, { ...spec.options, lr, totalSteps: settings.steps, seed: 0, threads: 1 });
        try {
          return runFromStart(optimizer, start, settings).distance;
        } finally {
          optimizer.dispose();
        }
      }));
  }
  return out;
}

function runTorch(): { torch: string; results: Distances } {
  const input = JSON.stringify({ steps: settings.steps, starts: settings.starts, lrs, optimizers: names });
  const res = spawnSync('/usr/bin/python3', [torchScript()], { input, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (res.status !== 0) throw new Error(`PyTorch peer failed: ${res.stderr || res.error}`);
  return JSON.parse(res.stdout.trim().split('\n').pop()!);
}

const mean = (xs: Array<number | null>): number | null => (xs.some((x) => x === null) ? null : xs.reduce((a, b) => a! + b!, 0)! / xs.length);
const fmt = (x: number | null) => (x === null ? 'diverged' : x.toPrecision(3));

function tuned(d: Array<Array<number | null>>): { lr: number; mean: number } | null {
  let best: { lr: number; mean: number } | null = null;
  for (const [k, lr] of lrs.entries()) {
    const m = mean(d[k]);
    if (m !== null && (!best || m < best.mean)) best = { lr, mean: m };
  }
  return best;
}

function main(): void {
  const t0 = Date.now();
  const ours = runNos();
  const t1 = Date.now();
  const theirs = runTorch();
  const t2 = Date.now();
  console.log(`rosenbrock: ${settings.steps} steps from ${settings.starts.map((s) => `${s.name} (${s.x}, ${s.y})`).join(', ')}; lrs ${lrs.map((l) => l.toExponential(0)).join(' ')}`);
  console.log(`nos ${((t1 - t0) / 1000).toFixed(1)} s, PyTorch ${theirs.torch} ${((t2 - t1) / 1000).toFixed(1)} s`);
  console.log('\noptimizer      nos lr  nos mean dist | torch lr  torch mean dist | per start at the nos lr: nos / torch');
  let agree = 0;
  for (const name of names) {
    const a = tuned(ours[name]);
    const b = tuned(theirs.results[name]);
    const k = lrs.indexOf(a?.lr ?? b?.lr ?? NaN);
    const per = k < 0 ? '' : settings.starts.map((s, i) => `${s.name} ${fmt(ours[name][k][i])} / ${fmt(theirs.results[name][k][i])}`).join(', ');
    if (a && b && a.lr === b.lr) agree++;
    console.log(`${name.padEnd(14)} ${a ? a.lr.toExponential(0).padStart(6) : '     -'}  ${fmt(a?.mean ?? null).padStart(13)} | ${b ? b.lr.toExponential(0).padStart(8) : '       -'}  ${fmt(b?.mean ?? null).padStart(15)} | ${per}`);
  }
  console.log(`\nsame tuned learning rate: ${agree} of ${names.length} optimizers`);
  console.log('\nwhole grid, mean distance over the starts (nos / torch):');
  console.log(`${'optimizer'.padEnd(14)}${lrs.map((l) => l.toExponential(0).padStart(24)).join('')}`);
  for (const name of names) {
    console.log(`${name.padEnd(14)}${lrs.map((_, k) => `${fmt(mean(ours[name][k]))} / ${fmt(mean(theirs.results[name][k]))}`.padStart(24)).join('')}`);
  }
}

main();
