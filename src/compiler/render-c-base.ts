// Shared C-style emission for every kernel target: one SSA temporary per IR node in topological order (named by that
// order, so the text does not depend on IR node ids), hoisting and selects.
//
// A target supplies a Dialect (how to write a literal, a declaration, each operation, a Philox draw); this file
// decides WHAT is computed where:
//   - prologue (once per call): the per-step scalars, every node that depends only on scalars (constants, decays and
//     functions of them), and the select tables below;
//   - element (once per element): read g and w, update the state slots, the inputs the rule reads, the remaining nodes;
//   - selects: a node that depends on element data only through one product of signs p (p in {-1, 0, 1}) and that
//     costs a transcendental (exp(sign(g)*sign(m)), exp(ld*sign(g)*sign(m)), (sign(g)*sign(m))^2 ...) is computed for
//     p = 1, -1, +0 and -0 in the prologue and chosen per element with compares, never an exp per element.  The
//     values are computed with the same float operations, so a select equals the direct computation bit for bit
//     (-0 has its own entry because pow(-0, -1) = -inf; sign(NaN) = 0, so p is never NaN).
// The element statements follow interpret.ts operation by operation, in float32.
import type { Node, UnaryOp, BinaryOp } from './ir';
import { binary, topoOrder, unary } from './ir';
import { Scalar, STATE_SLOTS, type StateName } from './kernel-abi';
import { checkRuleState, decaySlot, type KernelRule } from './interpret';
import { uniform } from './philox';

/** How one target spells things.  Operands are always names or literals, so no precedence worries. */
export interface Dialect {
  /** A float32 constant (value already rounded to float32); finite or not. */
  lit(x: number): string;
  /** `const float name = expr;` in this language. */
  decl(name: string, expr: string): string;
  /** scalars[k] for this target's scalar parameter. */
  scalar(k: number): string;
  /** Element i of array `arr` (w, g or a state slot s0..s3) as an expression, and its store statement. */
  load(arr: string): string;
  store(arr: string, value: string): string;
  unary(op: Exclude<UnaryOp, 'drop'>, a: string, param: number): string;
  binary(op: BinaryOp, a: string, b: string): string;
  /** Statements that draw the four Philox words of `site` for this element (drop and noise then read them). */
  draw(site: number): string[];
  /** drop: keep `a` iff uniform(word0) >= p. */
  drop(a: string, site: number, p: number): string;
  /** Standard normal from the site's words 0 and 1 (Box-Muller, float32), times `std`. */
  noise(site: number, std: string): string;
  /** Per-element select on a sign product p in {1, -1, +0, -0}: p > 0 ? pos : p < 0 ? neg : p is +0 ? zero : negZero. */
  select(p: string, pos: string, neg: string, zero: string, negZero: string): string;
  /** Per-element statement that makes `idx` (rngBase + element index) available; only emitted when drawing. */
  indexDecl(): string;
}

export interface KernelBody {
  /** Statements run once per call, before the element loop. */
  prologue: string[];
  /** Statements run once per element; they read and write element i in place. */
  element: string[];
  /** State slot numbers the kernel reads and writes, ascending. */
  slots: number[];
  /** Whether the element statements draw random numbers (need idx, seed, step). */
  random: boolean;
}

type Place = 'uniform' | 'element' | 'select';

const SCALAR_NAMES: Array<[string, Scalar]> = [
  ['lr', Scalar.lr], ['b1', Scalar.beta1], ['b2', Scalar.beta2], ['b3', Scalar.beta3],
  ['ibc1', Scalar.invBc1], ['ibc2', Scalar.invBc2], ['ibc3', Scalar.invBc3], ['delta', Scalar.delta],
  ['mu', Scalar.momentum], ['nstd', Scalar.noiseStd], ['astd', Scalar.anoiseStd],
  ['omb1', Scalar.oneMinusBeta1], ['omb2', Scalar.oneMinusBeta2], ['omb3', Scalar.oneMinusBeta3],
];

/** A transcendental or division on the way from a select's node down to its sign product: worth a table. */
function isCostly(node: Node, p: Node): boolean {
  if (node === p) return false;
  if (node.kind === 'unary') {
    return (node.op !== 'neg' && node.op !== 'sign') || isCostly(node.arg, p);
  }
  if (node.kind === 'binary') {
    return node.op === 'div' || node.op === 'pow' || isCostly(node.left, p) || isCostly(node.right, p);
  }
  return false;
}

