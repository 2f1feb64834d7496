// scheduleKernel: decides once per rule what a fused kernel computes per step, per element, or as a select; every renderer and the FLOP count read it.
//
// The schedule is data, named values in the order they are computed:
//   - step (once per call, before the element loop): every node that depends only on per-step scalars (constants are
//     literals; decays read their scalar slot), then the select tables below;
//   - selects: a node that depends on element data only through one product of signs p (p in {-1, 0, 1}) and costs a
//     transcendental or a division on the way down to p (exp(sign(g)*sign(m)), exp(ld*sign(g)*sign(m)),
//     (sign(g)*sign(m))^2 ...) is computed for p = 1, -1, +0 and -0 once per step and chosen per element with
//     compares, never an exp per element.  The values come from the same float operations, so a select equals the
//     direct computation bit for bit (-0 has its own entry because pow(-0, -1) = -inf; sign(NaN) = 0, so p is never
//     NaN);
//   - element (once per element): which of g, g2, g3 and the state slots are read, then the rule's remaining nodes,
//     Philox draws once per random site at their first use.
// Value names are t<k>, k the node's position in the topological order of the (regrouped) rule, so one rule gets the
// same names in every process; select table entries are t<k>_pos, _neg, _zero, _negzero.
import type { DecayName, InputName, Node } from './ir';
import { binary, topoOrder, unary } from './ir';
import { STATE_SLOTS, type StateName } from './kernel-abi';
import { checkRuleState, decaySlot, type KernelRule } from './interpret';
import { OPS, type OpName } from './ops';

/** An operand: a value's name, or a float32 literal (a constant of the rule). */
export type Operand = string | number;

/** One named value of the schedule. */
export type Instr =
  | { kind: 'decay'; out: string; name: DecayName; n: number; slot: number }
  | { kind: 'op'; out: string; op: Exclude<OpName, 'drop'>; args: Operand[]; param: number }
  | { kind: 'input'; out: string; input: InputName }
  | { kind: 'draw'; site: number }
  | { kind: 'noise'; out: string; site: number; annealed: boolean }
  | { kind: 'drop'; out: string; arg: Operand; site: number; p: number }
  | { kind: 'select'; out: string; signs: Operand; pos: Operand; neg: Operand; zero: Operand; negZero: Operand };

export interface KernelSchedule {
  /** The rule as scheduled (its root regrouped: products of scalars and signs as (scalars) * (signs)). */
  rule: KernelRule;
  /** Per step, in order: decays, ops of per-step values, select table entries. */
  step: Instr[];
  /** Per element, after the reads and state updates below: inputs, draws, noise, drops, ops, selects. */
  element: Instr[];
  /** The rule's value. */
  result: Operand;
  /** Element reads: g (whenever anything needs it), g2 = g*g and g3 = g2*g. */
  reads: { g: boolean; g2: boolean; g3: boolean };
  /** State slots updated per element, by name, in slot order. */
  state: StateName[];
  /** Their slot numbers, ascending. */
  slots: number[];
  /** Whether the element part draws random numbers (needs the element index, seed and step). */
  random: boolean;
  /** Arithmetic operations per element per step, as RuleInfo.flopsPerElement. */
  flopsPerElement: number;
}

/** True when the node is the same for every element of a step (constants, decays, and functions of them): hoist it. */
export function isUniform(node: Node): boolean {
  switch (node.kind) {
    case 'const': case 'decay': return true;
    case 'input': case 'noise': return false;
    case 'unary': return node.op !== 'drop' && isUniform(node.arg);
    case 'binary': return isUniform(node.left) && isUniform(node.right);
  }
}

function isSignValued(n: Node): boolean {
  if (isUniform(n)) return false;
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
    if (out.kind === 'binary' && out.op === 'mul') out = regroupProduct(out);
    memo.set(n.id, out);
    return out;
  };
  return rebuild(root);
}

function regroupProduct(product: Node): Node {
  const factors: Node[] = [];
  let negative = false;
  const flatten = (x: Node): void => {
    if (x.kind === 'binary' && x.op === 'mul') { flatten(x.left); flatten(x.right); } else if (x.kind === 'unary' && x.op === 'neg' && !isUniform(x)) { negative = !negative; flatten(x.arg); } else factors.push(x);
  };
  flatten(product);
  const scalars = factors.filter(isUniform);
  const signs = factors.filter(isSignValued);
  if (signs.length === 0 || scalars.length + signs.length !== factors.length || (scalars.length === 0 && !negative)) return product;
  const signProduct = signs.reduce((a, b) => binary('mul', a, b));
  if (scalars.length === 0) return unary('neg', signProduct);
  const scale = scalars.reduce((a, b) => binary('mul', a, b));
  return binary('mul', negative ? unary('neg', scale) : scale, signProduct);
}

