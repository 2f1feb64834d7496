// The per-step scalar array a kernel reads (kernel-abi.ts slots): the scheduled learning rate, the bias corrections
// 1/(1-beta^t), the decay values via the compiler's decayValue, the noise standard deviations.
//
// StepScalars does per step only what changes with t, without allocating; it checks its settings once through the
// compiler's fillScalars and gives the same values (test/runtime/scalars.test.ts holds it to that).
import { decayValue, fillScalars, type RuleDecays } from '../compiler/decays';
import { DECAY_BASE, NOS_SCALAR_COUNT, Scalar } from '../compiler/kernel-abi';
import { learningRate, type ScheduleSpec } from './schedules';

export interface ScalarSettings {
  lr: number;
  schedule: ScheduleSpec;
  betas: readonly [number, number, number];
  delta: number;
  momentum: number;
  biasCorrection: boolean;
  totalSteps?: number;
  seed: number;
}

/**
 * Fills `out` for update number t (1-based: bias corrections use t; the schedule and the decays use the 0-based
 * global step t - 1, as TensorFlow does) and returns it.  The reference path: the compiler's fillScalars.
 */
export function stepScalars(rule: RuleDecays, settings: ScalarSettings, t: number,
  out: Float32Array = new Float32Array(NOS_SCALAR_COUNT)): Float32Array {
  const lr = learningRate(settings.schedule, settings.lr, t - 1, settings.totalSteps, settings.seed);
  return fillScalars(rule, {
    lr, betas: settings.betas, delta: settings.delta, momentum: settings.momentum,
    biasCorrection: settings.biasCorrection,
  }, t, settings.totalSteps, out);
}

/** The scalars of successive steps of one optimizer, filled in place with only the per-step work. */
export class StepScalars {
  readonly values = new Float32Array(NOS_SCALAR_COUNT);
  private readonly decays: ReadonlyArray<{ name: 'ld' | 'cd' | 'rd'; n: number }>;

  constructor(rule: RuleDecays, private readonly settings: ScalarSettings) {
    // Validates every setting (and fills the constant slots) the way the compiler's fill does.
    stepScalars(rule, settings, 1, this.values);
    this.decays = rule.decays.map((d) => ({ name: d.name, n: d.n }));
  }

  /** The scalars of update number t (1-based), in `values`. */
  fill(t: number): Float32Array {
    const s = this.settings;
    const out = this.values;
    const lr = learningRate(s.schedule, s.lr, t - 1, s.totalSteps, s.seed);
    // A schedule can grow past float32 (step with rate > 1) or meet a NaN: never run a step with such a rate.
    if (!Number.isFinite(Math.fround(lr))) {
      throw new RangeError(`step: the learning rate of step ${t} is ${lr}, not a finite float32 (lr ${s.lr}, schedule ${JSON.stringify(s.schedule)})`);
    }
    out[Scalar.lr] = lr;
    if (s.biasCorrection) {
      out[Scalar.invBc1] = 1 / (1 - s.betas[0] ** t);
      out[Scalar.invBc2] = 1 / (1 - s.betas[1] ** t);
      out[Scalar.invBc3] = 1 / (1 - s.betas[2] ** t);
    }
    out[Scalar.anoiseStd] = Math.pow(t, -0.275);
    for (let i = 0; i < this.decays.length; i++) {
      out[DECAY_BASE + i] = decayValue(this.decays[i].name, this.decays[i].n, t - 1, s.totalSteps!);
    }
    return out;
  }
}
