// Task `rosenbrock`: the 2-D Rosenbrock function from several starts (the paper's Figure 5 setting, plus harder ones).
import { createOptimizer, type Optimizer } from '../runtime/optimizer';
import { contourPlot } from './plots';
import { RunInterrupted, type Metric, type OptimizerSpec, type Phase, type RunContext, type RunOutcome, type TaskOptions, type TransferTask } from './task';

/** f(x, y) = (1 - x)^2 + 100 (y - x^2)^2, minimum 0 at (1, 1). */
export function rosenbrock(x: number, y: number): number {
  return (1 - x) ** 2 + 100 * (y - x * x) ** 2;
}

/** The gradient of `rosenbrock` (in double precision). */
export function rosenbrockGradient(x: number, y: number): [number, number] {
  return [-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)];
}

export interface RosenbrockStart { name: string; x: number; y: number }

/**
 * The paper does not give its start; (-1.2, 1) is Rosenbrock's own (1960) and the usual one.  The others are harder:
 * farther out on the other arm of the valley, below the valley where the gradient is a thousand times larger, and
 * from the near side where a large step overshoots across the valley.
 */
export const ROSENBROCK_STARTS: RosenbrockStart[] = [
  { name: 'classic', x: -1.2, y: 1 },
  { name: 'far', x: -2, y: 3 },
  { name: 'steep', x: -1.5, y: -1 },
  { name: 'near-side', x: 2, y: 1 },
];

export interface RosenbrockSettings {
  steps: number;
  starts: RosenbrockStart[];
  /** Positions kept per trajectory (final runs): every one of the first `trajectoryPoints`/2 steps (where the big
   * moves are), then evenly spaced. */
  trajectoryPoints: number;
  /** Points of the distance curve. */
  curvePoints: number;
}

export const ROSENBROCK_FULL: RosenbrockSettings = { steps: 4000, starts: ROSENBROCK_STARTS, trajectoryPoints: 300, curvePoints: 40 };
export const ROSENBROCK_QUICK: RosenbrockSettings = { steps: 400, starts: ROSENBROCK_STARTS.slice(0, 2), trajectoryPoints: 40, curvePoints: 10 };

/**
 * The paper tried 4 learning rates on a log scale.  Here half decades over 1e-5..1 (11 rates): sgd needs 1e-3 where
 * adam needs 1e-1, and the sign rules' best lies between 1e-4 and 1e-3 (a whole-decade grid shortchanges them).
 * Cheap on 2-D.
 */
export const ROSENBROCK_LRS = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1];

/** A start counts as diverged when it leaves this box or its value is not finite. */
const ESCAPE = 1e6;

/** One start followed for `steps` updates: the final distance to (1, 1), its distance curve and trajectory. */
export interface StartRun {
  status: 'ok' | 'diverged';
  distance: number | null;
  distances: number[];
  trajectory: Array<[number, number]>;
  reason?: string;
}

/** Runs an optimizer from one start: w is a 2-element Float32Array updated in place, the gradient computed in double. */
export function runFromStart(optimizer: Optimizer, start: RosenbrockStart, settings: RosenbrockSettings, context?: RunContext): StartRun {
  const w = Float32Array.from([start.x, start.y]);
  const g = new Float32Array(2);
  const dense = Math.floor(settings.trajectoryPoints / 2);
  const trajectoryEvery = Math.max(1, Math.floor((settings.steps - dense) / (settings.trajectoryPoints - dense)));
  const curveEvery = Math.max(1, Math.floor(settings.steps / settings.curvePoints));
  const trajectory: Array<[number, number]> = [[w[0], w[1]]];
  const distances: number[] = [];
  const distance = () => Math.hypot(w[0] - 1, w[1] - 1);
  for (let step = 1; step <= settings.steps; step++) {
    if (step % 256 === 0 && context?.stopped()) throw new RunInterrupted();
    const [gx, gy] = rosenbrockGradient(w[0], w[1]);
    g[0] = gx;
    g[1] = gy;
    optimizer.update([w], [g]);
    if (!(Math.abs(w[0]) < ESCAPE && Math.abs(w[1]) < ESCAPE)) {
      return { status: 'diverged', distance: null, distances, trajectory, reason: `left the box |x|, |y| < ${ESCAPE} at step ${step}` };
    }
    if (step <= dense || step % trajectoryEvery === 0) trajectory.push([w[0], w[1]]);
    if (step % curveEvery === 0) distances.push(distance());
  }
  return { status: 'ok', distance: distance(), distances, trajectory };
}

