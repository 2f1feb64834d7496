// The controller's token form: groups of five tokens (op1 op2 u1 u2 b) over a growing operand bank, decoded to and encoded from IR.
//
// Group k computes b(u1(op1), u2(op2)) and becomes the bank operand o<k>; the last group is the rule.  `keep`
// returns u1(op1) (its second operand is still read, so it must be valid, but it does not enter the rule).

import { NosSyntaxError, suggestion } from './errors';
import { Node, binary, constant, decay, input, noise, unary, BinaryOp, UnaryOp, checkNode, children, topoOrder } from './ir';
import { adamNode, negate, rmspropNode } from './parse-infix';
import { simplify } from './simplify';

export const MAX_GROUPS = 4;
export const BASE_OPERAND_TOKENS: readonly string[] = [
  'g', 'g2', 'g3', 'm', 'v', 'y', 'sign_g', 'sign_m', '1', '2', 'noise', '1e-4w', '1e-3w', '1e-2w', '1e-1w',
  'adam', 'rmsprop', 'ld', 'cd', 'anoise',
];
/** Operands taking an integer period count: cd<N> and rd<N> (e.g. cd2, rd10). */
export const PERIODIC_OPERAND_PREFIXES: readonly string[] = ['cd', 'rd'];
export const BANK_OPERAND_TOKENS: readonly string[] = ['o1', 'o2', 'o3'];
export const UNARY_TOKENS: readonly string[] = [
  'id', 'neg', 'exp', 'log', 'sqrt', 'clip1e-5', 'clip1e-4', 'clip1e-3', 'drop0.1', 'drop0.3', 'drop0.5', 'sign',
];
export const BINARY_TOKENS: readonly string[] = ['add', 'sub', 'mul', 'div', 'pow', 'keep'];

const WEIGHT_SCALES: Record<string, number> = { '1e-4w': 1e-4, '1e-3w': 1e-3, '1e-2w': 1e-2, '1e-1w': 1e-1 };
const CLIP_BOUNDS: Record<string, number> = { 'clip1e-5': 1e-5, 'clip1e-4': 1e-4, 'clip1e-3': 1e-3 };
const DROP_PROBABILITIES: Record<string, number> = { 'drop0.1': 0.1, 'drop0.3': 0.3, 'drop0.5': 0.5 };
const PERIODIC = /^(cd|rd)([1-9]\d{0,5})$/;
const ROLE_NAMES = ['first operand', 'second operand', 'first unary function', 'second unary function', 'binary function'];

interface Located { text: string; offset: number }

/** Splits a token text ("g sign_m id exp mul | ...") into tokens with offsets; '|' separates groups and is optional. */
function splitTokens(text: string): { tokens: Located[]; bars: number[] } {
  const tokens: Located[] = [];
  const bars: number[] = [];
  const re = /[^\s|]+|\|/g;
  let match: RegExpExecArray | null;
  while ((match = re.exec(text))) {
    if (match[0] === '|') bars.push(tokens.length);
    else tokens.push({ text: match[0], offset: match.index });
  }
  return { tokens, bars };
}

