// How far a compiled kernel's w may lie from the interpreter's, element by element: a first-order bound from the operands' magnitudes.
//
// A compiled kernel (C++, CUDA) does the interpreter's float32 operations one for one, without FMA contraction, so
// every value matches bit for bit except where libm is called: expf, logf, powf, the sigmoid's expf and the noise's
// logf and cosf may differ from JS's double-then-round by an ulp or two.  Such a difference then travels through the
// rest of the rule and into w, where it can be many ulps of a result that cancels (-g + anoise + noise near 0) and yet
// tiny next to the operands.  So the tolerance is carried with the values: every node gets a bound on its absolute
// error from its operands' bounds (the op's double-precision meaning at the corners of the operands' error box), plus
// two ulps of its value where it calls libm, plus an ulp where a rounding may land on the other side; w carries its
// bound from step to step.  With no libm on its path an element's bound is 0, and the kernel must equal the
// interpreter bit for bit.  The state slots (m, v, y, mom) never see libm, so they must always be equal.
import { ElementEvaluator, type KernelRule } from '../../src/compiler/interpret';
import { INPUT_NAMES, type Node } from '../../src/compiler/ir';
import { Scalar, type JsTensor } from '../../src/compiler/kernel-abi';
import { OPS } from '../../src/compiler/ops';

/** One float32 ulp of |x| (at least the smallest normal's, 2^-149 for subnormals). */
export function ulpOf(x: number): number {
  const a = Math.abs(x);
  if (!Number.isFinite(a)) return Infinity;
  return a < 2 ** -126 ? 2 ** -149 : 2 ** (Math.floor(Math.log2(a)) - 23);
}

/** A noise draw's error over its std: logf and cosf an ulp off each: ulp(radius)·|cos| + radius·ulp(cos) + a rounding, radius <= 5.9. */
const NOISE_RELATIVE_TO_STD = 3 * 2 ** -21;

/** The bound of one node from its operands' values and bounds (x: the node's float32 value). */
function nodeBound(node: Node, x: number, a: number, ea: number, b: number, eb: number, delta: number, std: number): number {
  if (!Number.isFinite(x)) return Infinity;
  switch (node.kind) {
    case 'const': case 'decay': return 0;
    case 'noise': return std * NOISE_RELATIVE_TO_STD + ulpOf(x);
    case 'input': return ea;
    default: break;
  }
  const op = node.op;
  const libm = OPS[op].libm ? 2 * ulpOf(x) : 0;
  if (ea === 0 && eb === 0) return libm;
  if (op === 'sign') return Math.abs(a) > ea ? 0 : Infinity; // a sign that may flip is unbounded
  if (op === 'clip' || op === 'drop' || op === 'neg') return ea; // exact, or 1-Lipschitz (clip)
  const f = op === 'div' ? (p: number, q: number): number => p / (q + delta) : (p: number, q: number): number => OPS[op].fold!(p, q, node.kind === 'unary' ? node.param : 0);
  let worst = 0;
  for (const p of [a - ea, a + ea]) {
    for (const q of [b - eb, b + eb]) worst = Math.max(worst, Math.abs(f(p, q) - f(a, b)));
  }
  return worst + libm + ulpOf(x);
}

/**
 * Tracks, beside the interpreter, the bound of every tensor's w.  Call step() with the same arguments as
 * interpretStep, before it (it reads the state as it was); wBound[k][i] is then the bound of tensor k's element i.
 */
export class KernelErrorBound {
  readonly wBound: Float64Array[];
  private readonly evaluator: ElementEvaluator;

  constructor(private readonly rule: KernelRule, sizes: number[]) {
    this.wBound = sizes.map((n) => new Float64Array(n));
    this.evaluator = new ElementEvaluator(rule);
  }

  step(ts: JsTensor[], scalars: Float32Array, seed: number, step: number): void {
    const f32 = Math.fround;
    const e = this.evaluator;
    const uses = (s: string): boolean => (this.rule.state as readonly string[]).includes(s);
    const sc = (k: Scalar): number => scalars[k];
    const bounds = new Float64Array(e.order.length);
    const position = new Map(e.order.map((n, k) => [n.id, k]));
    const operand = (n: Node | undefined): [number, number] => (n ? [e.values[position.get(n.id)!], bounds[position.get(n.id)!]] : [0, 0]);
    ts.forEach((t, k) => {
      for (let i = 0; i < t.w.length; i++) {
        // The element's inputs exactly as interpretStep forms them (the state update is exact on every target).
        const g = t.g[i];
        const x = e.inputs;
        x.fill(0);
        x[0] = g; x[1] = f32(g * g); x[2] = f32(x[1] * g); x[6] = t.w[i];
        if (uses('m')) x[3] = f32(f32(f32(sc(Scalar.beta1) * t.s[0]![i]) + f32(sc(Scalar.oneMinusBeta1) * g)) * sc(Scalar.invBc1));
        if (uses('v')) x[4] = f32(f32(f32(sc(Scalar.beta2) * t.s[1]![i]) + f32(sc(Scalar.oneMinusBeta2) * x[1])) * sc(Scalar.invBc2));
        if (uses('y')) x[5] = f32(f32(f32(sc(Scalar.beta3) * t.s[2]![i]) + f32(sc(Scalar.oneMinusBeta3) * x[2])) * sc(Scalar.invBc3));
        if (uses('mom')) x[7] = f32(f32(sc(Scalar.momentum) * t.s[3]![i]) + g);
        const rule = e.evaluate(t.rngBase + i, scalars, seed, step);
        e.order.forEach((node, j) => {
          const kids = node.kind === 'unary' ? [node.arg] : node.kind === 'binary' ? [node.left, node.right] : [];
          const [a, ea] = node.kind === 'input' ? [0, node.name === INPUT_NAMES[6] ? this.wBound[k][i] : 0] : operand(kids[0]);
          const [b, eb] = operand(kids[1]);
          const std = node.kind === 'noise' ? sc(node.annealed ? Scalar.anoiseStd : Scalar.noiseStd) : 0;
          bounds[j] = nodeBound(node, e.values[j], a, ea, b, eb, sc(Scalar.delta), std);
        });
        const eRule = bounds[bounds.length - 1];
        const ew = this.wBound[k][i];
        const lr = sc(Scalar.lr);
        const change = f32(lr * rule);
        const next = f32(t.w[i] - change);
        this.wBound[k][i] = eRule === 0 && ew === 0 ? 0 : ew + Math.abs(lr) * eRule + ulpOf(change) + ulpOf(next);
      }
    });
  }
}

/**
 * The kernel's w against the interpreter's: within twice the bound (first order, so a margin of 2), bit for bit where
 * the bound is 0.  Infinities and NaN must match, and an unbounded element (a sign that may flip) is not compared.
 */
export function assertWithinBound(actual: Float32Array, expected: Float32Array, bound: Float64Array, what: string): void {
  if (actual.length !== expected.length) throw new Error(`${what}: ${actual.length} values, expected ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], x = expected[i];
    if (Object.is(a, x) || (Number.isNaN(a) && Number.isNaN(x)) || bound[i] === Infinity) continue;
    const diff = Math.abs(a - x);
    if (!(Number.isFinite(a) && Number.isFinite(x) && diff <= 2 * bound[i])) {
      throw new Error(`${what}[${i}]: kernel ${a}, interpreter ${x}: differ by ${diff}, bound ${bound[i]} (${(diff / ulpOf(x)).toFixed(1)} ulp of the result)`);
    }
  }
}
