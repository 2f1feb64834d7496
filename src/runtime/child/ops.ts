// Differentiable layers: each emits its forward ONNX nodes and records the nodes of its backward pass on the tape.
import type { GraphBuilder, Value } from './graph';
import { OnnxDataType } from './onnx-proto';

function value(name: string, shape: number[], requiresGrad: boolean): Value {
  return { name, shape, requiresGrad };
}

const NCHW_SWAP_BATCH_CHANNEL = [1, 0, 2, 3];

/** 2-D convolution, stride 1, zero padding `pad`, weight [out, in, k, k], optional bias [out] (PyTorch layout). */
export function conv2d(b: GraphBuilder, x: Value, weight: Value, bias: Value | null, pad: number): Value {
  const [n, c, h, w] = x.shape;
  const [outC, inC, kh, kw] = weight.shape;
  if (inC !== c) throw new Error(`conv2d: input has ${c} channels but the weight expects ${inC}`);
  if (kh !== kw || pad > kh - 1) throw new Error(`conv2d: needs a square kernel and pad <= k-1, got ${kh}x${kw} pad ${pad}`);
  const pads = [pad, pad, pad, pad];
  const outShape = [n, outC, h + 2 * pad - kh + 1, w + 2 * pad - kw + 1];
  const inputs = bias ? [x.name, weight.name, bias.name] : [x.name, weight.name];
  const [y] = b.node('Conv', inputs, 1, { kernel_shape: [kh, kw], pads, strides: [1, 1] });
  const out = value(y, outShape, x.requiresGrad || weight.requiresGrad || (bias?.requiresGrad ?? false));
  b.record(out, (dy) => {
    if (x.requiresGrad) {
      // dx is the full correlation of dy with the weight flipped in space and with in/out channels swapped:
      // a plain Conv (onnxruntime's fast path; its ConvTranspose is several times slower here).
      const [swapped] = b.node('Transpose', [weight.name], 1, { perm: NCHW_SWAP_BATCH_CHANNEL });
      const far = -(2 ** 53);
      const [flipped] = b.node('Slice', [swapped, b.int64([-1, -1]), b.int64([far, far]), b.int64([2, 3]), b.int64([-1, -1])]);
      const back = kh - 1 - pad;
      const [dx] = b.node('Conv', [dy.name, flipped], 1, { kernel_shape: [kh, kw], pads: [back, back, back, back], strides: [1, 1] });
      b.accumulate(x, value(dx, x.shape, false));
    }
    if (weight.requiresGrad) {
      // dW = dy^T (out, N*Ho*Wo) times im2col(x) (in*k*k, N*Ho*Wo)^T: one large GEMM.  (A Conv of x^T by dy^T
      // computes the same but runs as many thin GEMMs with a 14x14 "kernel", about 5x slower.)
      const [xT] = b.node('Transpose', [x.name], 1, { perm: NCHW_SWAP_BATCH_CHANNEL });
      const [ho, wo] = [outShape[2], outShape[3]];
      const [xPadded] = pad > 0 ? b.node('Pad', [xT, b.int64([0, 0, pad, pad, 0, 0, pad, pad])]) : [xT];
      const shifted: string[] = [];
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const [s] = b.node('Slice', [xPadded, b.int64([i, j]), b.int64([i + ho, j + wo]), b.int64([2, 3])]);
          const [u] = b.node('Unsqueeze', [s, b.int64([1])]);
          shifted.push(u);
        }
      }
      const [cols5] = b.node('Concat', shifted, 1, { axis: 1 }); // (in, k*k, N, Ho, Wo)
      const [cols] = b.node('Reshape', [cols5, b.int64([c * kh * kw, -1])]);
      const [dyT] = b.node('Transpose', [dy.name], 1, { perm: NCHW_SWAP_BATCH_CHANNEL });
      const [dy2] = b.node('Reshape', [dyT, b.int64([outC, -1])]);
      const [dw2] = b.node('Gemm', [dy2, cols], 1, { transB: 1 });
      const [dw] = b.node('Reshape', [dw2, b.int64(weight.shape)]);
      b.accumulate(weight, value(dw, weight.shape, false));
    }
    if (bias?.requiresGrad) {
      const [db] = b.node('ReduceSum', [dy.name, b.int64([0, 2, 3])], 1, { keepdims: 0 });
      b.accumulate(bias, value(db, bias.shape, false));
    }
  });
  return out;
}

