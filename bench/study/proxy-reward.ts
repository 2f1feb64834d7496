// A cheap stand-in reward for tuning the controller: the paper's protocol (learning-rate sweep 1e-5..10, the best
// rate trains longer, reward = held-out accuracy, divergence = 0) on softmax regression over 7x7 Fashion-MNIST,
// with the rule's own JS kernel. About 10 ms a rule against about 2 CPU seconds for the quick protocol, so thousands
// of controller samples take minutes. Its rewards are not the quick protocol's: it ranks settings, it is no result.
import { createOptimizer } from '../../src/runtime/optimizer';
import { loadTrainingData, prepareSplits, type Labels } from '../../src/runtime/child/data';
import { SeededRandom } from '../../src/runtime/child/random';

const SIDE = 7;
const FEATURES = SIDE * SIDE;
const CLASSES = 10;
const LRS = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10];
const BATCH = 50;

export interface ProxyData { train: { x: Float32Array; y: Labels; count: number }; validation: { x: Float32Array; y: Labels; count: number } }

/** 2,000 training and 1,000 held-out examples, each image averaged over 4x4 blocks to 7x7. */
export function loadProxyData(dataPath?: string): ProxyData {
  const prepared = prepareSplits(loadTrainingData(dataPath), 2000, 1000);
  if (prepared.height !== 28 || prepared.width !== 28 || prepared.channels !== 1) throw new Error('the proxy reward expects 28x28 grey images (MNIST or Fashion-MNIST)');
  const shrink = (images: Float32Array, count: number) => {
    const x = new Float32Array(count * FEATURES);
    for (let i = 0; i < count; i++) {
      for (let p = 0; p < 28 * 28; p++) x[i * FEATURES + Math.floor(p / 28 / 4) * SIDE + Math.floor((p % 28) / 4)] += images[i * 784 + p] / 16;
    }
    return x;
  };
  return {
    train: { x: shrink(prepared.train.images, prepared.train.count), y: prepared.train.labels, count: prepared.train.count },
    validation: { x: shrink(prepared.validation.images, prepared.validation.count), y: prepared.validation.labels, count: prepared.validation.count },
  };
}

/** Mean cross-entropy and accuracy of weights w (FEATURES x CLASSES) and bias b on a split; fills grads when given. */
function lossAndGrad(w: Float32Array, b: Float32Array, x: Float32Array, y: Labels, rows: ArrayLike<number>, gw?: Float32Array, gb?: Float32Array): { loss: number; accuracy: number } {
  gw?.fill(0);
  gb?.fill(0);
  const logits = new Float64Array(CLASSES);
  let loss = 0;
  let correct = 0;
  for (let r = 0; r < rows.length; r++) {
    const i = rows[r];
    let max = -Infinity;
    for (let c = 0; c < CLASSES; c++) {
      let z = b[c];
      for (let f = 0; f < FEATURES; f++) z += x[i * FEATURES + f] * w[f * CLASSES + c];
      logits[c] = z;
      if (z > max) max = z;
    }
    let sum = 0;
    for (let c = 0; c < CLASSES; c++) sum += Math.exp(logits[c] - max);
    loss += Math.log(sum) + max - logits[y[i]];
    let argmax = 0;
    for (let c = 1; c < CLASSES; c++) if (logits[c] > logits[argmax]) argmax = c;
    if (argmax === y[i]) correct++;
    if (gw && gb) {
      for (let c = 0; c < CLASSES; c++) {
        const d = (Math.exp(logits[c] - max) / sum - (c === y[i] ? 1 : 0)) / rows.length;
        gb[c] += d;
        for (let f = 0; f < FEATURES; f++) gw[f * CLASSES + c] += d * x[i * FEATURES + f];
      }
    }
  }
  return { loss: loss / rows.length, accuracy: correct / rows.length };
}

function train(rule: string, lr: number, epochs: number, seed: number, data: ProxyData): { ok: boolean; w: Float32Array; b: Float32Array } {
  const rng = new SeededRandom(seed);
  const w = Float32Array.from({ length: FEATURES * CLASSES }, () => rng.uniform(-0.05, 0.05));
  const b = new Float32Array(CLASSES);
  const gw = new Float32Array(w.length);
  const gb = new Float32Array(CLASSES);
  const batches = Math.floor(data.train.count / BATCH);
  const optimizer = createOptimizer(rule, { lr, device: 'js', totalSteps: epochs * batches, seed });
  const order = Array.from({ length: data.train.count }, (_, i) => i);
  let first = NaN;
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      rng.shuffle(order);
      for (let k = 0; k < batches; k++) {
        const { loss } = lossAndGrad(w, b, data.train.x, data.train.y, order.slice(k * BATCH, (k + 1) * BATCH), gw, gb);
        if (Number.isNaN(first)) first = loss;
        if (!Number.isFinite(loss) || loss > 1e3 * first) return { ok: false, w, b };
        optimizer.update([w, b], [gw, gb]);
      }
    }
  } finally {
    optimizer.dispose();
  }
  return { ok: w.every(Number.isFinite) && b.every(Number.isFinite), w, b };
}

/** The proxy reward of a rule (infix or canonical text): held-out accuracy in [0, 1], 0 when every rate diverges. */
export function proxyReward(rule: string, seed: number, data: ProxyData): number {
  const all = Array.from({ length: data.validation.count }, (_, i) => i);
  let best: { lr: number; accuracy: number } | null = null;
  for (const lr of LRS) {
    const run = train(rule, lr, 1, seed, data);
    if (!run.ok) continue;
    const { accuracy } = lossAndGrad(run.w, run.b, data.validation.x, data.validation.y, all);
    if (!best || accuracy > best.accuracy) best = { lr, accuracy };
  }
  if (!best) return 0;
  const final = train(rule, best.lr, 3, seed, data);
  return final.ok ? lossAndGrad(final.w, final.b, data.validation.x, data.validation.y, all).accuracy : 0;
}
