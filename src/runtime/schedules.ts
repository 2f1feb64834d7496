// Learning-rate schedules with TensorFlow's formulas (tf.compat.v1.train.*_decay), evaluated per 0-based global step.
//
//   constant             lr
//   step                 lr * rate^floor(t / decaySteps)                       (exponential_decay, staircase=True)
//   cosine               t' = min(t, D); lr * ((1 - alpha) * 0.5 * (1 + cos(pi * t' / D)) + alpha)
//   linear-cosine        t' = min(t, D); lin = (D - t') / D; cos = 0.5 * (1 + cos(pi * 2 * periods * t' / D))
//                        lr * ((alpha + lin) * cos + beta)
//   noisy-linear-cosine  as linear-cosine with lin + eps, eps ~ N(0, initialVariance / (1 + t')^varianceDecay)
//   restarts             cosine_decay_restarts: periods of firstDecaySteps growing by tMul, peaks scaled by mMul
// D defaults to the optimizer's total steps.  Defaults follow TensorFlow: alpha 0, beta 0.001, periods 0.5,
// initialVariance 1, varianceDecay 0.55, tMul 2, mMul 1.  The noise is seeded: Philox keyed by (seed, t), so a
// run is reproducible and a restored optimizer continues the same sequence.
import { normal, philoxDraw } from '../compiler/philox';

export type ScheduleSpec =
  | { kind: 'constant' }
  | { kind: 'step'; decaySteps: number; rate: number }
  | { kind: 'cosine'; decaySteps?: number; alpha?: number }
  | { kind: 'linear-cosine'; decaySteps?: number; numPeriods?: number; alpha?: number; beta?: number }
  | {
    kind: 'noisy-linear-cosine'; decaySteps?: number; initialVariance?: number; varianceDecay?: number;
    numPeriods?: number; alpha?: number; beta?: number;
  }
  | { kind: 'restarts'; firstDecaySteps: number; tMul?: number; mMul?: number; alpha?: number };

export const SCHEDULE_KINDS = ['constant', 'step', 'cosine', 'linear-cosine', 'noisy-linear-cosine', 'restarts'] as const;

/** Random site of the schedule's noise, far from any rule's sites so the draws never coincide. */
const SCHEDULE_NOISE_SITE = 0x5c4ed;

function positive(where: string, name: string, x: unknown): number {
  if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0) {
    throw new RangeError(`${where}: ${name} must be a positive number, received ${String(x)}`);
  }
  return x;
}
function finite(where: string, name: string, x: unknown, fallback: number): number {
  if (x === undefined) return fallback;
  if (typeof x !== 'number' || !Number.isFinite(x)) throw new RangeError(`${where}: ${name} must be a finite number, received ${String(x)}`);
  return x;
}

/** The fields each kind takes (besides kind). */
const SCHEDULE_FIELDS: Record<ScheduleSpec['kind'], readonly string[]> = {
  constant: [],
  step: ['decaySteps', 'rate'],
  cosine: ['decaySteps', 'alpha'],
  'linear-cosine': ['decaySteps', 'numPeriods', 'alpha', 'beta'],
  'noisy-linear-cosine': ['decaySteps', 'numPeriods', 'alpha', 'beta', 'initialVariance', 'varianceDecay'],
  restarts: ['firstDecaySteps', 'tMul', 'mMul', 'alpha'],
};

/**
 * Checks a schedule spec (throws a RangeError naming the field); decaySteps may come from totalSteps.  A field the
 * kind does not take is an error: a misspelt one (decay_steps, alhpa) would otherwise be ignored silently.
 */
export function checkSchedule(spec: ScheduleSpec, totalSteps: number | undefined): void {
  learningRate(spec, 1, 0, totalSteps, 0);
  if (spec.kind === 'restarts' && spec.tMul !== undefined && spec.tMul < 1) {
    // Shrinking periods end: the last step must fall inside them, so the run needs its length now, not at the failure.
    if (totalSteps === undefined) throw new RangeError(`schedule 'restarts': tMul ${spec.tMul} < 1 needs the optimizer's totalSteps (the periods shrink and end)`);
    learningRate(spec, 1, totalSteps - 1, totalSteps, 0);
  }
  const known = SCHEDULE_FIELDS[spec.kind];
  for (const key of Object.keys(spec)) {
    if (key !== 'kind' && !known.includes(key)) {
      throw new RangeError(`schedule '${spec.kind}': unknown field '${key}' (${known.length > 0 ? `it takes ${known.join(', ')}` : 'it takes no fields'})`);
    }
  }
}

function decaySteps(where: string, given: number | undefined, totalSteps: number | undefined): number {
  if (given === undefined && totalSteps === undefined) {
    throw new RangeError(`${where}: needs decaySteps or the optimizer's totalSteps`);
  }
  return positive(where, 'decaySteps', given ?? totalSteps);
}

