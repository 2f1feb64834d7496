// Checks a graph's reverse-mode gradients against central finite differences of its scalar loss, element by element.
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, type Value } from '../../src/runtime/child/graph';
import { OnnxDataType } from '../../src/runtime/child/onnx-proto';
import { seededRandom } from './seeded-random';

type Floats = Float32Array | Float64Array;

/** One graph input: int64 inputs (indices) are fed as given and never differentiated. */
export interface GradientInput {
  name: string; shape: number[]; grad: boolean; fill?: (i: number, r: () => number) => number; int64?: boolean;
}

/**
 * Builds a graph whose scalar output 'loss' depends on the given inputs, then compares the graph's gradient outputs
 * with central differences of 'loss' for every element of every input that requires grad.
 */
export async function checkGradients(
  dataType: OnnxDataType.FLOAT | OnnxDataType.DOUBLE,
  specs: GradientInput[],
  body: (b: GraphBuilder, inputs: Record<string, Value>) => Value,
  opts: { eps: number; tol: number; seed?: number },
): Promise<void> {
  const b = new GraphBuilder('gradcheck', dataType);
  const inputs: Record<string, Value> = {};
  for (const s of specs) inputs[s.name] = s.int64 ? b.input(s.name, s.shape, false, OnnxDataType.INT64) : b.input(s.name, s.shape, s.grad);
  const loss = body(b, inputs);
  b.backward(loss);
  b.output(loss, 'loss');
  for (const s of specs) if (s.grad) b.output(b.gradOf(inputs[s.name]), `grad_${s.name}`);
  const session = await ort.InferenceSession.create(b.toBytes());
  const Arr = dataType === OnnxDataType.DOUBLE ? Float64Array : Float32Array;
  const typeName = dataType === OnnxDataType.DOUBLE ? 'float64' : 'float32';
  const r = seededRandom(opts.seed ?? 1);
  const data: Record<string, Floats> = {};
  const indices: Record<string, BigInt64Array> = {};
  for (const s of specs) {
    const n = s.shape.reduce((p, q) => p * q, 1);
    if (s.int64) {
      indices[s.name] = BigInt64Array.from({ length: n }, (_, i) => BigInt(s.fill ? s.fill(i, r) : 0));
      continue;
    }
    const arr = new Arr(n);
    for (let i = 0; i < n; i++) arr[i] = s.fill ? s.fill(i, r) : r() * 2 - 1;
    data[s.name] = arr;
  }
  const run = async () => {
    const feeds: Record<string, ort.Tensor> = {};
    for (const s of specs) feeds[s.name] = s.int64 ? new ort.Tensor('int64', indices[s.name], s.shape) : new ort.Tensor(typeName, data[s.name], s.shape);
    return session.run(feeds);
  };
  const analytic = await run();
  for (const s of specs) {
    if (!s.grad) continue;
    const g = analytic[`grad_${s.name}`].data as Floats;
    const arr = data[s.name];
    assert.equal(g.length, arr.length, `gradient of ${s.name} has the input's size`);
    let maxAbs = 0;
    for (const v of g) maxAbs = Math.max(maxAbs, Math.abs(v));
    for (let i = 0; i < arr.length; i++) {
      const orig = arr[i];
      arr[i] = orig + opts.eps;
      const plus = ((await run()).loss.data as Floats)[0];
      arr[i] = orig - opts.eps;
      const minus = ((await run()).loss.data as Floats)[0];
      arr[i] = orig;
      const numeric = (plus - minus) / (2 * opts.eps);
      const err = Math.abs(numeric - g[i]) / Math.max(1, maxAbs);
      assert.ok(err <= opts.tol, `d loss / d ${s.name}[${i}]: analytic ${g[i]} vs numeric ${numeric} (scaled error ${err} > ${opts.tol})`);
    }
  }
}


/**
 * A child trainer's gradients (one step on a random batch of 4 with labels 0, 2, 1, 0 of 3 classes) against central
 * differences of its float32 loss, every element of every parameter: `eps` small enough that no ReLU or max-pool
 * switch is crossed; float32 rounding of the loss divided by 2*eps leaves a few 1e-4, hence the tolerance 2e-3.
 */
export async function checkTrainerGradients(
  trainer: { batchImages: Float32Array; batchOneHot: Float32Array; params: Float32Array[]; grads: Float32Array[];
    model: { params: Array<{ name: string }> }; step(): Promise<number> },
  options: { imageSeed: number; eps: number },
): Promise<void> {
  const r = seededRandom(options.imageSeed);
  for (let i = 0; i < trainer.batchImages.length; i++) trainer.batchImages[i] = r() * 2 - 1;
  [0, 2, 1, 0].forEach((label, j) => { trainer.batchOneHot[j * 3 + label] = 1; });
  await trainer.step();
  const analytic = trainer.grads.map((g) => Float32Array.from(g));
  const { eps } = options;
  for (let k = 0; k < trainer.params.length; k++) {
    const p = trainer.params[k];
    let maxAbs = 0;
    for (const v of analytic[k]) maxAbs = Math.max(maxAbs, Math.abs(v));
    for (let i = 0; i < p.length; i++) {
      const orig = p[i];
      p[i] = orig + eps;
      const plus = await trainer.step();
      p[i] = orig - eps;
      const minus = await trainer.step();
      p[i] = orig;
      const numeric = (plus - minus) / (2 * eps);
      const err = Math.abs(numeric - analytic[k][i]) / Math.max(1, maxAbs);
      assert.ok(err <= 2e-3, `${trainer.model.params[k].name}[${i}]: analytic ${analytic[k][i]} vs numeric ${numeric}`);
    }
  }
}
