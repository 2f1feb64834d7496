// The op table: per unary and binary op of the IR, its arity, meaning (folded in double, evaluated in float32), cost and text per target.
//
// One home for what an op means.  The simplifier's constant folding reads `fold`, the reference interpreter runs
// `f32`, the schedule (schedule.ts) reads `flops` and `tabulate`, and every renderer writes an op with `text` of its
// language.  Conventions every target shares: sign(x) is (x > 0) - (x < 0) (so sign(NaN) = 0), clip keeps NaN,
// log and sqrt take |x|, x/y is x / (y + delta) with delta a per-step scalar, pow follows C's powf.
// drop is random: its value comes from a draw (schedule.ts and the dialects handle it), so it has no f32 or text.
import type { BinaryOp, UnaryOp } from './ir';

export type OpName = UnaryOp | BinaryOp;

/**
 * The languages an op is written in: C (the C++ and CUDA kernels, float), JS (float32 steps with Math.fround),
 * Python floats (an exported optimizer's per-step values), PyTorch tensors and TensorFlow.js tensors.
 */
export type OpLanguage = 'c' | 'js' | 'python' | 'torch' | 'tfjs';
export const OP_LANGUAGES: readonly OpLanguage[] = ['c', 'js', 'python', 'torch', 'tfjs'];

/** What an op's text is built from: operand texts, the op's parameter (clip's bound) and the target's literal. */
export interface OpTextArgs {
  a: string;
  b: string;
  param: number;
  lit: (x: number) => string;
}

export interface OpSpec {
  readonly name: OpName;
  readonly arity: 1 | 2;
  /** The value in double precision, for constant folding; null: never folded (div: its delta is per step; drop). */
  readonly fold: ((a: number, b: number, param: number) => number) | null;
  /** The float32 value every target computes from float32 operands (the interpreter's definition); null for drop. */
  readonly f32: ((a: number, b: number, param: number, delta: number) => number) | null;
  /** Arithmetic operations per element (docs/compiler.md, flopsPerElement). */
  readonly flops: number;
  /** Calls a libm function (expf, logf, powf): compiled targets may differ from f32 in the last bit. */
  readonly libm: boolean;
  /** Worth computing once per step for each value of a sign product (a select) rather than per element. */
  readonly tabulate: boolean;
  /** Source text per language; absent for drop (the dialects write its draw). */
  readonly text: Readonly<Record<OpLanguage, (x: OpTextArgs) => string>> | null;
}

const f32 = Math.fround;

/** C's powf special cases where JS's Math.pow differs: 1^y = 1 and (-1)^(+-inf) = 1, even for NaN y. */
export function powF32(x: number, y: number): number {
  if (x === 1 || y === 0) return 1;
  if (x === -1 && (y === Infinity || y === -Infinity)) return 1;
  return f32(Math.pow(x, y));
}

const F = 'Math.fround';

function op(spec: Omit<OpSpec, 'libm' | 'tabulate'> & Partial<Pick<OpSpec, 'libm' | 'tabulate'>>): OpSpec {
  return Object.freeze({ libm: false, tabulate: false, ...spec });
}

