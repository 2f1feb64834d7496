// Runs a compiled rule in this process on small tensors, with its JS kernel (no native compile: a cold one costs
// ~100 ms), for the hurdles and the equivalence cache: the same per-step scalars as the optimizer, state kept here.
import { loadJsKernel, type JsTensor, type RuleInfo } from '../compiler';
import { OPTIMIZER_DEFAULTS } from '../compiler/kernel-abi';
import { StepScalars } from '../runtime/scalars';


/** JS kernels by rule hash: the fingerprint and the probe's problems run the same rule one after another. */
const kernels = new Map<string, ReturnType<typeof loadJsKernel>>();
function kernelOf(info: RuleInfo): ReturnType<typeof loadJsKernel> {
  let kernel = kernels.get(info.hash);
  if (!kernel) {
    if (kernels.size >= 64) kernels.clear();
    kernel = loadJsKernel(info);
    kernels.set(info.hash, kernel);
  }
  return kernel;
}

export class RuleSandbox {
  private readonly kernel: ReturnType<typeof loadJsKernel>;
  private readonly state: Float32Array[];
  private readonly tensor: JsTensor;
  private readonly tensors: JsTensor[];
  private scalars: StepScalars | null = null;

  constructor(readonly info: RuleInfo, readonly size: number) {
    this.kernel = kernelOf(info);
    this.state = [0, 1, 2, 3].map(() => new Float32Array(size));
    this.tensor = { w: new Float32Array(size), g: new Float32Array(size), s: this.state, rngBase: 0 };
    this.tensors = [this.tensor];
  }

  /** Fresh state (running averages at zero) and the scalars of a run of `totalSteps` at learning rate `lr`. */
  reset(lr: number, totalSteps: number): void {
    for (const s of this.state) s.fill(0);
    this.scalars = new StepScalars(this.info, {
      lr, schedule: { kind: 'constant' }, betas: OPTIMIZER_DEFAULTS.betas, delta: OPTIMIZER_DEFAULTS.delta,
      momentum: OPTIMIZER_DEFAULTS.momentum, biasCorrection: OPTIMIZER_DEFAULTS.biasCorrection, totalSteps, seed: 0,
    });
  }

  /** One update of w in place with gradient g at step t (1-based, as the optimizer counts); seed keys noise and drop. */
  step(w: Float32Array, g: Float32Array, t: number, seed: number): void {
    if (!this.scalars) throw new Error('RuleSandbox: reset() before step()');
    this.tensor.w = w;
    this.tensor.g = g;
    this.kernel(this.tensors, this.scalars.fill(t), seed, t);
  }
}
