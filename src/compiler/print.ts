// Printers for IR: infix text with minimal parentheses (reparses to the same IR) and LaTeX.

import { Node, checkNode, topoOrder, children } from './ir';

/** Shortest text of a finite number that reads back to the same double ("1e-4" rather than "0.0001"). */
export function formatNumber(value: number): string {
  if (Object.is(value, -0)) return '-0';
  const plain = String(value);
  const exponential = value.toExponential();
  return exponential.length < plain.length && Number(exponential) === value ? exponential : plain;
}

/** Significant digits of a number's shortest text (`formatNumber`): 1e-4 has 1, 7.38905609893065 has 15. */
function significantDigits(value: number): number {
  const mantissa = formatNumber(Math.abs(value)).split('e')[0].replace('.', '').replace(/^0+/, '');
  return Math.max(1, mantissa.replace(/0+$/, '').length);
}

/**
 * A constant as a person writes it: `factor*fn(arg) + offset`, negated when `negative` (fn null: the number `arg`
 * itself).  `e` is exp(1); factor and offset are small integers (1 and 0 when absent).
 */
export interface ReadableConstant { fn: 'e' | 'exp' | 'log' | 'sqrt' | 'sigmoid' | null; arg: number; factor: number; offset: number; negative: boolean }

/** Arguments worth a name: at most this many significant digits (exp(0.5), sqrt(10), log(1e-3)). */
const SHORT_ARGUMENT_DIGITS = 4;
/** A plain number this short always prints as itself (0.5, 1e-4, 3.14159). */
const SHORT_NUMBER_DIGITS = 6;
/** Integer factors and offsets tried around a named value (2*e, exp(2) - 1). */
const SMALL_INTEGERS = [1, 2, 3, 4, 5, 6, 7, 8, 9];

/** fn(arg) for a positive c when that is exactly c with a short arg (the value constant folding gives). */
function namedValue(c: number): { fn: Exclude<ReadableConstant['fn'], null>; arg: number } | null {
  if (c === Math.E) return { fn: 'e', arg: 1 };
  // A short number is no folded function value worth naming: 1.3 is not sqrt(1.69), so 0.1 + 0.2 prints as its sum.
  if (significantDigits(c) <= SHORT_NUMBER_DIGITS) return null;
  const forms: Array<['exp' | 'log' | 'sqrt' | 'sigmoid', number, (a: number) => number]> = [
    ['exp', Math.log(c), Math.exp],
    ['log', Math.exp(c), (a) => Math.log(Math.abs(a))],
    ['sqrt', c * c, (a) => Math.sqrt(Math.abs(a))],
    ['sigmoid', Math.log(c / (1 - c)), (a) => 1 / (1 + Math.exp(-a))],
  ];
  for (const [fn, guess, fold] of forms) {
    if (!Number.isFinite(guess)) continue;
    const arg = Number(guess.toPrecision(SHORT_ARGUMENT_DIGITS));
    if (fold(arg) === c && significantDigits(arg) <= SHORT_ARGUMENT_DIGITS) return { fn, arg };
  }
  return null;
}

/**
 * How a folded constant reads best.  A long one that is exactly what constant folding gives for exp, log, sqrt or
 * sigmoid of a short number (e for exp(1)), maybe times a small integer or plus one, is written that way, so the
 * text folds back to the very same double: 7.38905609893065 is exp(2), 5.43656365691809 is 2*e, 3.718281828459045 is
 * 1 + e.  Anything else is the number itself.
 */
export function readableConstant(value: number): ReadableConstant {
  const plain: ReadableConstant = { fn: null, arg: value, factor: 1, offset: 0, negative: false };
  const c = Math.abs(value);
  if (!Number.isFinite(c) || significantDigits(c) <= SHORT_NUMBER_DIGITS) return plain;
  const negative = value < 0;
  const named = namedValue(c);
  if (named) return { ...named, factor: 1, offset: 0, negative };
  // Folding k*f(a) multiplies the coefficient k by f(a), and f(a) + k adds them: only those exact doubles qualify.
  for (const k of SMALL_INTEGERS.slice(1)) {
    const n = k * (c / k) === c ? namedValue(c / k) : null;
    if (n) return { ...n, factor: k, offset: 0, negative };
  }
  for (const k of SMALL_INTEGERS) {
    for (const offset of [k, -k]) {
      const n = c - offset > 0 && (c - offset) + offset === c ? namedValue(c - offset) : null;
      if (n) return { ...n, factor: 1, offset, negative };
    }
  }
  return plain;
}