/** The learning rate at 0-based global step t (TensorFlow's global_step before the update). */
export function learningRate(spec: ScheduleSpec, lr: number, t: number, totalSteps: number | undefined, seed: number): number {
  if (!spec || typeof spec !== 'object' || typeof (spec as { kind?: unknown }).kind !== 'string') {
    throw new TypeError(`schedule: expected an object with kind one of ${SCHEDULE_KINDS.join(', ')}, received ${JSON.stringify(spec)}`);
  }
  const where = `schedule '${spec.kind}'`;
  if (!Number.isInteger(t) || t < 0) throw new RangeError(`${where}: global step must be an integer >= 0, received ${t}`);
  switch (spec.kind) {
    case 'constant':
      return lr;
    case 'step': {
      const every = positive(where, 'decaySteps', spec.decaySteps);
      const rate = positive(where, 'rate', spec.rate);
      return lr * Math.pow(rate, Math.floor(t / every));
    }
    case 'cosine': {
      const D = decaySteps(where, spec.decaySteps, totalSteps);
      const alpha = finite(where, 'alpha', spec.alpha, 0);
      const s = Math.min(t, D);
      const cosineDecayed = 0.5 * (1 + Math.cos(Math.PI * s / D));
      return lr * ((1 - alpha) * cosineDecayed + alpha);
    }
    case 'linear-cosine':
    case 'noisy-linear-cosine': {
      const D = decaySteps(where, spec.decaySteps, totalSteps);
      const periods = finite(where, 'numPeriods', spec.numPeriods, 0.5);
      const alpha = finite(where, 'alpha', spec.alpha, 0);
      const beta = finite(where, 'beta', spec.beta, 0.001);
      const s = Math.min(t, D);
      let linearDecayed = (D - s) / D;
      if (spec.kind === 'noisy-linear-cosine') {
        const variance0 = finite(where, 'initialVariance', spec.initialVariance, 1);
        const varianceDecay = finite(where, 'varianceDecay', spec.varianceDecay, 0.55);
        if (variance0 < 0) throw new RangeError(`${where}: initialVariance must be >= 0, received ${variance0}`);
        const std = Math.sqrt(variance0 / Math.pow(1 + s, varianceDecay));
        const draw = philoxDraw(seed >>> 0, t >>> 0, 0, SCHEDULE_NOISE_SITE);
        linearDecayed += std * normal(draw[0], draw[1]);
      }
      const cosineDecayed = 0.5 * (1 + Math.cos(Math.PI * 2 * periods * s / D));
      return lr * ((alpha + linearDecayed) * cosineDecayed + beta);
    }
    case 'restarts': {
      const first = positive(where, 'firstDecaySteps', spec.firstDecaySteps);
      const tMul = positive(where, 'tMul', spec.tMul ?? 2);
      const mMul = positive(where, 'mMul', spec.mMul ?? 1);
      const alpha = finite(where, 'alpha', spec.alpha, 0);
      // tMul < 1: the periods shrink and all of them end after first / (1 - tMul) steps (TensorFlow gives NaN after).
      if (tMul < 1 && t >= first / (1 - tMul)) {
        throw new RangeError(`${where}: with tMul ${tMul} < 1 the periods shrink and end after ${first / (1 - tMul)} steps; step ${t} is past them (use tMul >= 1, or fewer steps)`);
      }
      let completed = t / first;
      // Periods completed before step t: i with start(i) <= t < start(i + 1), start(i) = first * (1 - tMul^i) / (1 - tMul).
      const sumR = (i: number): number => (tMul === 1 ? i : (1 - Math.pow(tMul, i)) / (1 - tMul));
      let iRestart = tMul === 1 ? Math.floor(completed) : Math.floor(Math.log(1 - completed * (1 - tMul)) / Math.log(tMul));
      // TensorFlow's logarithm (or t / first) can round a step on a period's boundary into the period before, which
      // then ends there with rate alpha (tMul 10, firstDecaySteps 1: step 111 gave 0 instead of the restart's peak), or
      // into the next. Settle the period by the boundaries themselves, in steps, taking a boundary a rounding error
      // away from a whole step as that step (the global step is whole).
      const startStep = (i: number): number => {
        const s = first * sumR(i);
        const whole = Math.round(s);
        return Math.abs(s - whole) <= 1e-9 * Math.max(1, whole) ? whole : s;
      };
      for (let k = 0; k < 64 && iRestart > 0 && t < startStep(iRestart); k++) iRestart--;
      for (let k = 0; k < 64 && t >= startStep(iRestart + 1); k++) iRestart++;
      completed = Math.min(1, Math.max(0, (completed - sumR(iRestart)) / Math.pow(tMul, iRestart)));
      const mFac = Math.pow(mMul, iRestart);
      const cosineDecayed = 0.5 * mFac * (1 + Math.cos(Math.PI * completed));
      return lr * ((1 - alpha) * cosineDecayed + alpha);
    }
    default:
      throw new TypeError(`schedule: unknown kind '${(spec as { kind: string }).kind}', expected one of ${SCHEDULE_KINDS.join(', ')}`);
  }
}