function isScalarOnly(n: Node): boolean {
  switch (n.kind) {
    case 'const': case 'decay': return true;
    case 'unary': return n.op !== 'drop' && isScalarOnly(n.arg);
    case 'binary': return isScalarOnly(n.left) && isScalarOnly(n.right);
    default: return false;
  }
}
function isSignValued(n: Node): boolean {
  if (isScalarOnly(n)) return false;
  if (n.kind === 'unary') return n.op === 'sign' || (n.op === 'neg' && isSignValued(n.arg));
  return n.kind === 'binary' && n.op === 'mul' && isSignValued(n.left) && isSignValued(n.right);
}

/**
 * Regroup every product of scalar-only factors and sign factors as (scalars) * (signs), e.g. (ld*sign(g))*sign(m) as
 * ld*(sign(g)*sign(m)), so the sign product is one node a select can test.  Exact: multiplying by -1, 0 or 1 commutes
 * with rounding, and the sign of a product (zeros included) is the XOR of its factors' signs.
 */
export function regroupSignProducts(root: Node): Node {
  const memo = new Map<number, Node>();
  const rebuild = (n: Node): Node => {
    const done = memo.get(n.id);
    if (done) return done;
    let out: Node = n;
    if (n.kind === 'unary') out = unary(n.op, rebuild(n.arg), n.param, n.site);
    else if (n.kind === 'binary') out = binary(n.op, rebuild(n.left), rebuild(n.right));
    if (out.kind === 'binary' && out.op === 'mul') {
      const factors: Node[] = [];
      let negative = false;
      const flatten = (x: Node): void => {
        if (x.kind === 'binary' && x.op === 'mul') { flatten(x.left); flatten(x.right); } else if (x.kind === 'unary' && x.op === 'neg' && !isScalarOnly(x)) { negative = !negative; flatten(x.arg); } else factors.push(x);
      };
      flatten(out);
      const scalars = factors.filter(isScalarOnly);
      const signs = factors.filter(isSignValued);
      if (signs.length > 0 && scalars.length + signs.length === factors.length && (scalars.length > 0 || negative)) {
        const signProduct = signs.reduce((a, b) => binary('mul', a, b));
        if (scalars.length === 0) out = unary('neg', signProduct);
        else {
          const scale = scalars.reduce((a, b) => binary('mul', a, b));
          out = binary('mul', negative ? unary('neg', scale) : scale, signProduct);
        }
      }
    }
    memo.set(n.id, out);
    return out;
  };
  return rebuild(root);
}

