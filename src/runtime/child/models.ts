// The child networks (the paper's two-layer convnet, a small MLP) and the transfer task's residual network:
// parameters, initialization and forward graphs.
import type { GraphBuilder, Value } from './graph';
import * as ops from './ops';
import type { SeededRandom } from './random';

export type ModelKind = 'convnet' | 'mlp' | 'resnet';

export interface ParamSpec {
  name: string;
  shape: number[];
  /** PyTorch's defaults: uniform(-bound, bound) with bound = 1/sqrt(fan_in) for conv and linear weights and biases. */
  init: { kind: 'uniform'; bound: number } | { kind: 'constant'; value: number } | { kind: 'normal'; std: number };
}

/** A batch-norm layer: its running statistics live on the host and are folded in after each training step. */
export interface BatchNormSpec {
  name: string;
  channels: number;
  /** Elements per channel in one batch (N*H*W), for the unbiased running variance. */
  elementsPerChannel: number;
}

export interface ForwardResult {
  logits: Value;
  /** Training mode only: per-layer batch statistics, in `batchNorms` order. */
  batchStats: Array<{ mean: Value; variance: Value }>;
}

export interface ModelSpec {
  kind: ModelKind;
  inputShape: [number, number, number];
  classes: number;
  params: ParamSpec[];
  batchNorms: BatchNormSpec[];
  /**
   * Emits the forward graph.  `params` maps parameter names to graph values; in eval mode `runningStats` maps
   * `<bn>.running_mean` and `<bn>.running_var` to graph values.
   */
  forward(b: GraphBuilder, x: Value, params: Record<string, Value>, mode: 'train' | 'eval', runningStats?: Record<string, Value>): ForwardResult;
}

export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;

function size(shape: number[]): number {
  return shape.reduce((p, q) => p * q, 1);
}

/** A standard normal draw from two uniforms (Box-Muller). */
function standardNormal(rng: SeededRandom): number {
  const u = 1 - rng.next(); // in (0, 1]: its log is finite
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}

/** Fills parameter arrays with PyTorch's default initialization drawn from `rng`. */
export function initializeParams(model: Pick<ModelSpec, 'params'>, params: Float32Array[], rng: SeededRandom): void {
  model.params.forEach((spec, i) => {
    const p = params[i];
    if (spec.init.kind === 'constant') p.fill(spec.init.value);
    else if (spec.init.kind === 'normal') for (let k = 0; k < p.length; k++) p[k] = spec.init.std * standardNormal(rng);
    else for (let k = 0; k < p.length; k++) p[k] = rng.uniform(-spec.init.bound, spec.init.bound);
  });
}

function conv(name: string, out: number, inC: number, k = 3): ParamSpec {
  return { name, shape: [out, inC, k, k], init: { kind: 'uniform', bound: 1 / Math.sqrt(inC * k * k) } };
}

function linear(name: string, out: number, inF: number): ParamSpec[] {
  const bound = 1 / Math.sqrt(inF);
  return [
    { name: `${name}.weight`, shape: [out, inF], init: { kind: 'uniform', bound } },
    { name: `${name}.bias`, shape: [out], init: { kind: 'uniform', bound } },
  ];
}

function batchNormParams(name: string, channels: number): ParamSpec[] {
  return [
    { name: `${name}.weight`, shape: [channels], init: { kind: 'constant', value: 1 } },
    { name: `${name}.bias`, shape: [channels], init: { kind: 'constant', value: 0 } },
  ];
}

/** Height and width after `pools` 2x2 max poolings, each floored as PyTorch's MaxPool2d(2): 11x9 -> 5x4 -> 2x2. */
export function pooledSides(h: number, w: number, pools: number): [number, number] {
  return [Math.floor(h / 2 ** pools), Math.floor(w / 2 ** pools)];
}