/** Infix text of a constant and its precedence level (what printInfix writes): `exp(2)`, `-e`, `2*e`, `1 + e`, `0.5`. */
function constantText(value: number): [string, number] {
  const r = readableConstant(value);
  if (r.fn === null) return [formatNumber(value), value < 0 || Object.is(value, -0) ? NEGATION : ATOM];
  let text = r.fn === 'e' ? 'e' : `${r.fn}(${formatNumber(r.arg)})`;
  let prec = ATOM;
  if (r.factor !== 1) { text = `${r.factor}*${text}`; prec = PRODUCT; }
  if (r.offset !== 0) { text = `${text} ${r.offset < 0 ? '-' : '+'} ${formatNumber(Math.abs(r.offset))}`; prec = SUM; }
  if (r.negative) return [prec === SUM ? `-(${text})` : `-${text}`, NEGATION];
  return [text, prec];
}

/** Infix text of a constant as printInfix writes it. */
export function formatConstant(value: number): string {
  return constantText(value)[0];
}

// Precedence levels of printed forms (higher binds tighter).
const SUM = 1;
const NEGATION = 2;
const PRODUCT = 3;
const POWER = 5;
const ATOM = 6;

function isRandom(node: Node): boolean {
  return node.kind === 'noise' || (node.kind === 'unary' && node.op === 'drop');
}

/** Random sites used at more than one place in the tree: only those need an '@k' label to keep one shared draw. */
export function sharedSites(root: Node): Set<number> {
  const uses = new Map<number, number>([[root.id, 1]]);
  const order = topoOrder(root);
  for (const node of [...order].reverse()) {
    for (const c of children(node)) uses.set(c.id, (uses.get(c.id) ?? 0) + (uses.get(node.id) ?? 0));
  }
  const perSite = new Map<number, number>();
  for (const node of order) {
    if (!isRandom(node)) continue;
    const site = node.kind === 'noise' ? node.site : (node as { site: number }).site;
    perSite.set(site, (perSite.get(site) ?? 0) + (uses.get(node.id) ?? 0));
  }
  return new Set([...perSite].filter(([, n]) => n > 1).map(([site]) => site));
}

export interface PrintOptions {
  /** Print '@site' after random operands whose draw is shared (default true); false gives the sort key text. */
  labels?: boolean;
  /** With labels false: sites to mark '@*' (shared draws), so sort keys tell a shared draw from a lone one. */
  markSites?: ReadonlySet<number>;
}

/** Infix text with minimal parentheses; parsing it gives back the same IR (for parsed or simplified trees). */
export function printInfix(root: Node, options: PrintOptions = {}): string {
  checkNode('printInfix', root);
  if (options === null || typeof options !== 'object') throw new TypeError(`printInfix: options must be an object, received ${String(options)}`);
  const labelled = options.labels === false ? new Set<number>() : sharedSites(root);
  const memo = new Map<number, [string, number]>();
  const marked = options.labels === false ? options.markSites ?? new Set<number>() : new Set<number>();
  const label = (site: number): string => (labelled.has(site) ? `@${site}` : marked.has(site) ? '@*' : '');
  const wrap = (node: Node, min: number): string => {
    const [text, prec] = show(node);
    return prec >= min ? text : `(${text})`;
  };
  const show = (node: Node): [string, number] => {
    const known = memo.get(node.id);
    if (known) return known;
    let out: [string, number];
    switch (node.kind) {
      case 'input': out = [node.name, ATOM]; break;
      case 'const': out = constantText(node.value); break;
      case 'decay':
        out = [node.name === 'ld' ? 'ld' : node.name === 'cd' && node.n === 0.5 ? 'cd' : `${node.name}(${formatNumber(node.n)})`, ATOM];
        break;
      case 'noise': out = [(node.annealed ? 'anoise' : 'noise') + label(node.site), ATOM]; break;
      case 'unary':
        if (node.op === 'neg') out = [`-${wrap(node.arg, NEGATION)}`, NEGATION];
        else if (node.op === 'clip') out = [`clip(${wrap(node.arg, SUM)}, ${formatNumber(node.param)})`, ATOM];
        else if (node.op === 'drop') out = [`drop(${wrap(node.arg, SUM)}, ${formatNumber(node.param)})${label(node.site)}`, ATOM];
        else out = [`${node.op}(${wrap(node.arg, SUM)})`, ATOM];
        break;
      case 'binary':
        switch (node.op) {
          case 'add': out = [`${wrap(node.left, SUM)} + ${wrap(node.right, NEGATION)}`, SUM]; break;
          case 'sub': out = [`${wrap(node.left, SUM)} - ${wrap(node.right, NEGATION)}`, SUM]; break;
          case 'mul': out = [`${wrap(node.left, PRODUCT)}*${wrap(node.right, PRODUCT + 1)}`, PRODUCT]; break;
          case 'div': out = [`${wrap(node.left, PRODUCT)}/${wrap(node.right, PRODUCT + 1)}`, PRODUCT]; break;
          case 'pow': {
            // e^x reads as exp(x): the constant e as a base keeps parentheses, (e)^x, to stay powf(e, x).
            const base = wrap(node.left, ATOM);
            out = [`${base === 'e' ? '(e)' : base}^${wrap(node.right, POWER)}`, POWER];
            break;
          }
        }
    }
    memo.set(node.id, out);
    return out;
  };
  return show(root)[0];
}

