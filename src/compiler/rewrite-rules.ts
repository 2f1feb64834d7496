// The simplifier's rewrite rules as data: a table of pattern -> replacement entries over the IR (applied by simplify.ts).
//
// Pattern language (plain arrays, so the table reads like the algebra it encodes):
//   '?x'            any node, bound to x (a name used twice must match the same node)
//   '#c'            any constant node, bound to c
//   '%l'            (only as the third element of a clip pattern) the clip bound, bound to l as a number
//   'g', 'm', ...   that input
//   3, 0, -1        that constant
//   [op, a]         a unary node ('neg', 'exp', 'log', 'sqrt', 'sign', 'sigmoid', 'clip' with [op, a, '%l'])
//   [op, a, b]      a binary node ('add', 'sub', 'mul', 'div', 'pow')
//   ['*', ...]      any unary (one argument) or binary (two arguments) op: used by constant folding
// A replacement is a template in the same language (built with the bindings) or a function returning a node, or
// null to decline.  `when` guards a rule on its bindings.
//
// Exactness (IEEE single precision, the precision of every kernel): each rule below gives the same value for every
// input, except for the sign of a zero result, with three documented exceptions:
//   * fold-*: constants are folded in double precision (one rounding to single happens when a kernel loads the
//     constant, so the folded value can differ from a step-by-step single-precision evaluation in the last bit);
//     results that are not finite in single precision are not folded.  Division is never folded (its delta is a
//     per-step scalar), nor is drop (random).
//   * sub-self (x - x -> 0) differs where x is infinite or NaN; it is not applied where x contains a random site.
//   * the chain pass in simplify.ts reorders and regroups sums and products (commutative ordering), which can change
//     rounding in the last bits; the canonical form is what every target then computes, so targets agree.
// Deliberately NOT rules: x*0 -> 0 (wrong for inf/NaN), sign(x)*sign(x) -> 1 (it is 0 where x is 0, and the
// gradient or the running average can be exactly 0), x/1 -> x (division adds delta), exp(log x) -> x (log takes |x|).

import { Node, UnaryOp, BinaryOp, InputName, INPUT_NAMES, binary, constant, input, unary } from './ir';
import { OPS } from './ops';

export type Pattern = number | string | Pattern[];
export type Bindings = Record<string, Node | number>;
export interface RewriteRule {
  name: string;
  /** The rule in words (shown by tools that list the table). */
  doc: string;
  from: Pattern;
  to: Pattern | ((b: Bindings, node: Node) => Node | null);
  when?: (b: Bindings, node: Node) => boolean;
}

/** A folded value, or null when it is not finite in single precision (then the expression is left alone). */
function single(x: number): number | null {
  return Number.isFinite(Math.fround(x)) ? x : null;
}

/** The folded value of a unary op on a constant (the op table's double-precision meaning), or null. */
export function foldUnary(op: UnaryOp, a: number, param: number): number | null {
  const fold = OPS[op].fold;
  if (!fold) return null; // drop: random, never folded
  return op === 'sign' || op === 'clip' ? fold(a, 0, param) : single(fold(a, 0, param));
}

/** The folded value of a binary op on constants, or null (division: its delta is a per-step scalar). */
export function foldBinary(op: BinaryOp, a: number, b: number): number | null {
  const fold = OPS[op].fold;
  return fold ? single(fold(a, b, 0)) : null;
}

/** True when any random site (noise, anoise, drop) is inside the node. */
export function containsRandom(node: Node, memo: Map<number, boolean> = new Map()): boolean {
  const known = memo.get(node.id);
  if (known !== undefined) return known;
  let result: boolean;
  if (node.kind === 'noise') result = true;
  else if (node.kind === 'unary') result = node.op === 'drop' || containsRandom(node.arg, memo);
  else if (node.kind === 'binary') result = containsRandom(node.left, memo) || containsRandom(node.right, memo);
  else result = false;
  memo.set(node.id, result);
  return result;
}

/** True when the node only takes the values -1, 0 and 1: a product of signs (sign(g)*sign(m), -sign(x), ...). */
export function isSignProduct(node: Node): boolean {
  switch (node.kind) {
    case 'const': return node.value === 1 || node.value === -1 || node.value === 0;
    case 'unary': return node.op === 'sign' || (node.op === 'neg' && isSignProduct(node.arg));
    case 'binary': return node.op === 'mul' && isSignProduct(node.left) && isSignProduct(node.right);
    default: return false;
  }
}

