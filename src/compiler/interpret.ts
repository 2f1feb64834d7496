// The reference interpreter: one optimizer step over Float32Arrays, the definition every rendered kernel is checked against.
//
// Per element, in this order (kernel-abi.ts):
//   1. the state slots the rule uses are updated with this g:  m <- b1*m + omb1*g,  v <- b2*v + omb2*g2,
//      y <- b3*y + omb3*g3 (omb = 1 - beta from the host's scalars),  mom <- mu*mom + g;  the inputs m, v, y are then m*invBc1, v*invBc2, y*invBc3.
//   2. the rule is evaluated node by node in topological order;
//   3. w <- w - lr * rule.
// Every operation is rounded to float32 (Math.fround) right after it, the way C and CUDA compute in `float`, so the
// targets agree with this to within the last bits of their libm (and FMA contraction).  Conventions shared by all
// targets: sign(x) is (x > 0) - (x < 0) (so sign(NaN) = 0, as Eigen's), clip keeps NaN, pow follows C's powf.
import type { Node, DecayName } from './ir';
import { types } from 'node:util';
import { topoOrder } from './ir';
import { DECAY_BASE, MAX_DECAYS, NOS_SCALAR_COUNT, Scalar, STATE_SLOTS, type JsTensor, type StateName } from './kernel-abi';
import { normal, philoxDraw, uniform } from './philox';

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

/** C's powf special cases where JS's Math.pow differs: 1^y = 1 and (-1)^(+-inf) = 1, even for NaN y. */
export function powF32(x: number, y: number): number {
  if (x === 1 || y === 0) return 1;
  if (x === -1 && (y === Infinity || y === -Infinity)) return 1;
  return f32(Math.pow(x, y));
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
 * One optimizer step of `rule` over `ts`, in place: state slots first, then w <- w - lr * rule.
 * `scalars` per kernel-abi.ts (decays.ts fills it); `seed` and `step` key the Philox draws of drop and noise.
 */
export function interpretStep(info: KernelRule, ts: JsTensor[], scalars: Float32Array, seed: number, step: number): void {
  checkRuleState(info);
  checkStepArguments('interpretStep', info, ts, scalars, seed, step);
  const order = topoOrder(info.root);
  const position = new Map<number, number>(order.map((n, k) => [n.id, k]));
  const at = (n: Node): number => position.get(n.id)!;
  const vals = new Float64Array(order.length);
  const draw = new Uint32Array(4);
  const decaySlots = order.map((n) => (n.kind === 'decay' ? decaySlot(info, n.name, n.n) : -1));

  const lr = scalars[Scalar.lr];
  const [b1, b2, b3] = [scalars[Scalar.beta1], scalars[Scalar.beta2], scalars[Scalar.beta3]];
  const [omb1, omb2, omb3] = [scalars[Scalar.oneMinusBeta1], scalars[Scalar.oneMinusBeta2], scalars[Scalar.oneMinusBeta3]];
  const [inv1, inv2, inv3] = [scalars[Scalar.invBc1], scalars[Scalar.invBc2], scalars[Scalar.invBc3]];
  const delta = scalars[Scalar.delta];
  const mu = scalars[Scalar.momentum];
  const uses = (s: StateName): boolean => info.state.includes(s);

  for (const t of ts) {
    const [sm, sv, sy, smom] = [0, 1, 2, 3].map((k) => t.s[k]);
    for (let i = 0; i < t.w.length; i++) {
      const g = t.g[i];
      const w = t.w[i];
      const g2 = f32(g * g);
      const g3 = f32(g2 * g);
      let mHat = 0, vHat = 0, yHat = 0, mom = 0;
      if (uses('m')) { const m = f32(f32(b1 * sm![i]) + f32(omb1 * g)); sm![i] = m; mHat = f32(m * inv1); }
      if (uses('v')) { const v = f32(f32(b2 * sv![i]) + f32(omb2 * g2)); sv![i] = v; vHat = f32(v * inv2); }
      if (uses('y')) { const y = f32(f32(b3 * sy![i]) + f32(omb3 * g3)); sy![i] = y; yHat = f32(y * inv3); }
      if (uses('mom')) { mom = f32(f32(mu * smom![i]) + g); smom![i] = mom; }
      const index = t.rngBase + i;

      for (let k = 0; k < order.length; k++) {
        const node = order[k];
        let x: number;
        switch (node.kind) {
          case 'input':
            switch (node.name) {
              case 'g': x = g; break;
              case 'g2': x = g2; break;
              case 'g3': x = g3; break;
              case 'm': x = mHat; break;
              case 'v': x = vHat; break;
              case 'y': x = yHat; break;
              case 'w': x = w; break;
              case 'mom': x = mom; break;
              default: throw new Error(`interpretStep: unknown input '${String((node as { name: string }).name)}'`);
            }
            break;
          case 'const':
            x = f32(node.value);
            break;
          case 'decay':
            x = scalars[decaySlots[k]];
            break;
          case 'noise': {
            philoxDraw(seed, step, index, node.site, draw);
            const std = scalars[node.annealed ? Scalar.anoiseStd : Scalar.noiseStd];
            x = f32(normal(draw[0], draw[1]) * std);
            break;
          }
          case 'unary': {
            const a = vals[at(node.arg)];
            switch (node.op) {
              case 'neg': x = -a; break;
              case 'exp': x = f32(Math.exp(a)); break;
              case 'log': x = f32(Math.log(Math.abs(a))); break;
              case 'sqrt': x = f32(Math.sqrt(Math.abs(a))); break;
              case 'clip': { const l = f32(node.param); x = a < -l ? -l : a > l ? l : a; break; }
              case 'drop':
                philoxDraw(seed, step, index, node.site, draw);
                x = uniform(draw[0]) >= f32(node.param) ? a : 0;
                break;
              case 'sign': x = a > 0 ? 1 : a < 0 ? -1 : 0; break;
              case 'sigmoid': x = f32(1 / f32(1 + f32(Math.exp(-a)))); break;
              default: throw new Error(`interpretStep: unknown unary op '${String((node as { op: string }).op)}'`);
            }
            break;
          }
          case 'binary': {
            const a = vals[at(node.left)];
            const b = vals[at(node.right)];
            switch (node.op) {
              case 'add': x = f32(a + b); break;
              case 'sub': x = f32(a - b); break;
              case 'mul': x = f32(a * b); break;
              case 'div': x = f32(a / f32(b + delta)); break;
              case 'pow': x = powF32(a, b); break;
              default: throw new Error(`interpretStep: unknown binary op '${String((node as { op: string }).op)}'`);
            }
            break;
          }
          default:
            throw new Error(`interpretStep: unknown node kind '${String((node as { kind: string }).kind)}'`);
        }
        vals[k] = x;
      }
      t.w[i] = f32(w - f32(lr * vals[order.length - 1]));
    }
  }
}