/** Emit the prologue and element statements of `rule` in `dialect`. */
export function emitKernelBody(rule: KernelRule, dialect: Dialect): KernelBody {
  checkRuleState(rule);
  rule = { ...rule, root: regroupSignProducts(rule.root) };
  const order = topoOrder(rule.root);

  // Which nodes depend only on per-step scalars.
  const uniform = new Set<number>();
  for (const n of order) {
    if (n.kind === 'const' || n.kind === 'decay') uniform.add(n.id);
    else if (n.kind === 'unary' && n.op !== 'drop' && uniform.has(n.arg.id)) uniform.add(n.id);
    else if (n.kind === 'binary' && uniform.has(n.left.id) && uniform.has(n.right.id)) uniform.add(n.id);
  }
  // Sign products: values in {-1, 0, 1} that vary per element.
  const ternary = new Set<number>();
  for (const n of order) {
    if (uniform.has(n.id)) continue;
    if (n.kind === 'unary' && (n.op === 'sign' || (n.op === 'neg' && ternary.has(n.arg.id)))) ternary.add(n.id);
    else if (n.kind === 'binary' && n.op === 'mul' && ternary.has(n.left.id) && ternary.has(n.right.id)) ternary.add(n.id);
  }
  // For each node, the one sign product it depends on (element data only through it), if any.
  const through = new Map<number, Node>();
  for (const n of order) {
    if (ternary.has(n.id)) { through.set(n.id, n); continue; }
    if (n.kind === 'unary' && n.op !== 'drop') {
      const p = through.get(n.arg.id);
      if (p) through.set(n.id, p);
    } else if (n.kind === 'binary') {
      const pl = through.get(n.left.id);
      const pr = through.get(n.right.id);
      if (pl && (pr === pl || (!pr && uniform.has(n.right.id)))) through.set(n.id, pl);
      else if (pr && !pl && uniform.has(n.left.id)) through.set(n.id, pr);
    }
  }

  // Decide the place of every node reached from the root, outermost selects first.
  const place = new Map<number, Place>();
  const visit = (n: Node): void => {
    if (place.has(n.id)) return;
    if (uniform.has(n.id)) { markUniform(n); return; }
    const p = through.get(n.id);
    if (p && p !== n && isCostly(n, p)) {
      place.set(n.id, 'select');
      markSelectTables(n, p);
      visit(p);
      return;
    }
    place.set(n.id, 'element');
    if (n.kind === 'unary') visit(n.arg);
    if (n.kind === 'binary') { visit(n.left); visit(n.right); }
  };
  const markUniform = (n: Node): void => {
    if (place.has(n.id)) return;
    place.set(n.id, 'uniform');
    if (n.kind === 'unary') markUniform(n.arg);
    if (n.kind === 'binary') { markUniform(n.left); markUniform(n.right); }
  };
  // Uniform children of a select's subtree are needed in the prologue too.
  const markSelectTables = (n: Node, p: Node): void => {
    if (n === p) return;
    if (uniform.has(n.id)) { markUniform(n); return; }
    if (n.kind === 'unary') markSelectTables(n.arg, p);
    if (n.kind === 'binary') { markSelectTables(n.left, p); markSelectTables(n.right, p); }
  };
  visit(rule.root);

  const d = dialect;
  // Temporaries are numbered by position in this render's schedule (never by IR node id, which depends on what else
  // the process built), so one rule renders to the same text in every process.
  const position = new Map<number, number>(order.map((n, i) => [n.id, i + 1]));
  const temp = (n: Node): string => {
    const k = position.get(n.id);
    if (k === undefined) throw new Error('internal: a rendered node is not in the schedule');
    return `t${k}`;
  };
  const name = (n: Node): string => (n.kind === 'const' ? d.lit(Math.fround(n.value)) : temp(n));
  const prologue: string[] = [];
  const element: string[] = [];
  const usesState = (s: StateName): boolean => rule.state.includes(s);
  const usedInputs = new Set(order.filter((n) => n.kind === 'input' && place.get(n.id) === 'element').map((n) => (n as { name: string }).name));

  // Per-call scalars.
  for (const [local, slot] of SCALAR_NAMES) prologue.push(d.decl(local, d.scalar(slot)));
  // Nodes of scalars only, in topological order (the prologue is evaluated like the element code).
  const emitOp = (n: Node, arg: (c: Node) => string): string => {
    switch (n.kind) {
      case 'decay': return d.scalar(decaySlot(rule, n.name, n.n));
      case 'unary':
        if (n.op === 'drop') throw new Error('internal: drop is never uniform');
        return d.unary(n.op, arg(n.arg), n.param);
      case 'binary': return d.binary(n.op, arg(n.left), arg(n.right));
      default: throw new Error(`internal: node kind ${n.kind} has no scalar form`);
    }
  };
  for (const n of order) {
    if (place.get(n.id) === 'uniform' && n.kind !== 'const') prologue.push(d.decl(name(n), emitOp(n, name)));
  }
  // Select tables: the node's subtree with p replaced by 1, -1, +0 and -0.  A node under two selects (always of the
  // same p, its one sign product) gets its table entries once.
  const selectValues = new Map<number, [string, string, string, string]>();
  const tabled = new Set<string>();
  for (const n of order) {
    if (place.get(n.id) !== 'select') continue;
    const p = through.get(n.id)!;
    const sub = topoOrder(n).filter((c) => c === p || (!uniform.has(c.id) && through.get(c.id) === p && isAbove(c, p)));
    const names: string[] = [];
    for (const [tag, value] of [['pos', 1], ['neg', -1], ['zero', 0], ['negzero', -0]] as const) {
      const local = (c: Node): string => (c === p ? d.lit(value) : uniform.has(c.id) ? name(c) : `${temp(c)}_${tag}`);
      for (const c of sub) {
        if (c === p || tabled.has(local(c))) continue;
        tabled.add(local(c));
        prologue.push(d.decl(local(c), emitOp(c, local)));
      }
      names.push(local(n));
    }
    selectValues.set(n.id, names as [string, string, string, string]);
  }

  // Per element: g, w, the state slots, then the inputs the rule reads.
  const needG2 = usesState('v') || usedInputs.has('g2') || usedInputs.has('g3') || usesState('y');
  const needG3 = usesState('y') || usedInputs.has('g3');
  if (rule.state.length > 0 || needG2 || usedInputs.has('g')) element.push(d.decl('g', d.load('g')));
  element.push(d.decl('w', d.load('w')));
  if (needG2) element.push(d.decl('g2', d.binary('mul', 'g', 'g')));
  if (needG3) element.push(d.decl('g3', d.binary('mul', 'g2', 'g')));
  const averages: Array<[StateName, string, string]> = [['m', 'g', '1'], ['v', 'g2', '2'], ['y', 'g3', '3']];
  for (const [s, src, k] of averages) {
    if (!usesState(s)) continue;
    const slot = `s${STATE_SLOTS.indexOf(s)}`;
    element.push(d.decl(`${s}_raw`, d.binary('add', d.binary('mul', `b${k}`, d.load(slot)), d.binary('mul', `omb${k}`, src))));
    element.push(d.store(slot, `${s}_raw`));
    element.push(d.decl(`${s}_hat`, d.binary('mul', `${s}_raw`, `ibc${k}`)));
  }
  if (usesState('mom')) {
    element.push(d.decl('mom', d.binary('add', d.binary('mul', 'mu', d.load('s3')), 'g')));
    element.push(d.store('s3', 'mom'));
  }
  const inputName: Record<string, string> = { g: 'g', g2: 'g2', g3: 'g3', m: 'm_hat', v: 'v_hat', y: 'y_hat', w: 'w', mom: 'mom' };
  const random = order.some((n) => place.get(n.id) === 'element' && (n.kind === 'noise' || (n.kind === 'unary' && n.op === 'drop')));
  if (random) element.push(d.indexDecl());
  // One draw per site and element, however many nodes read it.
  const drawn = new Set<number>();
  const draw = (site: number): string[] => {
    if (drawn.has(site)) return [];
    drawn.add(site);
    return d.draw(site);
  };
  for (const n of order) {
    const where = place.get(n.id);
    if (where === 'select') {
      const [pos, neg, zero, negZero] = selectValues.get(n.id)!;
      element.push(d.decl(name(n), d.select(name(through.get(n.id)!), pos, neg, zero, negZero)));
      continue;
    }
    if (where !== 'element') continue;
    switch (n.kind) {
      case 'input': element.push(d.decl(name(n), inputName[n.name])); break;
      case 'noise':
        element.push(...draw(n.site));
        element.push(d.decl(name(n), d.noise(n.site, n.annealed ? 'astd' : 'nstd')));
        break;
      case 'unary':
        if (n.op === 'drop') {
          element.push(...draw(n.site));
          element.push(d.decl(name(n), d.drop(name(n.arg), n.site, n.param)));
        } else {
          element.push(d.decl(name(n), d.unary(n.op, name(n.arg), n.param)));
        }
        break;
      case 'binary': element.push(d.decl(name(n), d.binary(n.op, name(n.left), name(n.right)))); break;
      default: throw new Error(`internal: node kind ${n.kind} cannot vary per element`);
    }
  }
  element.push(d.store('w', d.binary('sub', 'w', d.binary('mul', 'lr', name(rule.root)))));
  const slots = rule.state.map((s) => STATE_SLOTS.indexOf(s)).sort((a, b) => a - b);
  return { prologue, element, slots, random };
}

