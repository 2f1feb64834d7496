// Hurdles a rule must clear before it is trained (as in AutoML-Zero and the Lion search): it must read the gradient
// (static, from the IR), and it must lower the loss of a small fixed problem at one of the sweep's learning rates.
import { topoOrder, type InputName, type Node, type RuleInfo } from '../compiler';
import { RuleSandbox } from './rule-sandbox';

/** Inputs whose values come from the gradients: g and its powers, and the running averages of them. */
export const GRADIENT_INPUTS: ReadonlySet<InputName> = new Set<InputName>(['g', 'g2', 'g3', 'm', 'v', 'y', 'mom']);

/** True when the rule's value depends on a gradient-derived input (the simplified IR reads one). */
export function dependsOnGradient(root: Node): boolean {
  return topoOrder(root).some((n) => n.kind === 'input' && GRADIENT_INPUTS.has(n.name));
}

/** A small fixed problem: a start point, and the loss with the gradient at w (the gradient may be a minibatch's). */
interface Problem {
  name: string;
  start: Float32Array;
  /** Full loss at w. */
  loss(w: Float32Array): number;
  /** Writes the gradient of step t (1-based) into g. */
  gradient(w: Float32Array, t: number, g: Float32Array): void;
}

/** mulberry32 from a fixed seed: the problems are the same in every process. */
function fixedRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Softmax regression on a fixed synthetic set (4 classes, 8 features, 128 examples), minibatches of 16 in turn. */
function logisticProblem(): Problem {
  const rand = fixedRandom(11);
  const classes = 4, features = 8, examples = 128, batch = 16;
  const means = Array.from({ length: classes * features }, () => 2 * rand() - 1);
  const x = new Float64Array(examples * features);
  const y = new Uint8Array(examples);
  for (let i = 0; i < examples; i++) {
    y[i] = i % classes;
    for (let f = 0; f < features; f++) x[i * features + f] = means[y[i] * features + f] + (2 * rand() - 1);
  }
  const size = classes * features + classes; // weights, then biases
  // From small fixed weights, not zeros: at w = 0 a class-balanced batch has bias gradients of exactly 0, where a rule
  // such as g3*log(clip(m, 1e-3)) computes 0 * log(0) = NaN, a failure the child (whose gradients are never all 0) does not see.
  const start = Float32Array.from({ length: size }, () => 0.1 * (2 * rand() - 1));
  const logits = new Float64Array(classes);
  /** Adds the cross-entropy gradient of examples [from, to) (scaled by `scale`) into g; returns their loss sum. */
  const pass = (w: Float32Array, from: number, to: number, g: Float64Array | null, scale: number): number => {
    let sum = 0;
    for (let i = from; i < to; i++) {
      let max = -Infinity;
      for (let c = 0; c < classes; c++) {
        let z = w[classes * features + c];
        for (let f = 0; f < features; f++) z += w[c * features + f] * x[i * features + f];
        logits[c] = z;
        if (z > max) max = z;
      }
      let norm = 0;
      for (let c = 0; c < classes; c++) norm += Math.exp(logits[c] - max);
      sum += Math.log(norm) + max - logits[y[i]];
      if (!g) continue;
      for (let c = 0; c < classes; c++) {
        const d = (Math.exp(logits[c] - max) / norm - (c === y[i] ? 1 : 0)) * scale;
        g[classes * features + c] += d;
        for (let f = 0; f < features; f++) g[c * features + f] += d * x[i * features + f];
      }
    }
    return sum;
  };
  const acc = new Float64Array(size);
  return {
    name: 'logistic', start,
    loss: (w) => pass(w, 0, examples, null, 0) / examples,
    gradient: (w, t, g) => {
      acc.fill(0);
      const from = ((t - 1) * batch) % examples;
      pass(w, from, from + batch, acc, 1 / batch);
      for (let k = 0; k < size; k++) g[k] = acc[k];
    },
  };
}

/** 0.5 * sum lambda_i (w_i - c_i)^2 with lambda from 0.01 to 100 (condition number 1e4). */
function quadraticProblem(): Problem {
  const rand = fixedRandom(12);
  const size = 16;
  const lambda = Float64Array.from({ length: size }, (_, i) => 10 ** (-2 + (4 * i) / (size - 1)));
  const target = Float64Array.from({ length: size }, () => (rand() < 0.5 ? -1 : 1) * (0.5 + rand()));
  return {
    name: 'quadratic', start: new Float32Array(size),
    loss: (w) => { let s = 0; for (let i = 0; i < size; i++) s += 0.5 * lambda[i] * (w[i] - target[i]) ** 2; return s; },
    gradient: (w, _t, g) => { for (let i = 0; i < size; i++) g[i] = lambda[i] * (w[i] - target[i]); },
  };
}