const node = (b: Bindings, name: string): Node => b[name] as Node;

export const REWRITE_RULES: readonly RewriteRule[] = [
  // constant folding
  { name: 'fold-unary', doc: 'f(c) -> its value (not drop; only finite results)', from: ['*', '#a'],
    to: (b, n) => { if (n.kind !== 'unary') return null; const v = foldUnary(n.op, (node(b, 'a') as { value: number }).value, n.param); return v === null ? null : constant(v); } },
  { name: 'fold-binary', doc: 'c1 op c2 -> its value (not division; only finite results)', from: ['*', '#a', '#b'],
    to: (b, n) => { if (n.kind !== 'binary') return null; const v = foldBinary(n.op, (node(b, 'a') as { value: number }).value, (node(b, 'b') as { value: number }).value); return v === null ? null : constant(v); } },
  // negation
  { name: 'neg-neg', doc: '--x -> x', from: ['neg', ['neg', '?x']], to: '?x' },
  { name: 'neg-sub', doc: '-(x - y) -> y - x', from: ['neg', ['sub', '?x', '?y']], to: ['sub', '?y', '?x'] },
  { name: 'add-neg', doc: 'x + -y -> x - y', from: ['add', '?x', ['neg', '?y']], to: ['sub', '?x', '?y'] },
  { name: 'neg-add', doc: '-x + y -> y - x', from: ['add', ['neg', '?x'], '?y'], to: ['sub', '?y', '?x'] },
  { name: 'sub-neg', doc: 'x - -y -> x + y', from: ['sub', '?x', ['neg', '?y']], to: ['add', '?x', '?y'] },
  { name: 'mul-neg-left', doc: '(-x)*y -> -(x*y)', from: ['mul', ['neg', '?x'], '?y'], to: ['neg', ['mul', '?x', '?y']] },
  { name: 'mul-neg-right', doc: 'x*(-y) -> -(x*y)', from: ['mul', '?x', ['neg', '?y']], to: ['neg', ['mul', '?x', '?y']] },
  { name: 'div-neg-left', doc: '(-x)/y -> -(x/y)', from: ['div', ['neg', '?x'], '?y'], to: ['neg', ['div', '?x', '?y']] },
  // identities of + - * ^
  { name: 'add-zero', doc: 'x + 0 -> x', from: ['add', '?x', 0], to: '?x' },
  { name: 'zero-add', doc: '0 + x -> x', from: ['add', 0, '?x'], to: '?x' },
  { name: 'sub-zero', doc: 'x - 0 -> x', from: ['sub', '?x', 0], to: '?x' },
  { name: 'zero-sub', doc: '0 - x -> -x', from: ['sub', 0, '?x'], to: ['neg', '?x'] },
  { name: 'sub-self', doc: 'x - x -> 0 (x without random sites)', from: ['sub', '?x', '?x'], to: 0,
    when: (b) => !containsRandom(node(b, 'x')) },
  { name: 'add-self', doc: 'x + x -> 2*x (exact; one draw added to itself)', from: ['add', '?x', '?x'], to: ['mul', 2, '?x'] },
  { name: 'mul-one', doc: 'x*1 -> x', from: ['mul', '?x', 1], to: '?x' },
  { name: 'one-mul', doc: '1*x -> x', from: ['mul', 1, '?x'], to: '?x' },
  { name: 'mul-minus-one', doc: 'x*-1 -> -x', from: ['mul', '?x', -1], to: ['neg', '?x'] },
  { name: 'minus-one-mul', doc: '-1*x -> -x', from: ['mul', -1, '?x'], to: ['neg', '?x'] },
  { name: 'g-times-g', doc: 'g*g -> g2 (kernels define g2 as g*g)', from: ['mul', 'g', 'g'], to: 'g2' },
  { name: 'pow-one', doc: 'x^1 -> x', from: ['pow', '?x', 1], to: '?x' },
  { name: 'pow-zero', doc: 'x^0 -> 1 (powf gives 1 for every x, NaN included)', from: ['pow', '?x', 0], to: 1 },
  { name: 'one-pow', doc: '1^x -> 1 (powf gives 1 for every x, NaN included)', from: ['pow', 1, '?x'], to: 1 },
  // sign algebra (sign takes -1, 0, 1)
  { name: 'sign-of-signs', doc: 'sign(s) -> s where s is a product of signs (sign(sign(x)) -> sign(x))', from: ['sign', '?s'], to: '?s',
    when: (b) => isSignProduct(node(b, 's')) },
  { name: 'sign-neg', doc: 'sign(-x) -> -sign(x)', from: ['sign', ['neg', '?x']], to: ['neg', ['sign', '?x']] },
  // |x| inside log and sqrt, symmetric clip
  { name: 'sqrt-neg', doc: 'sqrt(-x) -> sqrt(x) (sqrt takes |x|)', from: ['sqrt', ['neg', '?x']], to: ['sqrt', '?x'] },
  { name: 'log-neg', doc: 'log(-x) -> log(x) (log takes |x|)', from: ['log', ['neg', '?x']], to: ['log', '?x'] },
  { name: 'clip-neg', doc: 'clip(-x, l) -> -clip(x, l)', from: ['clip', ['neg', '?x'], '%l'], to: ['neg', ['clip', '?x', '%l']] },
  { name: 'clip-clip', doc: 'clip(clip(x, a), b) -> clip(x, min(a, b))', from: ['clip', ['clip', '?x', '%a'], '%b'],
    to: (b) => unary('clip', node(b, 'x'), Math.min(b.a as number, b.b as number)) },
];