export const OPS: Readonly<Record<OpName, OpSpec>> = Object.freeze({
  neg: op({
    name: 'neg', arity: 1, flops: 1,
    fold: (a) => -a,
    f32: (a) => -a,
    text: { c: ({ a }) => `(-${a})`, js: ({ a }) => `(-${a})`, python: ({ a }) => `(-${a})`, torch: ({ a }) => `(-${a})`, tfjs: ({ a }) => `tf.neg(${a})` },
  }),
  exp: op({
    name: 'exp', arity: 1, flops: 1, libm: true, tabulate: true,
    fold: (a) => Math.exp(a),
    f32: (a) => f32(Math.exp(a)),
    text: { c: ({ a }) => `expf(${a})`, js: ({ a }) => `${F}(Math.exp(${a}))`, python: ({ a }) => `_exp(${a})`, torch: ({ a }) => `torch.exp(${a})`, tfjs: ({ a }) => `tf.exp(${a})` },
  }),
  log: op({
    name: 'log', arity: 1, flops: 1, libm: true, tabulate: true,
    fold: (a) => Math.log(Math.abs(a)),
    f32: (a) => f32(Math.log(Math.abs(a))),
    text: {
      c: ({ a }) => `logf(fabsf(${a}))`, js: ({ a }) => `${F}(Math.log(Math.abs(${a})))`, python: ({ a }) => `_log(abs(${a}))`,
      torch: ({ a }) => `torch.log(torch.abs(${a}))`, tfjs: ({ a }) => `tf.log(tf.abs(${a}))`,
    },
  }),
  sqrt: op({
    name: 'sqrt', arity: 1, flops: 1, tabulate: true,
    fold: (a) => Math.sqrt(Math.abs(a)),
    f32: (a) => f32(Math.sqrt(Math.abs(a))),
    text: {
      c: ({ a }) => `sqrtf(fabsf(${a}))`, js: ({ a }) => `${F}(Math.sqrt(Math.abs(${a})))`, python: ({ a }) => `math.sqrt(abs(${a}))`,
      torch: ({ a }) => `torch.sqrt(torch.abs(${a}))`, tfjs: ({ a }) => `tf.sqrt(tf.abs(${a}))`,
    },
  }),
  clip: op({
    name: 'clip', arity: 1, flops: 1, tabulate: true,
    fold: (a, _b, l) => Math.min(Math.max(a, -l), l),
    f32: (a, _b, param) => { const l = f32(param); return a < -l ? -l : a > l ? l : a; },
    text: {
      c: ({ a, param, lit }) => `nos_clip(${a}, ${lit(param)})`,
      js: ({ a, param, lit }) => { const l = lit(param); return `(${a} < -${l} ? -${l} : (${a} > ${l} ? ${l} : ${a}))`; },
      python: ({ a, param, lit }) => `_clip(${a}, ${lit(param)})`,
      torch: ({ a, param, lit }) => `torch.clamp(${a}, -${lit(param)}, ${lit(param)})`,
      tfjs: ({ a, param, lit }) => `tf.clipByValue(${a}, -${lit(param)}, ${lit(param)})`,
    },
  }),
  drop: op({ name: 'drop', arity: 1, flops: 1, tabulate: true, fold: null, f32: null, text: null }),
  sign: op({
    name: 'sign', arity: 1, flops: 1,
    fold: (a) => Math.sign(a),
    f32: (a) => (a > 0 ? 1 : a < 0 ? -1 : 0),
    text: {
      c: ({ a }) => `nos_sign(${a})`, js: ({ a }) => `(${a} > 0 ? 1 : (${a} < 0 ? -1 : 0))`, python: ({ a }) => `_sign(${a})`,
      torch: ({ a }) => `torch.sign(${a})`, tfjs: ({ a }) => `tf.sign(${a})`,
    },
  }),
  sigmoid: op({
    name: 'sigmoid', arity: 1, flops: 1, libm: true, tabulate: true,
    fold: (a) => 1 / (1 + Math.exp(-a)),
    f32: (a) => f32(1 / f32(1 + f32(Math.exp(-a)))),
    text: {
      c: ({ a }) => `nos_sigmoid(${a})`, js: ({ a }) => `${F}(1 / ${F}(1 + ${F}(Math.exp(-${a}))))`, python: ({ a }) => `_sigmoid(${a})`,
      torch: ({ a }) => `torch.sigmoid(${a})`, tfjs: ({ a }) => `tf.sigmoid(${a})`,
    },
  }),
  add: op({
    name: 'add', arity: 2, flops: 1,
    fold: (a, b) => a + b,
    f32: (a, b) => f32(a + b),
    text: { c: ({ a, b }) => `(${a} + ${b})`, js: ({ a, b }) => `${F}(${a} + ${b})`, python: ({ a, b }) => `(${a} + ${b})`, torch: ({ a, b }) => `(${a} + ${b})`, tfjs: ({ a, b }) => `tf.add(${a}, ${b})` },
  }),
  sub: op({
    name: 'sub', arity: 2, flops: 1,
    fold: (a, b) => a - b,
    f32: (a, b) => f32(a - b),
    text: { c: ({ a, b }) => `(${a} - ${b})`, js: ({ a, b }) => `${F}(${a} - ${b})`, python: ({ a, b }) => `(${a} - ${b})`, torch: ({ a, b }) => `(${a} - ${b})`, tfjs: ({ a, b }) => `tf.sub(${a}, ${b})` },
  }),
  mul: op({
    name: 'mul', arity: 2, flops: 1,
    fold: (a, b) => a * b,
    f32: (a, b) => f32(a * b),
    text: { c: ({ a, b }) => `(${a} * ${b})`, js: ({ a, b }) => `${F}(${a} * ${b})`, python: ({ a, b }) => `(${a} * ${b})`, torch: ({ a, b }) => `(${a} * ${b})`, tfjs: ({ a, b }) => `tf.mul(${a}, ${b})` },
  }),
  div: op({
    name: 'div', arity: 2, flops: 2, tabulate: true,
    fold: null,
    f32: (a, b, _p, delta) => f32(a / f32(b + delta)),
    text: {
      c: ({ a, b }) => `(${a} / (${b} + delta))`, js: ({ a, b }) => `${F}(${a} / ${F}(${b} + delta))`, python: ({ a, b }) => `_div(${a}, ${b} + delta)`,
      torch: ({ a, b }) => `(${a} / (${b} + delta))`, tfjs: ({ a, b }) => `tf.div(${a}, tf.add(${b}, delta))`,
    },
  }),
  pow: op({
    name: 'pow', arity: 2, flops: 1, libm: true, tabulate: true,
    fold: (a, b) => Math.pow(a, b),
    f32: (a, b) => powF32(a, b),
    text: {
      c: ({ a, b }) => `nos_pow(${a}, ${b})`, js: ({ a, b }) => `nos_pow(${a}, ${b})`, python: ({ a, b }) => `_pow(${a}, ${b})`,
      torch: ({ a, b }) => `torch.pow(${a}, ${b})`, tfjs: ({ a, b }) => `tf.pow(${a}, ${b})`,
    },
  }),
});

/** The text of `op` over operand texts `a` (and `b`) in `language`; throws for drop, which has no plain text. */
export function opText(language: OpLanguage, name: OpName, args: OpTextArgs): string {
  const spec = OPS[name];
  if (!spec?.text) throw new Error(`op '${String(name)}' has no ${language} text (drop is written by the dialect's draw)`);
  return spec.text[language](args);
}