/** Rosenbrock's valley in two dimensions from (-1.2, 1). */
function rosenbrockProblem(): Problem {
  return {
    name: 'rosenbrock', start: Float32Array.from([-1.2, 1]),
    loss: (w) => (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2,
    gradient: (w, _t, g) => {
      g[0] = -2 * (1 - w[0]) - 400 * w[0] * (w[1] - w[0] ** 2);
      g[1] = 200 * (w[1] - w[0] ** 2);
    },
  };
}

let problems: Problem[] | null = null;

/**
 * Steps of one probe run, and the steps at which its loss is looked at: the rule passes at the first that is low
 * enough; a run whose loss at the first checkpoint is not below its start is not descending and stops there.
 */
export const PROBE_STEPS = 60;
const CHECKPOINTS = [10, 30, PROBE_STEPS];
/** A run passes when its loss at a checkpoint is below this fraction of the starting loss. */
export const PROBE_DESCENT = 0.99;
/** A run whose loss passes this multiple of its start (or is not finite) has diverged: it stops. */
const DIVERGED = 1e3;
/** Learning rates most rules pass at first: tried first, so a good rule is done after a few dozen steps. */
const LR_PREFERENCE = [1e-2, 1e-3, 1e-1, 1e-4, 1, 1e-5, 10];

export interface DescentProbe {
  passed: boolean;
  /** Where it passed: problem, learning rate, step, and the loss there over the starting loss. */
  problem: string | null; lr: number | null; step: number | null; ratio: number | null;
  /** Update steps run in all. */
  steps: number;
}

/** The order the learning rates are tried in: the preferred ones first, then any others of the sweep. */
function lrOrder(lrs: readonly number[]): number[] {
  const preferred = LR_PREFERENCE.filter((lr) => lrs.includes(lr));
  return [...preferred, ...lrs.filter((lr) => !preferred.includes(lr))];
}

/**
 * Runs the rule for up to PROBE_STEPS steps at each learning rate on each problem (softmax regression on
 * minibatches, an ill-conditioned quadratic, Rosenbrock) and stops at the first run whose loss drops below
 * PROBE_DESCENT of its start at a checkpoint. A rule that lowers no problem's loss at any rate fails.
 */
export function descentProbe(info: RuleInfo, lrs: readonly number[]): DescentProbe {
  problems ??= [logisticProblem(), quadraticProblem(), rosenbrockProblem()];
  let steps = 0;
  for (const problem of problems) {
    const sandbox = new RuleSandbox(info, problem.start.length);
    const w = new Float32Array(problem.start.length);
    const g = new Float32Array(problem.start.length);
    const start = problem.loss(problem.start);
    for (const lr of lrOrder(lrs)) {
      sandbox.reset(lr, PROBE_STEPS);
      w.set(problem.start);
      for (let t = 1; t <= PROBE_STEPS; t++) {
        problem.gradient(w, t, g);
        sandbox.step(w, g, t, 1);
        steps++;
        if (!Number.isFinite(w[0])) break; // diverged (the loss is looked at only at the checkpoints)
        if (!CHECKPOINTS.includes(t)) continue;
        const loss = problem.loss(w);
        if (!(loss <= DIVERGED * start) || (t === CHECKPOINTS[0] && !(loss < start))) break;
        if (loss < PROBE_DESCENT * start) return { passed: true, problem: problem.name, lr, step: t, ratio: loss / start, steps };
      }
    }
  }
  return { passed: false, problem: null, lr: null, step: null, ratio: null, steps };
}

/** A rule's verdict at the hurdles: null when it may be trained, else the status it is recorded with and why. */
export type HurdleVerdict = { status: 'no-gradient' | 'no-descent'; reason: string; probe?: DescentProbe } | null;

/** Both hurdles, the cheap one first. */
export function checkHurdles(info: RuleInfo, lrs: readonly number[]): HurdleVerdict {
  if (!dependsOnGradient(info.root)) {
    return { status: 'no-gradient', reason: 'the rule reads no gradient-derived input (g, g2, g3, m, v, y): it cannot descend' };
  }
  const probe = descentProbe(info, lrs);
  if (probe.passed) return null;
  return { status: 'no-descent', probe,
    reason: `lowered the loss of no probe problem (softmax regression, quadratic, Rosenbrock) by ${Math.round((1 - PROBE_DESCENT) * 100)}% at any of the learning rates ${lrs.join(', ')} within ${PROBE_STEPS} steps` };
}
