// The reference interpreter: one optimizer step over Float32Arrays, the definition every rendered kernel is checked against.
//
// Per element, in this order (kernel-abi.ts):
//   1. the state slots the rule uses are updated with this g:  m <- b1*m + omb1*g,  v <- b2*v + omb2*g2,
//      y <- b3*y + omb3*g3 (omb = 1 - beta from the host's scalars),  mom <- mu*mom + g;  the inputs m, v, y are then m*invBc1, v*invBc2, y*invBc3.
//   2. the rule is evaluated node by node in topological order;
//   3. w <- w - lr * rule.
// Every operation is rounded to float32 (Math.fround) right after it, the way C and CUDA compute in `float`, so the
// targets agree with this to within the last bits of their libm (and FMA contraction).  Each op's float32 value is
// the op table's (ops.ts), shared by every target: sign(NaN) = 0, clip keeps NaN, pow follows C's powf.
import { types } from 'node:util';
import type { Node, DecayName } from './ir';
import { INPUT_NAMES, children, topoOrder } from './ir';
import { DECAY_BASE, MAX_DECAYS, NOS_SCALAR_COUNT, Scalar, STATE_SLOTS, type JsTensor, type StateName } from './kernel-abi';
import { normal, philoxDraw, uniform } from './philox';
import { OPS, type OpName } from './ops';

/** What a kernel needs to know about a rule; the front end's RuleInfo is one. */
export interface KernelRule {
  root: Node;
  /** State slots the kernel updates, by name ('m', 'v', 'y', 'mom'). */
  state: readonly StateName[];
  /** Decay terms in scalar-slot order: the i-th reads scalars[DECAY_BASE + i]. */
  decays: ReadonlyArray<{ name: DecayName; n: number }>;
  canonical?: string;
  hash?: string;
}

const f32 = Math.fround;

export { powF32 } from './ops';

/** The float32 value of op `name` (the op table's definition); throws for an op the table does not know. */
export function evaluateOp(name: Exclude<OpName, 'drop'>, a: number, b: number, param: number, delta: number): number {
  const spec = OPS[name];
  if (!spec?.f32) throw new Error(`interpretStep: unknown op '${String(name)}'`);
  return spec.f32(a, b, param, delta);
}

/** The scalar slot of a decay node in this rule; throws if analysis did not list it. */
export function decaySlot(rule: KernelRule, name: DecayName, n: number): number {
  const i = rule.decays.findIndex((d) => d.name === name && (name === 'ld' || d.n === n));
  if (i < 0) throw new Error(`rule uses decay ${name}${name === 'ld' ? '' : `(${n})`} but its decay list does not name it`);
  if (i >= MAX_DECAYS) throw new Error(`rule has more than ${MAX_DECAYS} decay terms (the kernel ABI limit)`);
  return DECAY_BASE + i;
}

/** Check that the rule's state list covers every state input it reads and names only known slots. */
export function checkRuleState(rule: KernelRule): void {
  if (!rule || typeof rule !== 'object' || !rule.root || typeof rule.root.kind !== 'string'
    || !Array.isArray(rule.state) || !Array.isArray(rule.decays)) {
    throw new TypeError('expected a compiled rule (compileRule(text)) with root, state and decays');
  }
  for (const s of rule.state) {
    if (!STATE_SLOTS.includes(s)) throw new Error(`rule state names unknown slot '${String(s)}': expected one of ${STATE_SLOTS.join(', ')}`);
  }
  for (const node of topoOrder(rule.root)) {
    if (node.kind === 'input' && (node.name === 'm' || node.name === 'v' || node.name === 'y' || node.name === 'mom')
      && !rule.state.includes(node.name)) {
      throw new Error(`rule reads ${node.name} but its state list (${rule.state.join(', ') || 'empty'}) lacks it`);
    }
    if (node.kind === 'decay') decaySlot(rule, node.name, node.n);
  }
}

/** Argument checks shared by the interpreter and the JS kernels: what was expected, what was received, where. */
export function checkStepArguments(where: string, rule: KernelRule, ts: JsTensor[], scalars: Float32Array, seed: number, step: number): void {
  if (!Array.isArray(ts)) throw new TypeError(`${where}: tensors must be an array of {w, g, s, rngBase}`);
  if (!types.isFloat32Array(scalars) || scalars.length < NOS_SCALAR_COUNT) {
    throw new TypeError(`${where}: scalars must be a Float32Array of at least ${NOS_SCALAR_COUNT} values`);
  }
  for (const [name, x] of [['seed', seed], ['step', step]] as Array<[string, number]>) {
    if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) throw new RangeError(`${where}: ${name} must be a uint32, got ${x}`);
  }
  ts.forEach((t, k) => {
    // types.isFloat32Array also knows arrays made in another realm (vm contexts, some test runners).
    if (!t || !types.isFloat32Array(t.w) || !types.isFloat32Array(t.g)) {
      throw new TypeError(`${where}: tensor ${k}: w and g must be Float32Arrays`);
    }
    if (t.g.length !== t.w.length) throw new RangeError(`${where}: tensor ${k}: g has ${t.g.length} elements, w has ${t.w.length}`);
    if (!Number.isSafeInteger(t.rngBase) || t.rngBase < 0) throw new RangeError(`${where}: tensor ${k}: rngBase must be a safe integer >= 0, got ${t.rngBase}`);
    for (const name of rule.state) {
      const buf = t.s?.[STATE_SLOTS.indexOf(name)];
      if (!types.isFloat32Array(buf)) throw new TypeError(`${where}: tensor ${k}: the rule needs state '${name}' (slot ${STATE_SLOTS.indexOf(name)}) as a Float32Array`);
      if (buf.length !== t.w.length) throw new RangeError(`${where}: tensor ${k}: state '${name}' has ${buf.length} elements, w has ${t.w.length}`);
    }
  });
}