/** Decodes the controller form (an array of tokens or one string) into IR; throws NosSyntaxError naming the token. */
export function decodeTokens(tokens: string[] | string): Node {
  let source: string;
  let located: Located[];
  let bars: number[] = [];
  if (typeof tokens === 'string') {
    source = tokens;
    ({ tokens: located, bars } = splitTokens(tokens));
  } else if (Array.isArray(tokens)) {
    located = [];
    let offset = 0;
    const parts: string[] = [];
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      const text = typeof t === 'string' ? t : String(t);
      if (typeof t !== 'string' || text.length === 0 || /\s|\|/.test(text)) {
        const shown = typeof t === 'string' ? JSON.stringify(t) : `${typeof t} ${text}`;
        source = [...parts, text].join(' ');
        throw new NosSyntaxError('token', `token ${i + 1} (${shown}) is not a token: tokens are non-empty strings without spaces or '|'`,
          source, offset, Math.max(1, text.length));
      }
      located.push({ text, offset });
      parts.push(text);
      offset += text.length + 1;
    }
    source = parts.join(' ');
  } else {
    throw new NosSyntaxError('token', `token form must be a string or an array of strings, got ${tokens === null ? 'null' : typeof tokens}`, '', 0, 1);
  }
  if (source.length > 4096) {
    throw new NosSyntaxError('too-long', `token form is ${source.length} characters long; the limit is 4096`, source, 4096, 1);
  }
  if (located.length === 0) {
    throw new NosSyntaxError('empty', 'empty token form: expected groups of five tokens (op1 op2 u1 u2 b)', source, 0, 1);
  }
  const fail = (i: number, message: string): never => {
    const t = located[Math.min(i, located.length - 1)];
    const at = i < located.length ? t.offset : source.length;
    throw new NosSyntaxError('token', `${i < located.length ? `token ${i + 1} ('${t.text}')` : 'at the end'}: ${message}`, source, at,
      i < located.length ? t.text.length : 1);
  };
  for (const b of bars) {
    if (b % 5 !== 0) fail(b, `'|' must separate whole groups of five tokens, but it follows token ${b}`);
  }
  if (located.length % 5 !== 0) {
    fail(located.length, `the token form has ${located.length} tokens; it needs groups of five (op1 op2 u1 u2 b), so ${5 * Math.ceil(located.length / 5)}`);
  }
  const groups = located.length / 5;
  if (groups > MAX_GROUPS) fail(MAX_GROUPS * 5, `at most ${MAX_GROUPS} groups (${MAX_GROUPS * 5} tokens) are allowed, got ${groups}`);

  let nextSite = 0;
  const bank: Node[] = [];
  const operand = (i: number): Node => {
    const t = located[i].text;
    const bankMatch = /^o(\d+)$/.exec(t);
    if (bankMatch) {
      const k = Number(bankMatch[1]);
      if (k >= 1 && k <= bank.length) return bank[k - 1];
      if (k >= 1 && k <= MAX_GROUPS - 1) {
        return fail(i, `bank operand ${t} is not defined yet (group ${Math.floor(i / 5) + 1} can use ${bank.length > 1 ? `o1..o${bank.length}` : bank.length ? 'o1' : 'no bank operand'})`);
      }
      return fail(i, `unknown bank operand ${t}: the bank holds o1..o${MAX_GROUPS - 1}`);
    }
    switch (t) {
      case 'g': case 'g2': case 'g3': case 'm': case 'v': case 'y': return input(t);
      case 'sign_g': return unary('sign', input('g'));
      case 'sign_m': return unary('sign', input('m'));
      case '1': return constant(1);
      case '2': return constant(2);
      case 'noise': return noise(false, nextSite++);
      case 'anoise': return noise(true, nextSite++);
      case 'adam': return adamNode();
      case 'rmsprop': return rmspropNode();
      case 'ld': return decay('ld', 0);
      case 'cd': return decay('cd', 0.5);
    }
    if (WEIGHT_SCALES[t] !== undefined) return binary('mul', constant(WEIGHT_SCALES[t]), input('w'));
    const periodic = PERIODIC.exec(t);
    if (periodic) return decay(periodic[1] as 'cd' | 'rd', Number(periodic[2]));
    const hint = suggestion(t, [...BASE_OPERAND_TOKENS, 'cd2', 'rd10', ...BANK_OPERAND_TOKENS]);
    const role = UNARY_TOKENS.includes(t) || BINARY_TOKENS.includes(t) ? ` ('${t}' is a function; the order in a group is op1 op2 u1 u2 b)` : hint;
    return fail(i, `unknown operand for the ${ROLE_NAMES[i % 5]}${role}`);
  };
  const applyUnary = (i: number, x: Node): Node => {
    const t = located[i].text;
    switch (t) {
      case 'id': return x;
      case 'neg': return negate(x);
      case 'exp': case 'log': case 'sqrt': case 'sign': return unary(t as UnaryOp, x);
    }
    if (CLIP_BOUNDS[t] !== undefined) return unary('clip', x, CLIP_BOUNDS[t]);
    if (DROP_PROBABILITIES[t] !== undefined) return unary('drop', x, DROP_PROBABILITIES[t], nextSite++);
    const role = BINARY_TOKENS.includes(t) || BASE_OPERAND_TOKENS.includes(t) ? ` (the order in a group is op1 op2 u1 u2 b)` : suggestion(t, UNARY_TOKENS);
    return fail(i, `unknown unary function for the ${ROLE_NAMES[i % 5]}${role}`);
  };
  for (let k = 0; k < groups; k++) {
    const base = 5 * k;
    const op1 = operand(base);
    const op2 = operand(base + 1);
    const u1 = applyUnary(base + 2, op1);
    const u2 = applyUnary(base + 3, op2);
    const b = located[base + 4].text;
    let result: Node;
    if (b === 'keep') result = u1;
    else if (b === 'add' || b === 'sub' || b === 'mul' || b === 'div' || b === 'pow') result = binary(b as BinaryOp, u1, u2);
    else {
      const role = UNARY_TOKENS.includes(b) || BASE_OPERAND_TOKENS.includes(b) ? ` (the order in a group is op1 op2 u1 u2 b)` : suggestion(b, BINARY_TOKENS);
      return fail(base + 4, `unknown binary function${role}`);
    }
    bank.push(result);
  }
  return bank[bank.length - 1];
}