/**
 * The paper's child: conv3x3(32) -> BN -> ReLU -> maxpool2, twice, then a dense softmax layer.  Convs have no bias
 * (batch norm right after makes it redundant).  ReLU is applied after the pooling: max pooling commutes with ReLU
 * (both monotone), forward and gradient, and the ReLU then touches a quarter of the elements.
 */
export function convNet(inputShape: [number, number, number], classes: number, batchSize: number, filters = 32): ModelSpec {
  const [c, h, w] = inputShape;
  if (h < 4 || w < 4) throw new Error(`convnet: input ${h}x${w} is too small: two 2x2 poolings need sides of at least 4`);
  const [h1, w1] = pooledSides(h, w, 1);
  const [h2, w2] = pooledSides(h, w, 2);
  const flat = filters * h2 * w2;
  const params = [
    conv('conv1.weight', filters, c), ...batchNormParams('bn1', filters),
    conv('conv2.weight', filters, filters), ...batchNormParams('bn2', filters),
    ...linear('fc', classes, flat),
  ];
  const batchNorms = [
    { name: 'bn1', channels: filters, elementsPerChannel: batchSize * h * w },
    { name: 'bn2', channels: filters, elementsPerChannel: batchSize * h1 * w1 },
  ];
  return {
    kind: 'convnet', inputShape, classes, params, batchNorms,
    forward(b, x, p, mode, running) {
      const batchStats: ForwardResult['batchStats'] = [];
      let y = x;
      for (const [convName, bn] of [['conv1', 'bn1'], ['conv2', 'bn2']]) {
        y = ops.conv2d(b, y, p[`${convName}.weight`], null, 1);
        if (mode === 'train') {
          const r = ops.batchNormTrain(b, y, p[`${bn}.weight`], p[`${bn}.bias`], BN_EPS);
          batchStats.push({ mean: r.mean, variance: r.variance });
          y = r.y;
        } else {
          y = ops.batchNormEval(b, y, p[`${bn}.weight`], p[`${bn}.bias`], running![`${bn}.running_mean`], running![`${bn}.running_var`], BN_EPS);
        }
        y = ops.relu(b, ops.maxPool2(b, y));
      }
      return { logits: ops.dense(b, ops.flatten(b, y), p['fc.weight'], p['fc.bias']), batchStats };
    },
  };
}

/** A small MLP (flatten -> dense(hidden) -> ReLU -> dense) for fast tests and the quick protocol. */
export function mlp(inputShape: [number, number, number], classes: number, hidden = 100): ModelSpec {
  const features = size(inputShape);
  return {
    kind: 'mlp', inputShape, classes, batchNorms: [],
    params: [...linear('fc1', hidden, features), ...linear('fc2', classes, hidden)],
    forward(b, x, p) {
      const h1 = ops.relu(b, ops.dense(b, ops.flatten(b, x), p['fc1.weight'], p['fc1.bias']));
      return { logits: ops.dense(b, h1, p['fc2.weight'], p['fc2.bias']), batchStats: [] };
    },
  };
}

export interface ResNetShape {
  /** Channels of each stage; 2x2 max pooling halves the image between stages. */
  widths: number[];
  /** Basic blocks per stage. */
  blocks: number;
}

/**
 * A small residual network (the transfer task `convnet-large`): conv3x3 -> BN -> ReLU stem, then stages of basic
 * blocks, relu(bn(conv3x3(relu(bn(conv3x3(x))))) + shortcut(x)), where the shortcut is x itself or, where the width
 * changes, a 1x1 convolution; 2x2 max pooling between stages; global average pooling; a dense softmax layer.  As in
 * ResNet, convolutions followed by batch norm have no bias.
 */