const METRIC: Metric = { name: 'mean final distance to the minimum (1, 1) over the starts', short: 'distance', better: 'lower', digits: 3 };

export function createRosenbrockTask(options: TaskOptions): TransferTask {
  const settings = options.quick ? ROSENBROCK_QUICK : ROSENBROCK_FULL;
  const lrs = options.lrs ?? ROSENBROCK_LRS;
  const curveEvery = Math.max(1, Math.floor(settings.steps / settings.curvePoints));
  return {
    name: 'rosenbrock',
    metric: METRIC,
    lrs,
    curve: { x: 'step', y: 'mean distance to (1, 1)', logY: true },
    settings: { ...settings, starts: settings.starts.map((s) => ({ ...s })), note: 'float32 parameters, gradient in double' },
    cost: () => settings.steps * settings.starts.length,
    secondsPerUnit: 3e-6,
    async run(spec: OptimizerSpec, lr: number, seed: number, phase: Phase, context: RunContext): Promise<RunOutcome> {
      const runs: StartRun[] = [];
      for (const [i, start] of settings.starts.entries()) {
        const optimizer = createOptimizer(spec.rule, { ...spec.options, lr, totalSteps: settings.steps, seed, threads: 1 });
        try {
          runs.push(runFromStart(optimizer, start, settings, context));
        } finally {
          optimizer.dispose();
        }
        context.progress((i + 1) / settings.starts.length);
      }
      const perStart = settings.starts.map((s, i) => ({ start: s.name, status: runs[i].status, distance: runs[i].distance }));
      const failed = runs.findIndex((r) => r.status === 'diverged');
      const detail: Record<string, unknown> = { perStart };
      if (phase === 'final') detail.trajectories = runs.map((r) => r.trajectory.map(([x, y]) => [round(x), round(y)]));
      if (failed >= 0) {
        return { status: 'diverged', score: null, curve: [], reason: `start ${settings.starts[failed].name}: ${runs[failed].reason}`, detail };
      }
      const curve = runs[0].distances.map((_, k) => ({ x: (k + 1) * curveEvery, value: mean(runs.map((r) => r.distances[k])) }));
      return { status: 'ok', score: mean(runs.map((r) => r.distance!)), curve, detail };
    },
    extras(finals) {
      const seed0 = finals.filter((f) => f.seed === Math.min(...finals.map((g) => g.seed)) && f.outcome.detail?.trajectories);
      const svgs = settings.starts.map((start, i) => ({
        file: `rosenbrock-${start.name}.svg`,
        svg: contourPlot({
          title: `Rosenbrock from (${start.x}, ${start.y}), ${settings.steps} steps, each optimizer at its tuned learning rate`,
          f: rosenbrock, minimum: [1, 1], start: [start.x, start.y],
          paths: seed0.map((f) => ({ label: f.optimizer, points: (f.outcome.detail!.trajectories as Array<Array<[number, number]>>)[i] })),
        }),
      }));
      const rows = ['| optimizer | ' + settings.starts.map((s) => `${s.name} (${s.x}, ${s.y})`).join(' | ') + ' |', '| --- |' + settings.starts.map(() => ' --- |').join('')];
      for (const f of seed0) {
        const per = f.outcome.detail!.perStart as Array<{ status: string; distance: number | null }>;
        rows.push(`| ${f.optimizer} | ${per.map((p) => (p.distance === null ? p.status : p.distance.toPrecision(3))).join(' | ')} |`);
      }
      return { svgs, markdown: ['Final distance to (1, 1) per start (seed ' + (seed0[0]?.seed ?? 0) + '):', '', ...rows] };
    },
    async dispose() {},
  };
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Six significant digits: enough for a picture, a third of the JSON. */
function round(v: number): number {
  return Number(v.toPrecision(6));
}
