// Two training steps of a convnet child engine with given convolution kernels, for holding the tiled kernels to the
// direct ones bit for bit (test/runtime/engine/engine-tiled.test.ts on the twin, test/gpu/engine.test.ts on a GPU) and
// the twin's builds to each other (twin-order.test.ts).
import assert from 'node:assert/strict';
import { compileRule } from '../../src/compiler';
import { NOS_SCALAR_COUNT } from '../../src/compiler/kernel-abi';
import type { PreparedData } from '../../src/runtime/child/data';
import { convNet } from '../../src/runtime/child/models';
import { ChildEngine, EngineField, type ConvKernelChoice, type EngineDevice } from '../../src/runtime/engine/child-engine';
import { StepScalars } from '../../src/runtime/scalars';
import { seededRandom } from './seeded-random';

/** Shapes that stress the tiling: slabs that do not divide the height, a batch that does not divide the image chunks, odd sides. */
export const TILED_CASES: Array<{ shape: [number, number, number]; filters: number; batch: number }> = [
  { shape: [1, 28, 28], filters: 32, batch: 13 },  // the paper's child; 13 images: a short last chunk
  { shape: [3, 32, 32], filters: 8, batch: 5 },    // three input channels, slabs that do not divide the rows
  { shape: [2, 40, 40], filters: 16, batch: 3 },   // two channels; 40 columns: slabs of 16 and 8 rows
  { shape: [1, 19, 23], filters: 8, batch: 4 },    // odd sides: conv blocks half outside, rows no pooling window takes
];

function normals(count: number, seed: number, scale = 1): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: count }, () => scale * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()));
}

function split(count: number, pixels: number, seed: number): PreparedData['train'] {
  const random = seededRandom(seed + 1);
  return { images: normals(count * pixels, seed), labels: Uint8Array.from({ length: count }, () => Math.floor(random() * 10)), count };
}

export interface Trained { grads: Float32Array[]; params: Float32Array[]; evaluation: { correct: number[]; lossSum: number[] } }

export type Kernels = ConvKernelChoice;

/**
 * Two training steps of two children (sgd and adam) with `kernels`; each child's gradients and parameters after them,
 * and their scores on the held-out split.
 */
export async function trainTwoSteps(device: EngineDevice, kernels: Kernels, shape: [number, number, number], filters: number, batch: number, cacheDir?: string): Promise<Trained> {
  const model = convNet(shape, 10, batch, filters);
  const engine = ChildEngine.create({ device, model, capacity: 2, batchSize: batch, stepsPerRound: 2, cacheDir, ...kernels, threads: 2 });
  try {
    const pixels = shape[0] * shape[1] * shape[2];
    engine.setData(split(4 * batch, pixels, 5), split(batch, pixels, 9));
    engine.start([0, 1], normals(2 * engine.paramCount, 13, 0.2));
    const rules = ['sgd', 'adam'].map((r) => compileRule(r));
    const scalars = rules.map((info, k) => new StepScalars(info, {
      lr: 0.01, schedule: { kind: 'constant' }, betas: [0.9, 0.999, 0.999], delta: 1e-8, momentum: 0.9, biasCorrection: true, totalSteps: 10, seed: k,
    }));
    const order = Uint32Array.from({ length: 4 * batch }, (_, i) => (i * 7) % (4 * batch));
    const round = await engine.runRound({
      slots: [0, 1], orders: [order], orderOf: [0, 0], t0: [0, 0], seeds: [0, 1],
      scalars: scalars.map((s) => [1, 2].flatMap((t) => [...s.fill(t).slice(0, NOS_SCALAR_COUNT)])).map((rows) => Float32Array.from(rows)),
      rules: rules.map((info) => engine.ruleHandle(info)), steps: 2,
    });
    assert.deepEqual(round.dead, [false, false]);
    const grads = [0, 1].map((s) => engine.read(s, EngineField.grads));
    const params = [0, 1].map((s) => engine.read(s, EngineField.params));
    const scored = await engine.evaluate([0, 1]);
    return { grads, params, evaluation: { correct: [...scored.correct], lossSum: [...scored.lossSum] } };
  } finally {
    engine.close();
  }
}


/**
 * `kernels` and the direct ones on `device` from the same start: the same gradients and parameters, bit for bit, and
 * not all zero.  (The gradients go through the forward convolutions, the input gradient's and the weight gradients.)
 */
export async function assertTiledKernelsAgree(device: EngineDevice, kernels: Kernels, { shape, filters, batch }: typeof TILED_CASES[number], cacheDir?: string): Promise<void> {
  const direct = await trainTwoSteps(device, { conv: 'direct', wgrad: 'direct' }, shape, filters, batch, cacheDir);
  const tiled = await trainTwoSteps(device, kernels, shape, filters, batch, cacheDir);
  const conv = convNet(shape, 10, batch, filters).params.slice(0, 4).reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
  for (let k = 0; k < 2; k++) {
    assert.ok(direct.grads[k].subarray(0, conv).some((g) => g !== 0 && Number.isFinite(g)), `child ${k}: no convolution gradient`);
    const firstGrad = direct.grads[k].findIndex((g, i) => !Object.is(g, tiled.grads[k][i]));
    assert.equal(firstGrad, -1, `child ${k}: gradient ${firstGrad} is ${direct.grads[k][firstGrad]} direct, ${tiled.grads[k][firstGrad]} with ${JSON.stringify(kernels)}`);
    const firstParam = direct.params[k].findIndex((p, i) => !Object.is(p, tiled.params[k][i]));
    assert.equal(firstParam, -1, `child ${k}: parameter ${firstParam} differs`);
  }
  assert.deepEqual(tiled.evaluation, direct.evaluation, 'the held-out scores');
}