/** Dense layer y = x W^T + bias with weight [out, in] (PyTorch layout). */
export function dense(b: GraphBuilder, x: Value, weight: Value, bias: Value): Value {
  const [n, inF] = x.shape;
  const [outF, wIn] = weight.shape;
  if (wIn !== inF) throw new Error(`dense: input has ${inF} features but the weight expects ${wIn}`);
  const [y] = b.node('Gemm', [x.name, weight.name, bias.name], 1, { transB: 1 });
  const out = value(y, [n, outF], x.requiresGrad || weight.requiresGrad || bias.requiresGrad);
  b.record(out, (dy) => {
    if (x.requiresGrad) {
      const [dx] = b.node('MatMul', [dy.name, weight.name]);
      b.accumulate(x, value(dx, x.shape, false));
    }
    if (weight.requiresGrad) {
      const [dw] = b.node('Gemm', [dy.name, x.name], 1, { transA: 1 });
      b.accumulate(weight, value(dw, weight.shape, false));
    }
    if (bias.requiresGrad) {
      const [db] = b.node('ReduceSum', [dy.name, b.int64([0])], 1, { keepdims: 0 });
      b.accumulate(bias, value(db, bias.shape, false));
    }
  });
  return out;
}

export function relu(b: GraphBuilder, x: Value): Value {
  const [y] = b.node('Relu', [x.name]);
  const out = value(y, x.shape, x.requiresGrad);
  b.record(out, (dy) => {
    const [positive] = b.node('Greater', [y, b.scalar(0)]);
    const [maskF] = b.node('Cast', [positive], 1, { to: b.dataType });
    const [dx] = b.node('Mul', [dy.name, maskF]);
    b.accumulate(x, value(dx, x.shape, false));
  });
  return out;
}

/**
 * 2x2 max pooling with stride 2, floored as PyTorch's MaxPool2d(2) and ONNX's MaxPool: an odd last row or column is
 * in no window.  The gradient goes to the window element equal to the window's max (a mask from comparing the input
 * with the upsampled max): with real-valued inputs ties have probability zero; on an exact tie every tied element
 * gets the gradient (PyTorch gives it to the first).  In onnxruntime this is about 2x faster than MaxPool's Indices
 * output with ScatterElements, and faster than MaxUnpool.
 */
export function maxPool2(b: GraphBuilder, x: Value): Value {
  const [n, c, h, w] = x.shape;
  if (h < 2 || w < 2) throw new Error(`maxPool2: spatial size ${h}x${w} is smaller than the 2x2 window`);
  const [ph, pw] = [Math.floor(h / 2), Math.floor(w / 2)];
  const [y] = b.node('MaxPool', [x.name], 1, { kernel_shape: [2, 2], strides: [2, 2] });
  const out = value(y, [n, c, ph, pw], x.requiresGrad);
  b.record(out, (dy) => {
    // Nearest 2x upsampling has a dedicated fast path in onnxruntime's Resize; broadcasting over a 6-D window
    // view (x as [N,C,H/2,2,W/2,2] against the max as [N,C,H/2,1,W/2,1]) is about 4x slower.
    const scales = b.constant([1, 1, 2, 2], [4], OnnxDataType.FLOAT); // Resize takes float scales for any data type
    const resize = { mode: 'nearest', nearest_mode: 'floor', coordinate_transformation_mode: 'asymmetric' };
    const [yUp] = b.node('Resize', [y, '', scales], 1, resize);
    const [dyUp] = b.node('Resize', [dy.name, '', scales], 1, resize);
    // Odd sides: compare the windows' part of x, and pad the gradient with zeros for the row or column left out.
    const odd = h !== 2 * ph || w !== 2 * pw;
    const [windows] = odd ? b.node('Slice', [x.name, b.int64([0, 0]), b.int64([2 * ph, 2 * pw]), b.int64([2, 3])]) : [x.name];
    const [isMax] = b.node('Equal', [windows, yUp]);
    // Cast-and-multiply runs multi-threaded; Where with a broadcast scalar was about 5% of a step by itself.
    const [maskF] = b.node('Cast', [isMax], 1, { to: b.dataType });
    const [dxWindows] = b.node('Mul', [dyUp, maskF]);
    const [dx] = odd ? b.node('Pad', [dxWindows, b.int64([0, 0, 0, 0, 0, 0, h - 2 * ph, w - 2 * pw])]) : [dxWindows];
    b.accumulate(x, value(dx, x.shape, false));
  });
  return out;
}

