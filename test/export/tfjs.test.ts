// nos export --to tfjs against nos itself, on @tensorflow/tfjs's pure-JS CPU backend (a devDependency): every named
// and Table 6 rule without random draws, 50 steps; then the optimizer inside a tf.layers model, saved and restored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exportRule, exportClassName } from '../../src/export';
import { compileRule } from '../../src/compiler';
import { STEPS, TOLERANCE, deterministicRules, exportInputs, nosTrajectory, worstRelative } from './export-cases';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const tf = require('@tensorflow/tfjs') as typeof import('@tensorflow/tfjs');

type OptimizerClass = new (learningRate: number, options?: object) => import('@tensorflow/tfjs').Optimizer;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-export-tfjs-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

/** The class an exported file defines on our tf. */
function load(rule: string): OptimizerClass {
  const info = compileRule(rule);
  const file = path.join(dir, `${rule.replace(/\W/g, '_')}.js`);
  fs.writeFileSync(file, exportRule(info, 'tfjs'));
  const mod = require(file) as Record<string, (t: typeof tf) => OptimizerClass>;
  return mod[`define${exportClassName(info)}`](tf);
}

test.before(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

test(`TensorFlow.js exports follow nos within ${TOLERANCE} (every named and Table 6 rule without draws, ${STEPS} steps)`, () => {
  const inputs = exportInputs();
  let worst = { error: 0, where: '' };
  for (const { name, info } of deterministicRules()) {
    const Optimizer = load(name);
    const opt = new Optimizer(0.01, { totalSteps: STEPS });
    const vars = inputs.initial.map((w, k) => tf.variable(tf.tensor1d(w), true, `${name}-${k}`));
    const run: number[][] = [];
    for (const step of inputs.grads) {
      tf.tidy(() => opt.applyGradients(Object.fromEntries(vars.map((v, k) => [v.name, tf.tensor1d(step[k])]))));
      run.push(vars.flatMap((v) => [...(v.dataSync() as Float32Array)]));
    }
    const w = worstRelative(run, nosTrajectory(info, { lr: 0.01, totalSteps: STEPS, device: 'js' }, inputs));
    assert.ok(w.error <= TOLERANCE, `${name} (${info.canonical}): ${w.error.toExponential(2)} at ${w.where}`);
    if (w.error >= worst.error) worst = { error: w.error, where: `${name} ${w.where}` };
    opt.dispose();
    vars.forEach((v) => v.dispose());
  }
  if (process.env.NOS_PRINT_SCORES) console.log(`worst: ${worst.error.toExponential(2)} (${worst.where})`);
});

test('an exported optimizer trains a tf.layers model, is registered for serialization, and its state saves and restores', async () => {
  const PowerSignLd = load('powersign-ld');
  assert.ok(tf.serialization.SerializationMap.getMap().classNameMap.NosPowerSignLd, 'registered as NosPowerSignLd');
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 4, inputShape: [3], activation: 'relu' }), tf.layers.dense({ units: 2 })] });
  const optimizer = new PowerSignLd(0.05, { totalSteps: 20 });
  model.compile({ optimizer, loss: 'meanSquaredError' });
  const x = tf.tensor2d([[1, 2, 3], [-1, 0.5, 2], [0, -1, 1], [2, 2, -2]]);
  const y = tf.tensor2d([[1, 0], [0, 1], [1, 1], [0, 0]]);
  const history = await model.fit(x, y, { epochs: 10, batchSize: 4, verbose: 0 });
  const losses = history.history.loss as number[];
  assert.ok(losses[losses.length - 1] < losses[0], `loss falls: ${losses.map((l) => l.toFixed(3)).join(', ')}`);
  assert.equal(optimizer.iterations, 10);

  // getWeights/setWeights carry the step count and every state variable; the config rebuilds the optimizer.
  const saved = await optimizer.getWeights();
  assert.equal(saved.length, 1 + model.trainableWeights.length, 'iterations, then m per variable');
  const again = (PowerSignLd as unknown as { fromConfig(c: unknown, cfg: object): import('@tensorflow/tfjs').Optimizer })
    .fromConfig(PowerSignLd, optimizer.getConfig());
  await again.setWeights(saved);
  assert.equal(again.iterations, 10);
  const restored = await again.getWeights();
  restored.forEach((w, k) => assert.deepEqual([...(w.tensor.dataSync() as Float32Array)], [...(saved[k].tensor.dataSync() as Float32Array)]));
  assert.throws(() => new PowerSignLd(0.1), /NosPowerSignLd: totalSteps must be a positive integer \(the rule's decays need it\), got null/);
  // The config holds options only (tf.serialization's customObjects are not one).
  const fromSaved = (PowerSignLd as unknown as { fromConfig(c: unknown, cfg: object): { getConfig(): object } })
    .fromConfig(PowerSignLd, { ...optimizer.getConfig(), customObjects: {} });
  assert.deepEqual(Object.keys(fromSaved.getConfig()).sort(), Object.keys(optimizer.getConfig()).sort());
  // State saved by another optimizer (Adam's m and v) is refused by name, not loaded as this one's.
  const Adam = load('adam');
  const adam = new Adam(0.1) as unknown as import('@tensorflow/tfjs').Optimizer;
  const adamVars = [0, 1].map((k) => tf.variable(tf.ones([2]), true, `adam-state-${k}`));
  adam.applyGradients(Object.fromEntries(adamVars.map((v) => [v.name, tf.onesLike(v)])));
  await assert.rejects(again.setWeights(await adam.getWeights()), /NosPowerSignLd: setWeights: adam-state-0\/v is not a 'm' state \(slots: m\); were these weights saved by another optimizer\?/);
  adamVars.forEach((v) => v.dispose());
});

test('an exported TensorFlow.js optimizer refuses what createOptimizer refuses, naming the option', () => {
  const Adam = load('adam');
  const cases: Array<[unknown[], RegExp]> = [
    [[Infinity], /NosAdam: learningRate must be a finite number >= 0, got Infinity/],
    [[1e39], /learningRate must be a finite number >= 0, got 1e\+39/],
    [[1e-3, { beta1: 0.5 }], /NosAdam: unknown option 'beta1' \(options: betas, delta, momentum, biasCorrection, totalSteps, noiseStd\)/],
    [[1e-3, { delta: -1 }], /delta must be a finite number >= 0, got -1/],
    [[1e-3, { momentum: NaN }], /momentum must be a finite number, got NaN/],
    [[1e-3, { biasCorrection: 'no' }], /biasCorrection must be true or false, got "no"/],
    [[1e-3, { noiseStd: -1 }], /noiseStd must be a finite number >= 0/],
    [[1e-3, { totalSteps: 1.5 }], /totalSteps must be a positive integer, got 1\.5/],
    [[1e-3, null], /options must be an object, got null/],
  ];
  for (const [args, message] of cases) assert.throws(() => new (Adam as unknown as new (...a: unknown[]) => unknown)(...args), message, String(args[0]));
  new (Adam as unknown as new (...a: unknown[]) => unknown)(0, { totalSteps: 5, betas: [0, 0, 0] }); // edges are taken
});