/** Prints a token list as text, groups separated by ' | '. */
export function printTokens(tokens: readonly string[]): string {
  if (!Array.isArray(tokens)) throw new TypeError(`printTokens: tokens must be an Array of strings, received ${tokens === null ? 'null' : typeof tokens}`);
  const bad = tokens.findIndex((t) => typeof t !== 'string');
  if (bad >= 0) throw new TypeError(`printTokens: tokens[${bad}] must be a string, received ${typeof tokens[bad]}`);
  const groups: string[] = [];
  for (let i = 0; i < tokens.length; i += 5) groups.push(tokens.slice(i, i + 5).join(' '));
  return groups.join(' | ');
}

// ---- encoding ----

function isRandom(node: Node): boolean {
  return node.kind === 'noise' || (node.kind === 'unary' && node.op === 'drop');
}

/** The one-token name of a leaf operand, or null when the node needs a group. */
function operandToken(node: Node): string | null {
  switch (node.kind) {
    case 'input':
      return node.name === 'w' || node.name === 'mom' ? null : node.name;
    case 'const':
      return node.value === 1 ? '1' : node.value === 2 ? '2' : null;
    case 'decay':
      if (node.name === 'ld') return 'ld';
      if (node.name === 'cd' && node.n === 0.5) return 'cd';
      return Number.isInteger(node.n) && node.n >= 1 && node.n <= 999999 ? `${node.name}${node.n}` : null;
    case 'noise':
      return node.annealed ? 'anoise' : 'noise';
    case 'unary':
      if (node.op === 'sign' && node.arg.kind === 'input' && (node.arg.name === 'g' || node.arg.name === 'm')) return `sign_${node.arg.name}`;
      return null;
    case 'binary':
      if (node.op === 'mul' && node.left.kind === 'const' && node.right.kind === 'input' && node.right.name === 'w') {
        for (const [token, scale] of Object.entries(WEIGHT_SCALES)) if (scale === node.left.value) return token;
      }
      if (node.op === 'div' && node.right === (adamNode() as { right: Node }).right) {
        if (node.left.kind === 'input' && node.left.name === 'm') return 'adam';
        if (node.left.kind === 'input' && node.left.name === 'g') return 'rmsprop';
      }
      return null;
  }
}

function unaryToken(node: Node): string | null {
  if (node.kind !== 'unary') return null;
  switch (node.op) {
    case 'neg': case 'exp': case 'log': case 'sqrt': case 'sign': return node.op;
    case 'clip': for (const [t, l] of Object.entries(CLIP_BOUNDS)) if (l === node.param) return t; return null;
    case 'drop': for (const [t, p] of Object.entries(DROP_PROBABILITIES)) if (p === node.param) return t; return null;
    default: return null;
  }
}

let constantTable: Map<string, readonly string[]> | null = null;
/** A constant's key in the table: a Map would take -0 and 0 as one key, but they are two rules (two hashes). */
const constantKey = (x: number): string => (Object.is(x, -0) ? '-0' : String(x));

/**
 * Constants one group over the operands 1 and 2 computes (0 = 1 - 1, 1e-5 = clip(1, 1e-5), e = exp(1), ...), each
 * with the first group found, so encoding can spell the constants that simplification folds.  The folding is the
 * simplifier's, so a decoded group simplifies back to exactly that constant.
 */