export function flatten(b: GraphBuilder, x: Value): Value {
  const [n, ...rest] = x.shape;
  const features = rest.reduce((p, q) => p * q, 1);
  // -1 keeps the batch dimension free, so the same op serves the dynamic-batch evaluation graph.
  const [y] = b.node('Reshape', [x.name, b.int64([-1, features])]);
  const out = value(y, [n, features], x.requiresGrad);
  b.record(out, (dy) => {
    const [dx] = b.node('Reshape', [dy.name, b.int64(x.shape)]);
    b.accumulate(x, value(dx, x.shape, false));
  });
  return out;
}

export interface BatchNormTrainResult {
  y: Value;
  /** Per-channel batch mean and biased batch variance, for the host to fold into the running statistics. */
  mean: Value;
  variance: Value;
}

/**
 * Batch normalization in training mode over NCHW (or NC) input: normalizes with the batch statistics.
 * Full-size passes dominate the cost, so both directions lean on onnxruntime's fused per-channel affine
 * (BatchNormalization in inference mode).  Backward is the closed form, rewritten per channel as
 *   dx = k*dy + xc*B + C,  k = gamma*invstd,  B = -k*invstd^2*sum(dy*xc)/M,  C = -k*sum(dy)/M
 * (xc = x - mean, M elements per channel), which equals invstd*(dxhat - mean(dxhat) - xhat*mean(dxhat*xhat)).
 */
export function batchNormTrain(b: GraphBuilder, x: Value, gamma: Value, beta: Value, eps: number): BatchNormTrainResult {
  const c = x.shape[1];
  const axes = x.shape.length === 4 ? [0, 2, 3] : [0];
  const bcast = b.int64(x.shape.length === 4 ? [1, c, 1, 1] : [1, c]);
  const perChannel = b.int64([c]);
  const count = x.shape.reduce((p, q) => p * q, 1) / c;
  const [mean] = b.node('ReduceMean', [x.name], 1, { axes, keepdims: 1 });
  const [xc] = b.node('Sub', [x.name, mean]);
  // Mul then ReduceSum: onnxruntime's ReduceSumSquare is about twice as slow as the pair on these shapes.
  const [sq] = b.node('Mul', [xc, xc]);
  const [sumSq] = b.node('ReduceSum', [sq, b.int64(axes)], 1, { keepdims: 1 });
  const [variance] = b.node('Mul', [sumSq, b.scalar(1 / count)]);
  const [meanC] = b.node('Reshape', [mean, perChannel]);
  const [varC] = b.node('Reshape', [variance, perChannel]);
  const [y] = b.node('BatchNormalization', [x.name, gamma.name, beta.name, meanC, varC], 1, { epsilon: { float: eps } });
  const out = value(y, x.shape, x.requiresGrad || gamma.requiresGrad || beta.requiresGrad);
  b.record(out, (dy) => {
    const reduce = b.int64(axes);
    const [varEps] = b.node('Add', [variance, b.scalar(eps)]);
    const [std] = b.node('Sqrt', [varEps]);
    const [invstd] = b.node('Reciprocal', [std]);
    const [sumDy] = b.node('ReduceSum', [dy.name, reduce], 1, { keepdims: 1 });
    const [dyXc] = b.node('Mul', [dy.name, xc]);
    const [sumDyXc] = b.node('ReduceSum', [dyXc, reduce], 1, { keepdims: 1 });
    if (gamma.requiresGrad) {
      const [dgamma] = b.node('Mul', [sumDyXc, invstd]);
      const [dgammaC] = b.node('Reshape', [dgamma, perChannel]);
      b.accumulate(gamma, value(dgammaC, gamma.shape, false));
    }
    if (beta.requiresGrad) {
      const [dbeta] = b.node('Reshape', [sumDy, perChannel]);
      b.accumulate(beta, value(dbeta, beta.shape, false));
    }
    if (x.requiresGrad) {
      const [gammaB] = b.node('Reshape', [gamma.name, bcast]);
      const [k] = b.node('Mul', [gammaB, invstd]);
      const [invVar] = b.node('Mul', [invstd, invstd]);
      const [kInvVar] = b.node('Mul', [k, invVar]);
      const [bScaled] = b.node('Mul', [kInvVar, sumDyXc]);
      const [coefXc] = b.node('Mul', [bScaled, b.scalar(-1 / count)]);
      const [kSumDy] = b.node('Mul', [k, sumDy]);
      const [offset] = b.node('Mul', [kSumDy, b.scalar(-1 / count)]);
      const [coefXcC] = b.node('Reshape', [coefXc, perChannel]);
      const [offsetC] = b.node('Reshape', [offset, perChannel]);
      // xc*B + C as one fused per-channel affine: BatchNormalization with mean 0, variance 1, epsilon 0.
      const [affine] = b.node('BatchNormalization', [xc, coefXcC, offsetC, b.constant(new Array(c).fill(0), [c]), b.constant(new Array(c).fill(1), [c])], 1, {
        epsilon: { float: 0 },
      });
      const [dyK] = b.node('Mul', [dy.name, k]);
      const [dx] = b.node('Add', [dyK, affine]);
      b.accumulate(x, value(dx, x.shape, false));
    }
  });
  return { y: out, mean: value(meanC, [c], false), variance: value(varC, [c], false) };
}

