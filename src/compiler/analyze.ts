// Analysis of a canonical rule (state slots, bytes per parameter, arithmetic per element, decays, random sites) and compileRule.

import { Node, binary, children, constant, topoOrder, unary } from './ir';
import { MAX_INPUT_LENGTH } from './lexer';
import { MAX_TREE_DEPTH } from './parse-infix';
import { STATE_SLOTS, StateName, MAX_DECAYS } from './kernel-abi';
import { canonicalize } from './canonical';
import { parseRule } from './named-rules';
import { isSignProduct } from './rewrite-rules';
import { isUniform, scheduleKernel } from './schedule';
import { NosSyntaxError } from './errors';

export { isSignProduct } from './rewrite-rules';
export { isUniform } from './schedule';

export interface RuleInfo {
  /** The text the rule was compiled from (a name, a token form or infix). */
  source: string;
  /** Simplified, canonical root. */
  root: Node;
  /** Canonical infix text; parses back to the same root. */
  canonical: string;
  /** 16 hex chars of sha256(canonical); equal for two spellings of one rule. */
  hash: string;
  /** State slots used, in slot order ('m', 'v', 'y', 'mom'). */
  state: readonly StateName[];
  /** 4 * state.length. */
  bytesPerParam: number;
  /** Arithmetic operations per element per step, as the kernel's schedule computes them (docs/compiler.md). */
  flopsPerElement: number;
  /** Decay terms in first-use order; decay i is scalar slot DECAY_BASE + i. */
  decays: ReadonlyArray<{ readonly name: 'ld' | 'cd' | 'rd'; readonly n: number }>;
  /** Distinct random sites (noise, anoise, drop). */
  randomSites: number;
  usesNoise: boolean;
  usesAnnealedNoise: boolean;
}

/**
 * exp(k * s) where s is a product of signs (values -1, 0, 1) and k is uniform (constants, decays): it takes only the
 * three values exp(-k), 1 and exp(k), so a back end computes exp(k) and exp(-k) once per step (or per launch) and
 * selects per element:  s > 0 ? exp(k) : s < 0 ? exp(-k) : 1.  Returns {scale: k, signs: s} or null.
 * Example: exp(sign(g)*sign(m)) gives scale 1; exp(ld*sign(g)*sign(m)) gives scale ld.
 */
export function signSelect(node: Node): { scale: Node; signs: Node } | null {
  if (node.kind !== 'unary' || node.op !== 'exp') return null;
  const arg = node.arg;
  if (isSignProduct(arg)) return { scale: constantOne(), signs: arg };
  // Canonical products are left-deep: ((k*a)*b)*c, negation outermost.  Split off the uniform prefix.
  const factors: Node[] = [];
  let negative = false;
  const walk = (x: Node): void => {
    if (x.kind === 'binary' && x.op === 'mul') { walk(x.left); walk(x.right); return; }
    if (x.kind === 'unary' && x.op === 'neg') { negative = !negative; walk(x.arg); return; }
    factors.push(x);
  };
  walk(arg);
  const uniform = factors.filter(isUniform);
  const signs = factors.filter((f) => !isUniform(f));
  if (uniform.length === 0 || signs.length === 0 || !signs.every(isSignProduct)) return null;
  let scale = uniform.reduce((a, b) => binary('mul', a, b));
  if (negative) scale = unary('neg', scale);
  const signProduct = signs.reduce((a, b) => binary('mul', a, b));
  return { scale, signs: signProduct };
}

function constantOne(): Node {
  return constant(1);
}

/** Analysis of an already simplified root. */
export function analyzeRule(source: string, root: Node, canonical: string, hash: string): RuleInfo {
  const order = topoOrder(root);
  const used = new Set<string>();
  const decays: Array<{ name: 'ld' | 'cd' | 'rd'; n: number }> = [];
  const sites = new Set<number>();
  let usesNoise = false;
  let usesAnnealedNoise = false;
  for (const n of order) {
    if (n.kind === 'input') used.add(n.name);
    else if (n.kind === 'decay') {
      if (!decays.some((d) => d.name === n.name && d.n === n.n)) decays.push({ name: n.name, n: n.n });
    } else if (n.kind === 'noise') {
      sites.add(n.site);
      if (n.annealed) usesAnnealedNoise = true; else usesNoise = true;
    } else if (n.kind === 'unary' && n.op === 'drop') sites.add(n.site);
  }
  if (decays.length > MAX_DECAYS) {
    throw new NosSyntaxError('range', `rule uses ${decays.length} distinct decay terms; kernels take at most ${MAX_DECAYS}`,
      source, 0, source.length);
  }
  const state = STATE_SLOTS.filter((s) => used.has(s));
  // Frozen to the leaves: compileRule hands one cached RuleInfo to every caller, so none may change it for the others.
  return Object.freeze({
    source, root, canonical, hash, state: Object.freeze(state),
    bytesPerParam: 4 * state.length,
    flopsPerElement: scheduleKernel({ root, state, decays }).flopsPerElement,
    decays: Object.freeze(decays.map((d) => Object.freeze(d))), randomSites: sites.size, usesNoise, usesAnnealedNoise,
  });
}

/** Depth of the tree (a leaf is 1), without recursion. */
export function treeDepth(root: Node): number {
  const depth = new Map<number, number>();
  for (const n of topoOrder(root)) {
    let d = 1;
    for (const c of children(n)) d = Math.max(d, 1 + depth.get(c.id)!);
    depth.set(n.id, d);
  }
  return depth.get(root.id)!;
}

const cache = new Map<string, RuleInfo>();

/** Parse (name | token form | infix), simplify and analyze; throws NosSyntaxError on bad input. */
export function compileRule(textOrName: string): RuleInfo {
  const known = typeof textOrName === 'string' ? cache.get(textOrName) : undefined;
  if (known) return known;
  const parsed = parseRule(textOrName);
  const { root, text, hash } = canonicalize(parsed);
  // Every compiled rule's canonical text must compile again (workers receive it): refuse a simplified form over the
  // input limits (expansions such as adam -> m/sqrt(v), or a balanced product regrouped into one long chain).
  if (text.length > MAX_INPUT_LENGTH) {
    throw new NosSyntaxError('too-long', `the simplified rule is ${text.length} characters long; the limit is ${MAX_INPUT_LENGTH}`,
      textOrName, 0, textOrName.length);
  }
  const depth = treeDepth(root);
  if (depth > MAX_TREE_DEPTH) {
    throw new NosSyntaxError('too-deep', `the simplified rule is ${depth} levels deep; the limit is ${MAX_TREE_DEPTH}`,
      textOrName, 0, textOrName.length);
  }
  const info = analyzeRule(textOrName, root, text, hash);
  if (cache.size > 10000) cache.clear();
  cache.set(textOrName, info);
  return info;
}