export function resNet(inputShape: [number, number, number], classes: number, batchSize: number, shape: ResNetShape): ModelSpec {
  const [c, h, w] = inputShape;
  const pools = shape.widths.length - 1;
  if (h < 2 ** pools || w < 2 ** pools) throw new Error(`resnet: input ${h}x${w} is too small: ${pools} 2x2 poolings need sides of at least ${2 ** pools}`);
  const params: ParamSpec[] = [conv('stem.weight', shape.widths[0], c), ...batchNormParams('stem.bn', shape.widths[0])];
  const batchNorms: BatchNormSpec[] = [{ name: 'stem.bn', channels: shape.widths[0], elementsPerChannel: batchSize * h * w }];
  const blocks: Array<{ name: string; projection: boolean }> = [];
  let inC = shape.widths[0];
  shape.widths.forEach((width, stage) => {
    const [hs, ws] = pooledSides(h, w, stage);
    const elementsPerChannel = batchSize * hs * ws;
    for (let i = 0; i < shape.blocks; i++) {
      const name = `stage${stage + 1}.block${i + 1}`;
      params.push(conv(`${name}.conv1.weight`, width, inC), ...batchNormParams(`${name}.bn1`, width));
      params.push(conv(`${name}.conv2.weight`, width, width), ...batchNormParams(`${name}.bn2`, width));
      batchNorms.push({ name: `${name}.bn1`, channels: width, elementsPerChannel }, { name: `${name}.bn2`, channels: width, elementsPerChannel });
      if (inC !== width) params.push(conv(`${name}.shortcut.weight`, width, inC, 1));
      blocks.push({ name, projection: inC !== width });
      inC = width;
    }
  });
  params.push(...linear('fc', classes, inC));
  return {
    kind: 'resnet', inputShape, classes, params, batchNorms,
    forward(b, x, p, mode, running) {
      const batchStats: ForwardResult['batchStats'] = [];
      const bn = (y: Value, name: string): Value => {
        if (mode === 'eval') return ops.batchNormEval(b, y, p[`${name}.weight`], p[`${name}.bias`], running![`${name}.running_mean`], running![`${name}.running_var`], BN_EPS);
        const r = ops.batchNormTrain(b, y, p[`${name}.weight`], p[`${name}.bias`], BN_EPS);
        batchStats.push({ mean: r.mean, variance: r.variance });
        return r.y;
      };
      let y = ops.relu(b, bn(ops.conv2d(b, x, p['stem.weight'], null, 1), 'stem.bn'));
      let stage = 'stage1';
      for (const block of blocks) {
        const blockStage = block.name.split('.')[0];
        if (blockStage !== stage) { y = ops.maxPool2(b, y); stage = blockStage; }
        const inner = ops.relu(b, bn(ops.conv2d(b, y, p[`${block.name}.conv1.weight`], null, 1), `${block.name}.bn1`));
        const residual = bn(ops.conv2d(b, inner, p[`${block.name}.conv2.weight`], null, 1), `${block.name}.bn2`);
        const shortcut = block.projection ? ops.conv2d(b, y, p[`${block.name}.shortcut.weight`], null, 0) : y;
        y = ops.relu(b, ops.add(b, residual, shortcut));
      }
      return { logits: ops.dense(b, ops.globalAvgPool(b, y), p['fc.weight'], p['fc.bias']), batchStats };
    },
  };
}

/** The transfer task's residual network: widths 16, 32, 64 at 28x28, 14x14, 7x7 (Fashion-MNIST), one block each. */
export const RESNET_DEFAULT: ResNetShape = { widths: [16, 32, 64], blocks: 1 };

/** A protocol's widths: the convnet's filters per layer (default 32, the paper's), the MLP's hidden units (default 100). */
export interface ModelWidths { filters?: number; hidden?: number }

export function createModel(kind: ModelKind, inputShape: [number, number, number], classes: number, batchSize: number, widths: ModelWidths = {}): ModelSpec {
  if (kind === 'convnet') return convNet(inputShape, classes, batchSize, widths.filters);
  if (kind === 'mlp') return mlp(inputShape, classes, widths.hidden);
  if (kind === 'resnet') return resNet(inputShape, classes, batchSize, RESNET_DEFAULT);
  throw new Error(`unknown model '${kind as string}': expected 'convnet', 'mlp' or 'resnet'`);
}