/** Batch normalization in inference mode with the running statistics (one fused ONNX op). */
export function batchNormEval(b: GraphBuilder, x: Value, gamma: Value, beta: Value, runningMean: Value, runningVar: Value, eps: number): Value {
  const [y] = b.node('BatchNormalization', [x.name, gamma.name, beta.name, runningMean.name, runningVar.name], 1, {
    epsilon: { float: eps },
  });
  return value(y, x.shape, false);
}

/** Mean softmax cross-entropy of logits [N, K] against one-hot targets [N, K]; a scalar. */
export function softmaxCrossEntropy(b: GraphBuilder, logits: Value, oneHot: Value): Value {
  const [n] = logits.shape;
  const [logp] = b.node('LogSoftmax', [logits.name], 1, { axis: 1 });
  const [picked] = b.node('Mul', [oneHot.name, logp]);
  const [total] = b.node('ReduceSum', [picked], 1, { keepdims: 0 });
  const [loss] = b.node('Mul', [total, b.scalar(-1 / n)]);
  const out = value(loss, [], logits.requiresGrad);
  b.record(out, (dloss) => {
    const [p] = b.node('Exp', [logp]);
    const [diff] = b.node('Sub', [p, oneHot.name]);
    const [scale] = b.node('Mul', [dloss.name, b.scalar(1 / n)]);
    const [dlogits] = b.node('Mul', [diff, scale]);
    b.accumulate(logits, value(dlogits, logits.shape, false));
  });
  return out;
}

/** sum(x * weights): a scalar whose gradient with respect to x is `weights`; used to check gradients op by op. */
export function weightedSum(b: GraphBuilder, x: Value, weights: Value): Value {
  const [prod] = b.node('Mul', [x.name, weights.name]);
  const [total] = b.node('ReduceSum', [prod], 1, { keepdims: 0 });
  const out = value(total, [], x.requiresGrad);
  b.record(out, (dtotal) => {
    const [dx] = b.node('Mul', [weights.name, dtotal.name]);
    b.accumulate(x, value(dx, x.shape, false));
  });
  return out;
}

// Ops of the transfer tasks' networks (a residual network, a recurrent language model): the existing ops above are
// untouched, so the child networks' graphs stay byte for byte what they were.

/** A float zero tensor of v's shape, built at run time (works for dynamic dimensions too). */
function zerosLike(b: GraphBuilder, v: Value): string {
  const [shape] = b.node('Shape', [v.name]);
  const zero = { name: 'zero', dataType: b.dataType, dims: [1], raw: new Uint8Array(b.dataType === OnnxDataType.DOUBLE ? 8 : 4) };
  const [z] = b.node('ConstantOfShape', [shape], 1, { value: zero });
  return z;
}

function sameShape(op: string, x: Value, y: Value): void {
  if (x.shape.length !== y.shape.length || x.shape.some((d, i) => d !== y.shape[i])) {
    throw new Error(`${op}: shapes [${x.shape}] and [${y.shape}] differ`);
  }
}

/** Elementwise x + y of one shape (a residual connection): the gradient goes to both unchanged. */
export function add(b: GraphBuilder, x: Value, y: Value): Value {
  sameShape('add', x, y);
  const [z] = b.node('Add', [x.name, y.name]);
  const out = value(z, x.shape, x.requiresGrad || y.requiresGrad);
  b.record(out, (dz) => {
    b.accumulate(x, dz);
    b.accumulate(y, dz);
  });
  return out;
}