type Place = 'step' | 'element' | 'select';

/** For each node, the one sign product it depends on element data through (if any); sign products map to themselves. */
function signDependence(order: Node[]): Map<number, Node> {
  const ternary = new Set<number>();
  for (const n of order) {
    if (isUniform(n)) continue;
    if (n.kind === 'unary' && (n.op === 'sign' || (n.op === 'neg' && ternary.has(n.arg.id)))) ternary.add(n.id);
    else if (n.kind === 'binary' && n.op === 'mul' && ternary.has(n.left.id) && ternary.has(n.right.id)) ternary.add(n.id);
  }
  const through = new Map<number, Node>();
  for (const n of order) {
    if (ternary.has(n.id)) { through.set(n.id, n); continue; }
    if (n.kind === 'unary' && n.op !== 'drop') {
      const p = through.get(n.arg.id);
      if (p) through.set(n.id, p);
    } else if (n.kind === 'binary') {
      const pl = through.get(n.left.id);
      const pr = through.get(n.right.id);
      if (pl && (pr === pl || (!pr && isUniform(n.right)))) through.set(n.id, pl);
      else if (pr && !pl && isUniform(n.left)) through.set(n.id, pr);
    }
  }
  return through;
}

/** A costly op (opSpec.tabulate) on the way from a node down to its sign product p: worth a select table. */
function isCostly(node: Node, p: Node): boolean {
  if (node === p) return false;
  if (node.kind === 'unary') return OPS[node.op].tabulate || isCostly(node.arg, p);
  if (node.kind === 'binary') return OPS[node.op].tabulate || isCostly(node.left, p) || isCostly(node.right, p);
  return false;
}

/** Where each node reached from the root is computed: outermost selects first, per-step values wherever possible. */
function placeNodes(root: Node, through: Map<number, Node>): Map<number, Place> {
  const place = new Map<number, Place>();
  const markStep = (n: Node): void => {
    if (place.has(n.id)) return;
    place.set(n.id, 'step');
    if (n.kind === 'unary') markStep(n.arg);
    if (n.kind === 'binary') { markStep(n.left); markStep(n.right); }
  };
  // Per-step children of a select's subtree are needed before its tables.
  const markTables = (n: Node, p: Node): void => {
    if (n === p) return;
    if (isUniform(n)) { markStep(n); return; }
    if (n.kind === 'unary') markTables(n.arg, p);
    if (n.kind === 'binary') { markTables(n.left, p); markTables(n.right, p); }
  };
  const visit = (n: Node): void => {
    if (place.has(n.id)) return;
    if (isUniform(n)) { markStep(n); return; }
    const p = through.get(n.id);
    if (p && p !== n && isCostly(n, p)) {
      place.set(n.id, 'select');
      markTables(n, p);
      visit(p);
      return;
    }
    place.set(n.id, 'element');
    if (n.kind === 'unary') visit(n.arg);
    if (n.kind === 'binary') { visit(n.left); visit(n.right); }
  };
  visit(root);
  return place;
}

/** True when `p` is a strict descendant of `n` (so n sits on a path from a select node down to p). */
function isAbove(n: Node, p: Node): boolean {
  if (n === p) return false;
  if (n.kind === 'unary') return n.arg === p || isAbove(n.arg, p);
  if (n.kind === 'binary') return n.left === p || n.right === p || isAbove(n.left, p) || isAbove(n.right, p);
  return false;
}

/** The op instruction of a unary or binary node (not drop) over operands named by `name`. */
function opInstr(n: Node, out: string, name: (c: Node) => Operand): Instr {
  if (n.kind === 'unary' && n.op !== 'drop') return { kind: 'op', out, op: n.op, args: [name(n.arg)], param: n.param };
  if (n.kind === 'binary') return { kind: 'op', out, op: n.op, args: [name(n.left), name(n.right)], param: 0 };
  throw new Error(`internal: node kind ${n.kind} is not an op`);
}