function constantGroups(): Map<string, readonly string[]> {
  if (constantTable) return constantTable;
  const table = new Map<string, readonly string[]>();
  const unaries = UNARY_TOKENS.filter((u) => !u.startsWith('drop'));
  // Simplest spellings first: fewer unary functions, then the vocabulary's order.
  for (let functions = 0; functions <= 2; functions++)
  for (const b of BINARY_TOKENS) for (const u1 of unaries) for (const u2 of unaries) for (const op1 of ['1', '2']) for (const op2 of ['1', '2']) {
    if (Number(u1 !== 'id') + Number(u2 !== 'id') !== functions) continue;
    if (b === 'keep' && (u2 !== 'id' || op2 !== op1)) continue;
    const group = [op1, op2, u1, u2, b];
    const value = simplify(decodeTokens(group));
    if (value.kind === 'const' && !table.has(constantKey(value.value))) table.set(constantKey(value.value), group);
  }
  constantTable = table;
  return table;
}

/**
 * Some valid token form of the rule (at most four groups).  Throws a plain Error when the rule is not expressible
 * (an operand outside the vocabulary such as w, mom or a constant other than 1 and 2, or more than four groups).
 * A random node used at more than one place keeps one shared draw by going through the bank.
 */
export function encodeTokens(root: Node): string[] {
  checkNode('encodeTokens', root);
  // Tree multiplicity of each node (paths from the root): a random node used more than once must be computed once,
  // in a bank group, so every use sees the same draw.
  const uses = new Map<number, number>([[root.id, 1]]);
  for (const node of topoOrder(root).reverse()) {
    for (const c of children(node)) uses.set(c.id, (uses.get(c.id) ?? 0) + (uses.get(node.id) ?? 0));
  }
  const shared = (n: Node): boolean => isRandom(n) && (uses.get(n.id) ?? 0) > 1;

  const groups: string[][] = [];
  const bankOf = new Map<number, string>();
  const notExpressible = (why: string): never => {
    throw new Error(`rule is not expressible in the controller's token form: ${why}`);
  };
  // An operand token for `node`, emitting a group when it is not a leaf.
  const asOperand = (node: Node): string => {
    const leaf = shared(node) ? null : operandToken(node);
    if (leaf) return leaf;
    const known = bankOf.get(node.id);
    if (known) return known;
    const group = asGroup(node);
    groups.push(group);
    if (groups.length > MAX_GROUPS) notExpressible(`it needs more than ${MAX_GROUPS} groups`);
    const name = `o${groups.length}`;
    bankOf.set(node.id, name);
    return name;
  };
  // op + unary for one side of a group: fold a unary function into the group when its argument is an operand.
  const side = (node: Node): [string, string] => {
    if (node.kind === 'const' && (node.value === -1 || node.value === -2)) return [String(-node.value), 'neg'];
    const u = shared(node) ? null : unaryToken(node);
    if (u && node.kind === 'unary' && operandToken(node) === null) return [asOperand(node.arg), u];
    return [asOperand(node), 'id'];
  };
  const asGroup = (node: Node): string[] => {
    const leaf = shared(node) && node.kind !== 'noise' ? null : operandToken(node);
    if (leaf) return [leaf, leaf, 'id', 'id', 'keep'];
    if (node.kind === 'binary') {
      const [op1, u1] = side(node.left);
      const [op2, u2] = side(node.right);
      return [op1, op2, u1, u2, node.op];
    }
    if (node.kind === 'unary') {
      const u = unaryToken(node);
      if (!u) return notExpressible(`no token for ${node.op}${node.op === 'clip' || node.op === 'drop' ? ` with parameter ${node.param}` : ''}`);
      const op = asOperand(node.arg);
      return [op, op, u, 'id', 'keep'];
    }
    if (node.kind === 'const') {
      const group = constantGroups().get(constantKey(node.value));
      if (group) return [...group];
      return notExpressible(`no token for the constant ${node.value} (1, 2, or one group over them such as 1 1 id id sub = 0)`);
    }
    if (node.kind === 'input') return notExpressible(`no token for the operand ${node.name}`);
    if (node.kind === 'decay') return notExpressible(`no token for ${node.name}(${node.n})`);
    return notExpressible(`no token for ${node.kind}`);
  };
  const last = asGroup(root);
  groups.push(last);
  if (groups.length > MAX_GROUPS) notExpressible(`it needs more than ${MAX_GROUPS} groups`);
  return groups.flat();
}