/** x + bias along the last axis (x [..., D], bias [D]); the bias gradient sums over every leading axis. */
export function addBias(b: GraphBuilder, x: Value, bias: Value): Value {
  const d = x.shape[x.shape.length - 1];
  if (bias.shape.length !== 1 || bias.shape[0] !== d) throw new Error(`addBias: bias [${bias.shape}] does not match the last axis of [${x.shape}]`);
  const [y] = b.node('Add', [x.name, bias.name]);
  const out = value(y, x.shape, x.requiresGrad || bias.requiresGrad);
  b.record(out, (dy) => {
    b.accumulate(x, dy);
    if (bias.requiresGrad) {
      const [db] = b.node('ReduceSum', [dy.name, b.int64(x.shape.slice(0, -1).map((_, i) => i))], 1, { keepdims: 0 });
      b.accumulate(bias, value(db, bias.shape, false));
    }
  });
  return out;
}

/** Elementwise x * y of one shape. */
export function mul(b: GraphBuilder, x: Value, y: Value): Value {
  sameShape('mul', x, y);
  const [z] = b.node('Mul', [x.name, y.name]);
  const out = value(z, x.shape, x.requiresGrad || y.requiresGrad);
  b.record(out, (dz) => {
    if (x.requiresGrad) {
      const [dx] = b.node('Mul', [dz.name, y.name]);
      b.accumulate(x, value(dx, x.shape, false));
    }
    if (y.requiresGrad) {
      const [dy] = b.node('Mul', [dz.name, x.name]);
      b.accumulate(y, value(dy, y.shape, false));
    }
  });
  return out;
}

/** The logistic function; its gradient y(1 - y) reuses the output. */
export function sigmoid(b: GraphBuilder, x: Value): Value {
  const [y] = b.node('Sigmoid', [x.name]);
  const out = value(y, x.shape, x.requiresGrad);
  b.record(out, (dy) => {
    const [oneMinus] = b.node('Sub', [b.scalar(1), y]);
    const [slope] = b.node('Mul', [y, oneMinus]);
    const [dx] = b.node('Mul', [dy.name, slope]);
    b.accumulate(x, value(dx, x.shape, false));
  });
  return out;
}

/** tanh; its gradient 1 - y^2 reuses the output. */
export function tanh(b: GraphBuilder, x: Value): Value {
  const [y] = b.node('Tanh', [x.name]);
  const out = value(y, x.shape, x.requiresGrad);
  b.record(out, (dy) => {
    const [sq] = b.node('Mul', [y, y]);
    const [slope] = b.node('Sub', [b.scalar(1), sq]);
    const [dx] = b.node('Mul', [dy.name, slope]);
    b.accumulate(x, value(dx, x.shape, false));
  });
  return out;
}

/** y = x W^T without a bias: x [N, in], weight [out, in] (PyTorch layout). */
export function linear(b: GraphBuilder, x: Value, weight: Value): Value {
  const [n, inF] = x.shape;
  const [outF, wIn] = weight.shape;
  if (x.shape.length !== 2 || wIn !== inF) throw new Error(`linear: input [${x.shape}] does not match the weight [${weight.shape}]`);
  const [y] = b.node('Gemm', [x.name, weight.name], 1, { transB: 1 });
  const out = value(y, [n, outF], x.requiresGrad || weight.requiresGrad);
  b.record(out, (dy) => {
    if (x.requiresGrad) {
      const [dx] = b.node('MatMul', [dy.name, weight.name]);
      b.accumulate(x, value(dx, x.shape, false));
    }
    if (weight.requiresGrad) {
      const [dw] = b.node('Gemm', [dy.name, x.name], 1, { transA: 1 });
      b.accumulate(weight, value(dw, weight.shape, false));
    }
  });
  return out;
}

/**
 * Rows of `table` [V, D] picked by the int64 `indices` (any shape): [...indices, D].  The gradient scatters each
 * picked row's gradient back and adds those of a row picked twice (ScatterND with reduction 'add').
 */
export function embedding(b: GraphBuilder, table: Value, indices: Value): Value {
  if (table.shape.length !== 2) throw new Error(`embedding: the table must be [V, D], got [${table.shape}]`);
  const [y] = b.node('Gather', [table.name, indices.name], 1, { axis: 0 });
  const out = value(y, [...indices.shape, table.shape[1]], table.requiresGrad);
  b.record(out, (dy) => {
    const [where] = b.node('Unsqueeze', [indices.name, b.int64([-1])]);
    const [dtable] = b.node('ScatterND', [zerosLike(b, table), where, dy.name], 1, { reduction: 'add' });
    b.accumulate(table, value(dtable, table.shape, false));
  });
  return out;
}

