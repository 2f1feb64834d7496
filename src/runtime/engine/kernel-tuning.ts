// Picks the child engine's convolution kernels by timing them on its own device, as cuDNN's benchmark mode picks its
// algorithms: every combination of the direct and tiled variants (which give the same bits, so only speed differs)
// runs forward and backward passes of throwaway children in every slot, and the fastest stays.
import { compileRule } from '../../compiler';
import { NOS_SCALAR_COUNT } from '../../compiler/kernel-abi';
import type { ChildEngine, ConvKernelChoice } from './child-engine';
import type { ChildInputs } from './child-inputs';

export interface KernelTiming { kernels: ConvKernelChoice; seconds: number }
/** The combination the engine now runs with, and each one's time for the timed steps. */
export interface KernelTuning { chosen: ConvKernelChoice; timings: KernelTiming[] }

const COMBINATIONS: ConvKernelChoice[] = [
  { conv: 'direct', wgrad: 'direct' }, { conv: 'tiled', wgrad: 'direct' },
  { conv: 'direct', wgrad: 'tiled' }, { conv: 'tiled', wgrad: 'tiled' },
];

/**
 * Times `steps` training steps (forward and backward, no update: the children stay as they started) of a child in
 * every slot, after one step of warm-up, for each combination the model can use; the engine keeps the fastest.
 * Slots are left holding throwaway children: start real ones over them.  Not while a round runs.  `stop` ends the
 * timing early (the engine is closing): the fastest so far stays, or the direct kernels.
 */
export async function tuneConvKernels(engine: ChildEngine, inputs: ChildInputs, steps = 2, stop: () => boolean = () => false): Promise<KernelTuning> {
  const timed = Math.min(steps, engine.stepsPerRound);
  const slots = Array.from({ length: engine.capacity }, (_, i) => i);
  const flat = new Float32Array(slots.length * engine.paramCount);
  slots.forEach((s) => flat.set(inputs.initialWeights(s), s * engine.paramCount));
  engine.start(slots, flat);
  // A handle the round needs (with update: false it never runs).  It stays loaded: the engine's rule cache hands the
  // same handle to a job of the same rule, which may already hold it.
  const handle = await engine.ruleHandleAsync(compileRule('sgd'));
  const order = inputs.order(0, 0);
  const round = (n: number) => engine.runRound({
    slots, orders: [order], orderOf: slots.map(() => 0), t0: slots.map(() => 0), seeds: slots, update: false,
    scalars: slots.map(() => new Float32Array(n * NOS_SCALAR_COUNT)), rules: slots.map(() => handle), steps: n,
  });
  const timings: KernelTiming[] = [];
  for (const kernels of COMBINATIONS) {
    if (stop()) break;
    try {
      engine.setKernels(kernels);
    } catch {
      continue; // a model the tiled weight gradient cannot take
    }
    await round(1);
    const began = process.hrtime.bigint();
    await round(timed);
    timings.push({ kernels, seconds: Number(process.hrtime.bigint() - began) / 1e9 });
  }
  const best = timings.reduce((a, b) => (b.seconds < a.seconds ? b : a), timings[0] ?? { kernels: COMBINATIONS[0], seconds: NaN });
  engine.setKernels(best.kernels);
  return { chosen: best.kernels, timings };
}
