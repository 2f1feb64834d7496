// Picks the child engine's convolution kernels by timing them on its own device, as cuDNN's benchmark mode picks an
// algorithm per convolution: the direct and tiled variants give the same bits, so only speed differs, and each
// kernel of each convolution layer is tried tiled in turn (the layers' launches are independent), keeping what was
// faster.  The timed steps are forward and backward passes of throwaway children in every slot.
import { compileRule } from '../../compiler';
import { NOS_SCALAR_COUNT } from '../../compiler/kernel-abi';
import { CONV_LAYERS, kernelChoice, perLayer, type ChildEngine, type ConvKernelChoice, type KernelVariant } from './child-engine';
import type { ChildInputs } from './child-inputs';

export interface KernelTiming { kernels: ConvKernelChoice; seconds: number }
/** The kernels the engine now runs with, and each tried combination's time for the timed steps, in the order tried. */
export interface KernelTuning { chosen: ConvKernelChoice; timings: KernelTiming[] }

/** Seconds the engine takes with `kernels`, or null where it cannot run them (a layer too wide for the tiled kernel). */
export type TimeKernels = (kernels: ConvKernelChoice) => Promise<number | null>;

/** The knobs, turned one at a time: each kernel of each convolution layer. */
const KNOBS = (['wgrad', 'conv'] as const).flatMap((kernel) => Array.from({ length: CONV_LAYERS }, (_, layer) => ({ kernel, layer })));

/**
 * From every kernel direct, tries each knob tiled on top of the best so far and keeps it where that was faster:
 * 1 + 2 x CONV_LAYERS timings (all 16 combinations would take 16), and a choice per layer, which an engine-wide one
 * could not make.  `stop` ends it early: the best so far stands.
 */
export async function chooseKernels(time: TimeKernels, stop: () => boolean = () => false): Promise<KernelTuning> {
  let best = kernelChoice({});
  const timings: KernelTiming[] = [];
  let bestSeconds = Infinity;
  for (const knob of [null, ...KNOBS]) {
    if (stop()) break;
    const layers: Record<'conv' | 'wgrad', KernelVariant[]> = { conv: perLayer(best.conv), wgrad: perLayer(best.wgrad) };
    if (knob) layers[knob.kernel][knob.layer] = 'tiled';
    const kernels = kernelChoice(layers);
    const seconds = await time(kernels);
    if (seconds === null) continue;
    timings.push({ kernels, seconds });
    if (seconds < bestSeconds) {
      best = kernels;
      bestSeconds = seconds;
    }
  }
  return { chosen: best, timings };
}

/**
 * Times `steps` training steps (forward and backward, no update: the children stay as they started) of a child in
 * every slot, after one step of warm-up, for each combination chooseKernels tries; the engine keeps the chosen one.
 * Slots are left holding throwaway children: start real ones over them.  Not while a round runs.  `stop` ends the
 * timing early (the engine is closing).
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
  const tuning = await chooseKernels(async (kernels) => {
    try {
      engine.setKernels(kernels);
    } catch {
      return null; // a layer the tiled weight gradient cannot take
    }
    await round(1);
    const began = process.hrtime.bigint();
    await round(timed);
    return Number(process.hrtime.bigint() - began) / 1e9;
  }, stop);
  engine.setKernels(tuning.chosen);
  return tuning;
}