const LATEX_INPUTS: Record<string, string> = {
  g: 'g', g2: 'g^2', g3: 'g^3', m: '\\hat{m}', v: '\\hat{v}', y: '\\hat{\\gamma}', w: 'w', mom: '\\mathrm{mom}',
};

function latexNumber(value: number): string {
  const r = readableConstant(value);
  if (r.fn !== null) {
    const arg = latexNumber(r.arg);
    const body = { e: 'e', exp: `e^{${arg}}`, log: `\\log ${arg}`, sqrt: `\\sqrt{${arg}}`, sigmoid: `\\sigma\\left(${arg}\\right)` }[r.fn];
    return r.negative ? `-${body}` : body;
  }
  return formatNumber(value).replace(/^(-?)([\d.]+)e([+-]?)(\d+)$/, (_, sign: string, mantissa: string, expSign: string, exp: string) =>
    `${sign}${mantissa === '1' ? '' : `${mantissa} \\cdot `}10^{${expSign === '-' ? '-' : ''}${exp}}`);
}

/** LaTeX for a rule (division shows its delta, log and sqrt their absolute values). */
export function printLatex(root: Node): string {
  checkNode('printLatex', root);
  const wrap = (node: Node, min: number): string => {
    const [text, prec] = show(node);
    return prec >= min ? text : `\\left(${text}\\right)`;
  };
  const memo = new Map<number, [string, number]>();
  const show = (node: Node): [string, number] => {
    const known = memo.get(node.id);
    if (known) return known;
    let out: [string, number];
    switch (node.kind) {
      case 'input': out = [LATEX_INPUTS[node.name], node.name === 'g2' || node.name === 'g3' ? POWER : ATOM]; break;
      case 'const': {
        const text = latexNumber(node.value);
        out = [text, node.value < 0 ? NEGATION : /\^/.test(text) ? POWER : ATOM];
        break;
      }
      case 'decay':
        out = [node.name === 'ld' ? '\\mathrm{ld}' : `\\mathrm{${node.name}}_{${formatNumber(node.n)}}`, ATOM];
        break;
      case 'noise': out = [node.annealed ? '\\epsilon_t' : '\\epsilon', ATOM]; break;
      case 'unary':
        switch (node.op) {
          case 'neg': out = [`-${wrap(node.arg, NEGATION)}`, NEGATION]; break;
          case 'exp': out = [`e^{${show(node.arg)[0]}}`, POWER]; break;
          case 'log': out = [`\\log\\left|${show(node.arg)[0]}\\right|`, ATOM]; break;
          case 'sqrt': out = [`\\sqrt{\\left|${show(node.arg)[0]}\\right|}`, ATOM]; break;
          case 'sign': out = [`\\operatorname{sign}\\left(${show(node.arg)[0]}\\right)`, ATOM]; break;
          case 'sigmoid': out = [`\\sigma\\left(${show(node.arg)[0]}\\right)`, ATOM]; break;
          case 'clip': out = [`\\operatorname{clip}\\left(${show(node.arg)[0]}, ${latexNumber(node.param)}\\right)`, ATOM]; break;
          case 'drop': out = [`\\operatorname{drop}\\left(${show(node.arg)[0]}, ${formatNumber(node.param)}\\right)`, ATOM]; break;
        }
        break;
      case 'binary':
        switch (node.op) {
          case 'add': out = [`${wrap(node.left, SUM)} + ${wrap(node.right, NEGATION)}`, SUM]; break;
          case 'sub': out = [`${wrap(node.left, SUM)} - ${wrap(node.right, PRODUCT)}`, SUM]; break;
          case 'mul': out = [`${wrap(node.left, PRODUCT)} \\cdot ${wrap(node.right, PRODUCT)}`, PRODUCT]; break;
          case 'div': out = [`\\frac{${show(node.left)[0]}}{${wrap(node.right, SUM)} + \\delta}`, ATOM]; break;
          case 'pow': out = [`{${wrap(node.left, ATOM)}}^{${show(node.right)[0]}}`, POWER]; break;
        }
    }
    memo.set(node.id, out);
    return out;
  };
  return show(root)[0];
}