const UNARY_NAMES = new Set<string>(['neg', 'exp', 'log', 'sqrt', 'clip', 'drop', 'sign', 'sigmoid']);
const BINARY_NAMES = new Set<string>(['add', 'sub', 'mul', 'div', 'pow']);
const INPUTS = new Set<string>(INPUT_NAMES);

/** Matches `pattern` against `n`, extending `b`; false when it does not match. */
export function matchPattern(pattern: Pattern, n: Node, b: Bindings): boolean {
  if (typeof pattern === 'number') return n.kind === 'const' && n.value === pattern;
  if (typeof pattern === 'string') {
    if (pattern.startsWith('?') || pattern.startsWith('#')) {
      if (pattern.startsWith('#') && n.kind !== 'const') return false;
      const name = pattern.slice(1);
      const bound = b[name];
      if (bound !== undefined) return bound === n;
      b[name] = n;
      return true;
    }
    if (INPUTS.has(pattern)) return n.kind === 'input' && n.name === pattern;
    throw new Error(`rewrite pattern: unknown atom '${pattern}'`);
  }
  const [head, ...args] = pattern;
  if (args.length === 1 || (args.length === 2 && (head === 'clip'))) {
    if (n.kind !== 'unary' || (head !== '*' && n.op !== head)) return false;
    if (head === '*' && n.op === 'drop') return false;
    if (args.length === 2) {
      const p = args[1];
      if (typeof p === 'string' && p.startsWith('%')) b[p.slice(1)] = n.param;
      else if (p !== n.param) return false;
    }
    return matchPattern(args[0], n.arg, b);
  }
  if (n.kind !== 'binary' || (head !== '*' && n.op !== head)) return false;
  return matchPattern(args[0], n.left, b) && matchPattern(args[1], n.right, b);
}

/** Builds a replacement template with the bindings. */
export function buildTemplate(template: Pattern, b: Bindings): Node {
  if (typeof template === 'number') return constant(template);
  if (typeof template === 'string') {
    if (template.startsWith('?') || template.startsWith('#')) return b[template.slice(1)] as Node;
    if (INPUTS.has(template)) return input(template as InputName);
    throw new Error(`rewrite template: unknown atom '${template}'`);
  }
  const [head, ...args] = template;
  if (typeof head === 'string' && UNARY_NAMES.has(head)) {
    let param = 0;
    if (args.length === 2) {
      const p = args[1];
      param = typeof p === 'string' && p.startsWith('%') ? (b[p.slice(1)] as number) : (p as number);
    }
    return unary(head as UnaryOp, buildTemplate(args[0], b), param);
  }
  if (typeof head === 'string' && BINARY_NAMES.has(head)) {
    return binary(head as BinaryOp, buildTemplate(args[0], b), buildTemplate(args[1], b));
  }
  throw new Error(`rewrite template: unknown head '${String(head)}'`);
}