/** True when `p` is a strict descendant of `n` (so n sits on a path from a select node down to p). */
function isAbove(n: Node, p: Node): boolean {
  if (n === p) return false;
  if (n.kind === 'unary') return n.arg === p || isAbove(n.arg, p);
  if (n.kind === 'binary') return n.left === p || n.right === p || isAbove(n.left, p) || isAbove(n.right, p);
  return false;
}

/**
 * The smallest k = x >>> 8 for which uniform(x) >= p (float32), so a C drop can test integers: keep iff (x >> 8) >= k.
 * uniform is non-decreasing in x >>> 8, so this is exactly the interpreter's float test; 2^24 when nothing passes.
 */
export function dropThreshold(p: number): number {
  const pf = Math.fround(p);
  let lo = 0;
  let hi = 1 << 24;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (uniform(mid << 8 >>> 0) >= pf) hi = mid; else lo = mid + 1;
  }
  return lo;
}

/** Shortest decimal that reads back as this float32 value, in C float-literal form (`1.0f`, `1e-08f`). */
export function cFloatLiteral(x: number, inf: string, nan: string): string {
  const v = Math.fround(x);
  if (Number.isNaN(v)) return nan;
  if (v === Infinity) return inf;
  if (v === -Infinity) return `(-${inf})`;
  if (Object.is(v, -0)) return '(-0.0f)';
  let s = String(v);
  if (!/[.e]/.test(s)) s += '.0';
  return v < 0 ? `(${s}f)` : `${s}f`;
}