/** Splits x along `axis` into `parts` equal pieces; the gradient is their gradients concatenated (zeros where none). */
export function split(b: GraphBuilder, x: Value, axis: number, parts: number): Value[] {
  const size = x.shape[axis];
  if (!(size > 0) || size % parts !== 0) throw new Error(`split: axis ${axis} of [${x.shape}] does not split into ${parts} equal parts`);
  const shape = x.shape.map((d, i) => (i === axis ? size / parts : d));
  const names = b.node('Split', [x.name, b.int64(new Array(parts).fill(size / parts))], parts, { axis });
  const outs = names.map((n) => value(n, shape, x.requiresGrad));
  b.recordMulti(outs, (grads) => {
    const pieces = grads.map((g, i) => g?.name ?? zerosLike(b, outs[i]));
    const [dx] = b.node('Concat', pieces, 1, { axis });
    b.accumulate(x, value(dx, x.shape, false));
  });
  return outs;
}

/** x [T, ...] as T values [...] (axis 0 removed); the gradient stacks theirs back (zeros where none). */
export function unstack(b: GraphBuilder, x: Value): Value[] {
  const [t, ...rest] = x.shape;
  const names = b.node('Split', [x.name, b.int64(new Array(t).fill(1))], t, { axis: 0 });
  const outs = names.map((n) => {
    const [squeezed] = b.node('Squeeze', [n, b.int64([0])]);
    return value(squeezed, rest, x.requiresGrad);
  });
  b.recordMulti(outs, (grads) => {
    const pieces = grads.map((g, i) => b.node('Unsqueeze', [g?.name ?? zerosLike(b, outs[i]), b.int64([0])])[0]);
    const [dx] = b.node('Concat', pieces, 1, { axis: 0 });
    b.accumulate(x, value(dx, x.shape, false));
  });
  return outs;
}

/** Values of one shape stacked along a new axis 0: [T, ...]; the gradient is split back. */
export function stack(b: GraphBuilder, xs: Value[]): Value {
  for (const x of xs) sameShape('stack', xs[0], x);
  const unsqueezed = xs.map((x) => b.node('Unsqueeze', [x.name, b.int64([0])])[0]);
  const [y] = b.node('Concat', unsqueezed, 1, { axis: 0 });
  const out = value(y, [xs.length, ...xs[0].shape], xs.some((x) => x.requiresGrad));
  b.record(out, (dy) => {
    const pieces = b.node('Split', [dy.name, b.int64(new Array(xs.length).fill(1))], xs.length, { axis: 0 });
    xs.forEach((x, i) => {
      if (!x.requiresGrad) return;
      const [dx] = b.node('Squeeze', [pieces[i], b.int64([0])]);
      b.accumulate(x, value(dx, x.shape, false));
    });
  });
  return out;
}

/** x with another shape of the same size (one entry may be -1: the dynamic batch); the gradient reshapes back. */
export function reshape(b: GraphBuilder, x: Value, shape: number[]): Value {
  const [y] = b.node('Reshape', [x.name, b.int64(shape)]);
  const out = value(y, shape, x.requiresGrad);
  b.record(out, (dy) => {
    const [dx] = b.node('Reshape', [dy.name, b.int64(x.shape)]);
    b.accumulate(x, value(dx, x.shape, false));
  });
  return out;
}

/** The mean over the spatial axes of NCHW input: [N, C]; the gradient spreads dy/(H*W) over each plane. */
export function globalAvgPool(b: GraphBuilder, x: Value): Value {
  const [n, c, h, w] = x.shape;
  const [pooled] = b.node('GlobalAveragePool', [x.name]);
  const [y] = b.node('Reshape', [pooled, b.int64([-1, c])]);
  const out = value(y, [n, c], x.requiresGrad);
  b.record(out, (dy) => {
    const [scaled] = b.node('Mul', [dy.name, b.scalar(1 / (h * w))]);
    const [column] = b.node('Reshape', [scaled, b.int64([n, c, 1, 1])]);
    const [dx] = b.node('Expand', [column, b.int64(x.shape)]);
    b.accumulate(x, value(dx, x.shape, false));
  });
  return out;
}