/** The schedule of `rule`'s fused kernel (see the file header). */
export function scheduleKernel(rule: KernelRule): KernelSchedule {
  checkRuleState(rule);
  const regrouped: KernelRule = { ...rule, root: regroupSignProducts(rule.root) };
  const order = topoOrder(regrouped.root);
  const through = signDependence(order);
  const place = placeNodes(regrouped.root, through);
  const position = new Map<number, number>(order.map((n, i) => [n.id, i + 1]));
  const temp = (n: Node): string => `t${position.get(n.id)}`;
  const name = (n: Node): Operand => (n.kind === 'const' ? Math.fround(n.value) : temp(n));

  const step: Instr[] = [];
  for (const n of order) {
    if (place.get(n.id) !== 'step' || n.kind === 'const') continue;
    step.push(n.kind === 'decay'
      ? { kind: 'decay', out: temp(n), name: n.name, n: n.n, slot: decaySlot(regrouped, n.name, n.n) }
      : opInstr(n, temp(n), name));
  }
  const selects = selectTables(order, place, through, temp, name, step);
  const element = elementInstrs(order, place, through, temp, name, selects);
  const inputs = new Set(element.flatMap((x) => (x.kind === 'input' ? [x.input] : [])));
  const g3 = rule.state.includes('y') || inputs.has('g3');
  const g2 = g3 || rule.state.includes('v') || inputs.has('g2');
  const reads = { g: rule.state.length > 0 || g2 || inputs.has('g'), g2, g3 };
  const state = STATE_SLOTS.filter((s) => rule.state.includes(s));
  const schedule: KernelSchedule = {
    rule: regrouped, step, element, result: name(regrouped.root), reads, state,
    slots: state.map((s) => STATE_SLOTS.indexOf(s)),
    random: element.some((x) => x.kind === 'draw'),
    flopsPerElement: 0,
  };
  schedule.flopsPerElement = countFlops(schedule);
  return schedule;
}

/**
 * Select tables, appended to `step`: each select node's subtree with its sign product replaced by 1, -1, +0 and -0.
 * A node under two selects (always of the same p, its one sign product) gets its table entries once.
 */
function selectTables(order: Node[], place: Map<number, Place>, through: Map<number, Node>, temp: (n: Node) => string,
  name: (n: Node) => Operand, step: Instr[]): Map<number, Operand[]> {
  const values = new Map<number, Operand[]>();
  const tabled = new Set<string>();
  for (const n of order) {
    if (place.get(n.id) !== 'select') continue;
    const p = through.get(n.id)!;
    const sub = topoOrder(n).filter((c) => c === p || (!isUniform(c) && through.get(c.id) === p && isAbove(c, p)));
    const entries: Operand[] = [];
    for (const [tag, value] of [['pos', 1], ['neg', -1], ['zero', 0], ['negzero', -0]] as const) {
      const local = (c: Node): Operand => (c === p ? value : isUniform(c) ? name(c) : `${temp(c)}_${tag}`);
      for (const c of sub) {
        const out = local(c);
        if (c === p || typeof out !== 'string' || tabled.has(out)) continue;
        tabled.add(out);
        step.push(opInstr(c, out, local));
      }
      entries.push(local(n));
    }
    values.set(n.id, entries);
  }
  return values;
}

/** The element instructions in topological order, with one draw per random site before its first use. */
function elementInstrs(order: Node[], place: Map<number, Place>, through: Map<number, Node>, temp: (n: Node) => string,
  name: (n: Node) => Operand, selects: Map<number, Operand[]>): Instr[] {
  const element: Instr[] = [];
  const drawn = new Set<number>();
  const draw = (site: number): void => {
    if (!drawn.has(site)) element.push({ kind: 'draw', site });
    drawn.add(site);
  };
  for (const n of order) {
    const where = place.get(n.id);
    if (where === 'select') {
      const [pos, neg, zero, negZero] = selects.get(n.id)!;
      element.push({ kind: 'select', out: temp(n), signs: name(through.get(n.id)!), pos, neg, zero, negZero });
    } else if (where === 'element') {
      if (n.kind === 'input') element.push({ kind: 'input', out: temp(n), input: n.name });
      else if (n.kind === 'noise') {
        draw(n.site);
        element.push({ kind: 'noise', out: temp(n), site: n.site, annealed: n.annealed });
      } else if (n.kind === 'unary' && n.op === 'drop') {
        draw(n.site);
        element.push({ kind: 'drop', out: temp(n), arg: name(n.arg), site: n.site, p: n.param });
      } else element.push(opInstr(n, temp(n), name));
    }
  }
  return element;
}

/**
 * flopsPerElement: the element instructions (an op its table cost, division 2; a select 2; a drop 1; reads of an
 * input, noise and draws 0), plus g2 1 or g3 2 when read, each running average 4 (beta*s + (1-beta)*x and its bias
 * correction), mom 2, and w - lr*rule 2.  Per-step values cost nothing per element.
 */
function countFlops(s: KernelSchedule): number {
  let flops = 2 + (s.reads.g3 ? 2 : s.reads.g2 ? 1 : 0);
  for (const slot of s.state) flops += slot === 'mom' ? 2 : 4;
  for (const x of s.element) {
    if (x.kind === 'op') flops += OPS[x.op].flops;
    else if (x.kind === 'select') flops += 2;
    else if (x.kind === 'drop') flops += OPS.drop.flops;
  }
  return flops;
}
