// Task `rosenbrock`: the function and its gradient, one start followed by a real optimizer, divergence, the task's
// runs (tune without trajectories, final with them) and its pictures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createOptimizer } from '../../src/runtime/optimizer';
import { createRosenbrockTask, rosenbrock, rosenbrockGradient, runFromStart, type RosenbrockSettings } from '../../src/transfer/rosenbrock';
import { RunInterrupted, type RunContext } from '../../src/transfer/task';
import { BASELINES } from '../../src/transfer/optimizers';

const running: RunContext = { stopped: () => false, progress: () => undefined };

test('rosenbrock: 0 at (1, 1), the gradient against central differences', () => {
  assert.equal(rosenbrock(1, 1), 0);
  assert.ok(Math.abs(rosenbrock(-1.2, 1) - 24.2) < 1e-12);
  for (const [x, y] of [[-1.2, 1], [0.3, -0.7], [2, 3]]) {
    const h = 1e-6;
    const [gx, gy] = rosenbrockGradient(x, y);
    assert.ok(Math.abs(gx - (rosenbrock(x + h, y) - rosenbrock(x - h, y)) / (2 * h)) < 1e-4 * Math.max(1, Math.abs(gx)));
    assert.ok(Math.abs(gy - (rosenbrock(x, y + h) - rosenbrock(x, y - h)) / (2 * h)) < 1e-4 * Math.max(1, Math.abs(gy)));
  }
});

const settings: RosenbrockSettings = { steps: 2000, starts: [{ name: 'classic', x: -1.2, y: 1 }], trajectoryPoints: 20, curvePoints: 10 };

test('runFromStart: momentum walks down the valley to near (1, 1); the trajectory and curve are kept', () => {
  const optimizer = createOptimizer('momentum', { lr: 1e-3, threads: 1 });
  const r = runFromStart(optimizer, settings.starts[0], settings);
  optimizer.dispose();
  assert.equal(r.status, 'ok');
  assert.ok(r.distance! < 0.05, `distance ${r.distance}`);
  // The first 10 steps one by one, then every 199th: 1 + 10 + 10 positions.
  assert.deepEqual(r.trajectory[0], [Math.fround(-1.2), 1]);
  assert.equal(r.trajectory.length, 21);
  assert.equal(r.distances.length, 10);
  assert.ok(r.distances[9] < r.distances[0]);
});

test('runFromStart: a learning rate far too large leaves the box and is a divergence', () => {
  const optimizer = createOptimizer('sgd', { lr: 0.1, threads: 1 });
  const r = runFromStart(optimizer, settings.starts[0], settings);
  optimizer.dispose();
  assert.equal(r.status, 'diverged');
  assert.equal(r.distance, null);
  assert.match(r.reason!, /left the box/);
});

test('the rosenbrock task: tune runs carry per-start distances, final runs the trajectories too; runs repeat exactly', async () => {
  const task = createRosenbrockTask({ quick: true, threads: 1 });
  assert.equal(task.metric.better, 'lower');
  const tune = await task.run(BASELINES.adam, 0.1, 0, 'tune', running);
  const final = await task.run(BASELINES.adam, 0.1, 0, 'final', running);
  assert.equal(tune.status, 'ok');
  assert.equal(tune.score, final.score); // deterministic rule: the same run
  const perStart = tune.detail!.perStart as Array<{ distance: number }>;
  assert.equal(perStart.length, 2);
  assert.ok(Math.abs(tune.score! - (perStart[0].distance + perStart[1].distance) / 2) < 1e-12);
  assert.equal(tune.detail!.trajectories, undefined);
  assert.equal((final.detail!.trajectories as unknown[]).length, 2);
  assert.ok(final.curve.length === 10 && final.curve[9].x === 400);
  const { svgs, markdown } = task.extras!([{ optimizer: 'adam', seed: 0, outcome: final }]);
  assert.deepEqual(svgs.map((s) => s.file), ['rosenbrock-classic.svg', 'rosenbrock-far.svg']);
  assert.match(svgs[0].svg, /^<svg[^]*<polyline[^]*adam[^]*<\/svg>$/);
  assert.match(markdown.join('\n'), /\| adam \| \d\.\d+(e-\d+)? \| \d/);
});

test('the rosenbrock task stops at a Ctrl-C between steps (RunInterrupted), and a noisy rule depends on its seed', async () => {
  const task = createRosenbrockTask({ quick: true, threads: 1 });
  await assert.rejects(task.run(BASELINES.sgd, 1e-3, 0, 'tune', { stopped: () => true, progress: () => undefined }), RunInterrupted);
  const noisy = { label: 'noisy', rule: 'g + noise', options: {} };
  const a = await task.run(noisy, 1e-3, 0, 'tune', running);
  const b = await task.run(noisy, 1e-3, 1, 'tune', running);
  assert.notEqual(a.score, b.score);
  assert.equal((await task.run(noisy, 1e-3, 1, 'tune', running)).score, b.score);
});