/**
 * The rule's nodes in evaluation (topological) order, evaluated for one element at a time: set `inputs` (the
 * element's g, g2, g3, m-hat, v-hat, y-hat, w and mom, indexed as INPUT_NAMES), call evaluate; `values[k]` is then the
 * value of `order[k]`, the last one the rule's.
 */
export class ElementEvaluator {
  readonly order: Node[];
  readonly values: Float64Array;
  readonly inputs = new Float64Array(INPUT_NAMES.length);
  /** Per node: the input slot it reads, the decay's scalar slot, the positions of its operands. */
  private readonly inputSlots: number[];
  private readonly decaySlots: number[];
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  private readonly draw = new Uint32Array(4);

  constructor(rule: KernelRule) {
    this.order = topoOrder(rule.root);
    this.values = new Float64Array(this.order.length);
    const position = new Map(this.order.map((n, k) => [n.id, k]));
    const operands = this.order.map((n) => children(n).map((c) => position.get(c.id)!));
    this.left = Int32Array.from(operands, (c) => c[0] ?? -1);
    this.right = Int32Array.from(operands, (c) => c[1] ?? -1);
    this.decaySlots = this.order.map((n) => (n.kind === 'decay' ? decaySlot(rule, n.name, n.n) : -1));
    this.inputSlots = this.order.map((n) => {
      if (n.kind !== 'input') return -1;
      const slot = INPUT_NAMES.indexOf(n.name);
      if (slot < 0) throw new Error(`interpretStep: unknown input '${String(n.name)}'`);
      return slot;
    });
  }

  /** Evaluates every node for the element with Philox index `index`; returns the rule's value. */
  evaluate(index: number, scalars: Float32Array, seed: number, step: number): number {
    const { order, values, draw, left, right } = this;
    const delta = scalars[Scalar.delta];
    for (let k = 0; k < order.length; k++) {
      const node = order[k];
      let x: number;
      switch (node.kind) {
        case 'input': x = this.inputs[this.inputSlots[k]]; break;
        case 'const': x = f32(node.value); break;
        case 'decay': x = scalars[this.decaySlots[k]]; break;
        case 'noise':
          philoxDraw(seed, step, index, node.site, draw);
          x = f32(normal(draw[0], draw[1]) * scalars[node.annealed ? Scalar.anoiseStd : Scalar.noiseStd]);
          break;
        case 'unary':
          if (node.op === 'drop') {
            philoxDraw(seed, step, index, node.site, draw);
            x = uniform(draw[0]) >= f32(node.param) ? values[left[k]] : 0;
          } else x = evaluateOp(node.op, values[left[k]], 0, node.param, delta);
          break;
        case 'binary': x = evaluateOp(node.op, values[left[k]], values[right[k]], 0, delta); break;
        default: throw new Error(`interpretStep: unknown node kind '${String((node as { kind: string }).kind)}'`);
      }
      values[k] = x;
    }
    return values[order.length - 1];
  }
}

/**
 * One optimizer step of `rule` over `ts`, in place: state slots first, then w <- w - lr * rule.
 * `scalars` per kernel-abi.ts (decays.ts fills it); `seed` and `step` key the Philox draws of drop and noise.
 */
export function interpretStep(info: KernelRule, ts: JsTensor[], scalars: Float32Array, seed: number, step: number): void {
  checkRuleState(info);
  checkStepArguments('interpretStep', info, ts, scalars, seed, step);
  const rule = new ElementEvaluator(info);
  const lr = scalars[Scalar.lr];
  const [b1, b2, b3] = [scalars[Scalar.beta1], scalars[Scalar.beta2], scalars[Scalar.beta3]];
  const [omb1, omb2, omb3] = [scalars[Scalar.oneMinusBeta1], scalars[Scalar.oneMinusBeta2], scalars[Scalar.oneMinusBeta3]];
  const [inv1, inv2, inv3] = [scalars[Scalar.invBc1], scalars[Scalar.invBc2], scalars[Scalar.invBc3]];
  const mu = scalars[Scalar.momentum];
  const uses = (s: StateName): boolean => info.state.includes(s);
  const x = rule.inputs; // g g2 g3 m v y w mom, as INPUT_NAMES

  for (const t of ts) {
    const [sm, sv, sy, smom] = [0, 1, 2, 3].map((k) => t.s[k]);
    for (let i = 0; i < t.w.length; i++) {
      const g = t.g[i];
      const w = t.w[i];
      x.fill(0);
      x[0] = g;
      x[1] = f32(g * g);
      x[2] = f32(x[1] * g);
      x[6] = w;
      if (uses('m')) { const m = f32(f32(b1 * sm![i]) + f32(omb1 * g)); sm![i] = m; x[3] = f32(m * inv1); }
      if (uses('v')) { const v = f32(f32(b2 * sv![i]) + f32(omb2 * x[1])); sv![i] = v; x[4] = f32(v * inv2); }
      if (uses('y')) { const y = f32(f32(b3 * sy![i]) + f32(omb3 * x[2])); sy![i] = y; x[5] = f32(y * inv3); }
      if (uses('mom')) { const mom = f32(f32(mu * smom![i]) + g); smom![i] = mom; x[7] = mom; }
      t.w[i] = f32(w - f32(lr * rule.evaluate(t.rngBase + i, scalars, seed, step)));
    }
  }
}