/**
 * The C helpers shared by the CPU and CUDA targets; `q` is the function qualifier (static inline / __device__ ...),
 * `signbit(x)` an expression true when float x has its sign bit set.
 */
export function cHelpers(q: string, u32: string, u64: string, signbit: (x: string) => string): string {
  return `struct nos_u4 { ${u32} x0, x1, x2, x3; };
// Philox4x32-10, key (seed, step), counter (index lo, index hi, site, 0); rounds unrolled so the loop vectorizes.
${q} void nos_philox_round(${u32}& c0, ${u32}& c1, ${u32}& c2, ${u32}& c3, ${u32} k0, ${u32} k1) {
  const ${u64} p0 = (${u64})0xD2511F53u * c0;
  const ${u64} p1 = (${u64})0xCD9E8D57u * c2;
  const ${u32} n0 = (${u32})(p1 >> 32) ^ c1 ^ k0;
  const ${u32} n2 = (${u32})(p0 >> 32) ^ c3 ^ k1;
  c1 = (${u32})p1; c3 = (${u32})p0; c0 = n0; c2 = n2;
}
${q} nos_u4 nos_philox(${u64} index, ${u32} site, ${u32} seed, ${u32} step) {
  ${u32} c0 = (${u32})index, c1 = (${u32})(index >> 32), c2 = site, c3 = 0u, k0 = seed, k1 = step;
  nos_philox_round(c0, c1, c2, c3, k0, k1);
${'  k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; nos_philox_round(c0, c1, c2, c3, k0, k1);\n'.repeat(9)}  nos_u4 out; out.x0 = c0; out.x1 = c1; out.x2 = c2; out.x3 = c3;
  return out;
}
${q} float nos_uniform(${u32} x) { return ((float)(int)(x >> 8) + 0.5f) * 5.9604644775390625e-8f; }
${q} float nos_normal(${u32} a, ${u32} b) {
  const float radius = sqrtf(-2.0f * logf(nos_uniform(a)));
  const float angle = 6.2831855f * nos_uniform(b);
  return radius * cosf(angle);
}
// Branch-free (both compares always evaluated) so g++ if-converts and vectorizes them.
${q} float nos_sign(float x) { return (float)((int)(x > 0.0f) - (int)(x < 0.0f)); }
${q} float nos_clip(float x, float l) { const float low = x < -l ? -l : x; return low > l ? l : low; }
${q} float nos_select(float p, float pos, float neg, float zero, float neg_zero) {
  const float either_zero = ${signbit('p')} ? neg_zero : zero;
  const float not_pos = p < 0.0f ? neg : either_zero;
  return p > 0.0f ? pos : not_pos;
}
${q} float nos_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
${q} float nos_pow(float x, float y) { return powf(x, y); }
`;
}

/** The C operations (both C targets): each is one float operation or a helper from cHelpers. */
export function cUnary(op: Exclude<UnaryOp, 'drop'>, a: string, param: number, lit: (x: number) => string): string {
  switch (op) {
    case 'neg': return `(-${a})`;
    case 'exp': return `expf(${a})`;
    case 'log': return `logf(fabsf(${a}))`;
    case 'sqrt': return `sqrtf(fabsf(${a}))`;
    case 'clip': return `nos_clip(${a}, ${lit(param)})`;
    case 'sign': return `nos_sign(${a})`;
    case 'sigmoid': return `nos_sigmoid(${a})`;
    default: throw new Error(`no C form for unary op '${String(op)}'`);
  }
}
export function cBinary(op: BinaryOp, a: string, b: string): string {
  switch (op) {
    case 'add': return `(${a} + ${b})`;
    case 'sub': return `(${a} - ${b})`;
    case 'mul': return `(${a} * ${b})`;
    case 'div': return `(${a} / (${b} + delta))`;
    case 'pow': return `nos_pow(${a}, ${b})`;
    default: throw new Error(`no C form for binary op '${String(op)}'`);
  }
}

/** A one-line comment naming the rule, safe inside C and JS comments. */
export function ruleComment(rule: KernelRule): string {
  const text = (rule.canonical ?? '(unnamed rule)').replace(/\*\//g, '* /').replace(/[\r\n]+/g, ' ');
  return `rule: ${text}${rule.hash ? `  [${rule.hash}]` : ''}`;
}
