// The hash-consed expression IR: every front end (infix, controller tokens) decodes to it, every back end renders from it.
//
// Semantics (paper, section 4.1; see also kernel-abi.ts for how a step is fed):
//   inputs   g (gradient), g2 = g*g, g3 = g*g*g, m = m-hat, v = v-hat, y = gamma-hat (bias-corrected running
//            averages of g, g^2, g^3), w (the parameter before this step), mom (heavy-ball buffer mom <- mu*mom + g,
//            PyTorch's momentum convention; not in the paper's search space, used by the named rule `momentum`).
//   decays   ld, cd(n), rd(n): scalars of the training step, computed once per step on the host (decays.ts).
//   noise    N(0, 0.01) (variance 0.01, std 0.1) or the annealed N(0, 1/(1+t)^0.55); each occurrence is its own
//            random site, drawn from Philox keyed by (seed, step) with counter (element index, site).
//   unary    neg, exp, log (of |x|), sqrt (of |x|), clip(x, l) to [-l, l], drop(x, p) (0 with probability p, no
//            rescaling), sign, sigmoid (Table 6 only).  Identity is not a node.
//   binary   add, sub, mul, div (x / (y + delta)), pow (x^y, C powf semantics).  Keep-left is not a node.
// The update is w <- w - lr(t) * rule.

export type InputName = 'g' | 'g2' | 'g3' | 'm' | 'v' | 'y' | 'w' | 'mom';
export type DecayName = 'ld' | 'cd' | 'rd';
export type UnaryOp = 'neg' | 'exp' | 'log' | 'sqrt' | 'clip' | 'drop' | 'sign' | 'sigmoid';
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow';

export const INPUT_NAMES: readonly InputName[] = ['g', 'g2', 'g3', 'm', 'v', 'y', 'w', 'mom'];
export const UNARY_OPS: readonly UnaryOp[] = ['neg', 'exp', 'log', 'sqrt', 'clip', 'drop', 'sign', 'sigmoid'];
export const BINARY_OPS: readonly BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow'];

interface NodeBase {
  /** Unique within this process; equal ids mean structurally equal nodes (hash-consing). */
  readonly id: number;
  /** Structural key from which the node was interned (children by id). */
  readonly key: string;
}
export interface InputNode extends NodeBase { readonly kind: 'input'; readonly name: InputName }
export interface ConstNode extends NodeBase { readonly kind: 'const'; readonly value: number }
export interface DecayNode extends NodeBase { readonly kind: 'decay'; readonly name: DecayName; readonly n: number }
export interface NoiseNode extends NodeBase { readonly kind: 'noise'; readonly annealed: boolean; readonly site: number }
export interface UnaryNode extends NodeBase {
  readonly kind: 'unary'; readonly op: UnaryOp; readonly arg: Node;
  /** clip: the bound l; drop: the probability p; otherwise 0. */
  readonly param: number;
  /** drop only: its random site; otherwise -1. */
  readonly site: number;
}
export interface BinaryNode extends NodeBase { readonly kind: 'binary'; readonly op: BinaryOp; readonly left: Node; readonly right: Node }
export type Node = InputNode | ConstNode | DecayNode | NoiseNode | UnaryNode | BinaryNode;

const table = new Map<string, Node>();
let nextId = 1;

function intern<T extends Node>(key: string, make: (id: number) => T): T {
  const found = table.get(key);
  if (found) return found as T;
  const node = Object.freeze(make(nextId++)) as T;
  table.set(key, node);
  return node;
}

/** Numbers print exactly and stably in keys (-0 and NaN included). */
function num(x: number): string {
  return Object.is(x, -0) ? '-0' : String(x);
}

export function input(name: InputName): InputNode {
  const key = `i:${name}`;
  return intern(key, (id) => ({ id, key, kind: 'input', name }));
}
export function constant(value: number): ConstNode {
  const key = `c:${num(value)}`;
  return intern(key, (id) => ({ id, key, kind: 'const', value }));
}
/** cd and rd take a period count n; ld ignores it (use 0). */
export function decay(name: DecayName, n = 0): DecayNode {
  const key = `d:${name}:${num(n)}`;
  return intern(key, (id) => ({ id, key, kind: 'decay', name, n }));
}
export function noise(annealed: boolean, site: number): NoiseNode {
  const key = `n:${annealed ? 1 : 0}:${site}`;
  return intern(key, (id) => ({ id, key, kind: 'noise', annealed, site }));
}
export function unary(op: UnaryOp, arg: Node, param = 0, site = -1): UnaryNode {
  const key = `u:${op}:${num(param)}:${site}:${arg.id}`;
  return intern(key, (id) => ({ id, key, kind: 'unary', op, arg, param, site }));
}
export function binary(op: BinaryOp, left: Node, right: Node): BinaryNode {
  const key = `b:${op}:${left.id}:${right.id}`;
  return intern(key, (id) => ({ id, key, kind: 'binary', op, left, right }));
}

/**
 * Throws a TypeError unless x is a node of this IR.  Every node comes from the constructors above and is interned, so
 * the table holding x under its key is the whole check (a look-alike object, or a compiled rule, is not a node).
 */
export function checkNode(where: string, x: unknown): asserts x is Node {
  if (typeof x === 'object' && x !== null && table.get((x as { key?: unknown }).key as string) === x) return;
  const shown = x === null || x === undefined ? String(x) : Array.isArray(x) ? 'an Array'
    : typeof x === 'object' ? 'an object' : `${typeof x} ${JSON.stringify(x)}`;
  const compiled = typeof x === 'object' && x !== null && 'root' in x && 'canonical' in x;
  throw new TypeError(`${where}: expected an expression node (from parseRule or decodeTokens, or a compiled rule's root), ` +
    `received ${compiled ? "a compiled rule (pass its .root)" : shown}`);
}

/** Children in evaluation order. */
export function children(node: Node): Node[] {
  switch (node.kind) {
    case 'unary': return [node.arg];
    case 'binary': return [node.left, node.right];
    default: return [];
  }
}

/** Every distinct node reachable from root, children before parents (a schedule for renderers). */
export function topoOrder(root: Node): Node[] {
  const seen = new Set<number>();
  const out: Node[] = [];
  const stack: Array<[Node, boolean]> = [[root, false]];
  while (stack.length) {
    const [node, expanded] = stack.pop()!;
    if (expanded) { out.push(node); continue; }
    if (seen.has(node.id)) continue;
    seen.add(node.id);
    stack.push([node, true]);
    for (const c of children(node).reverse()) if (!seen.has(c.id)) stack.push([c, false]);
  }
  return out;
}
