// The dialects a PyTorch export is written in: Python floats for per-step values, tensors one at a time, lists of tensors (foreach).
//
// The per-element part of the kernel schedule becomes whole-tensor statements in the same float32 order as the
// kernels (the running averages as mul_ then add_, the step as sub_ of lr times the rule), so an exported optimizer
// follows nos to float32 rounding.
import { Dialect, SCALAR_LOCALS } from '../compiler/dialect';
import type { OpLanguage, OpName } from '../compiler/ops';

/** The shortest decimal that reads back as this float32 value, as a Python float literal (0.1, not 0.10000000149011612). */
export function pythonFloat(x: number): string {
  const v = Math.fround(x);
  if (Number.isNaN(v)) return 'math.nan';
  if (v === Infinity) return 'math.inf';
  if (v === -Infinity) return '(-math.inf)';
  if (Object.is(v, -0)) return '(-0.0)';
  let text = String(v);
  for (let digits = 1; digits <= 17; digits++) {
    const candidate = Number(v.toPrecision(digits));
    if (Math.fround(candidate) === v) { text = String(candidate); break; }
  }
  if (!/[.e]/.test(text)) text += '.0';
  return v < 0 ? `(${text})` : text;
}

/** The Python names of the state tensors (slots s0..s3: m, v, y, mom), one tensor each or lists in foreach mode. */
const STATE_NAMES: Record<string, string> = { s0: 'state_m', s1: 'state_v', s2: 'state_y', s3: 'state_mom' };

/** Per-step values as Python floats (the op table's Python text), from the parameter group and the step t. */
export class PythonScalarDialect extends Dialect {
  readonly language: OpLanguage = 'python';
  lit(x: number): string { return pythonFloat(x); }
  decl(name: string, expr: string): string { return `${name} = ${expr}`; }
  scalar(k: number): string { throw new Error(`internal: per-step scalar ${k} is named by scalarDecls`); }
  decay(_slot: number, name: string, n: number): string {
    return name === 'ld' ? '_ld(t, total_steps)' : `_${name}(t, total_steps, ${pythonFloat(n)})`;
  }
  /** The per-step scalars, as nos's fillScalars computes them, from `group` and the step `t` (1-based). */
  scalarDecls(): string[] {
    const lines: Record<string, string> = {
      lr: "lr = group['lr']",
      b1: "b1 = group['betas'][0]", b2: "b2 = group['betas'][1]", b3: "b3 = group['betas'][2]",
      ibc1: "ibc1 = 1.0 / (1.0 - b1 ** t) if group['bias_correction'] else 1.0",
      ibc2: "ibc2 = 1.0 / (1.0 - b2 ** t) if group['bias_correction'] else 1.0",
      ibc3: "ibc3 = 1.0 / (1.0 - b3 ** t) if group['bias_correction'] else 1.0",
      delta: "delta = group['delta']", mu: "mu = group['momentum']", nstd: "nstd = group['noise_std']",
      astd: 'astd = t ** -0.275', omb1: 'omb1 = 1.0 - b1', omb2: 'omb2 = 1.0 - b2', omb3: 'omb3 = 1.0 - b3',
    };
    return SCALAR_LOCALS.map(([local]) => lines[local]);
  }
  load(): string { throw new Error('internal: per-step values read no element'); }
  store(): string { throw new Error('internal: per-step values write no element'); }
  draw(): string[] { throw new Error('internal: per-step values draw nothing'); }
  drop(): string { throw new Error('internal: drop is never a per-step value'); }
  noise(): string { throw new Error('internal: noise is never a per-step value'); }
  select(): string { throw new Error('internal: a select is never a per-step value'); }
  indexDecl(): string { return ''; }
}

/** Whole tensors, one parameter at a time: `param`, `grad` and its state tensors. */
export class TorchDialect extends Dialect {
  readonly language: OpLanguage = 'torch';
  lit(x: number): string { return pythonFloat(x); }
  decl(name: string, expr: string): string { return `${name} = ${expr}`; }
  scalar(k: number): string { throw new Error(`internal: per-step scalar ${k} is a Python float of the prologue`); }
  load(arr: string): string { return arr === 'w' ? 'param' : arr === 'g' ? 'grad' : STATE_NAMES[arr]; }
  store(arr: string, value: string): string { return `${this.load(arr)}.copy_(${value})`; }
  runningAverage(s: 'm' | 'v' | 'y', slot: string, k: number, src: string): string[] {
    const state = this.load(slot);
    return [`${state}.mul_(b${k}).add_(${src} * omb${k})`, `${s}_hat = ${state} * ibc${k}`];
  }
  momentum(slot: string): string[] {
    return [`${this.load(slot)}.mul_(mu).add_(g)`, `mom = ${this.load(slot)}`];
  }
  updateWeights(result: string): string { return `param.sub_(lr * ${result})`; }
  draw(): string[] { return []; }
  /** A fresh draw of the framework's generator (not nos's Philox): say so where the file is written. */
  protected random(kind: 'rand' | 'randn', like: string): string {
    return `torch.${kind}(${like}.shape, generator=self.generator, dtype=${like}.dtype, device=${like}.device)`;
  }
  drop(a: string, _site: number, p: number): string {
    return `torch.where(${this.random('rand', a)} >= ${pythonFloat(p)}, ${a}, torch.zeros_like(${a}))`;
  }
  noise(_site: number, std: string): string { return `${this.random('randn', 'param')} * ${std}`; }
  select(p: string, pos: string, neg: string, zero: string, negZero: string): string {
    return `_select(${p}, ${pos}, ${neg}, ${zero}, ${negZero})`;
  }
  indexDecl(): string { return ''; }
}

/** Multi-tensor ops in foreach form: torch._foreach_* where torch has it, _each (a loop) where it does not. */
const FOREACH: Partial<Record<OpName, string>> = { neg: 'neg', exp: 'exp', sigmoid: 'sigmoid', add: 'add', sub: 'sub', mul: 'mul' };

/** Lists of tensors (the foreach path): `params`, `grads` and lists of state tensors; per-step values are floats. */
export class TorchForeachDialect extends TorchDialect {
  /** `perStep`: the names of per-step values (Python floats), so ops know which operands are lists. */
  constructor(private readonly perStep: ReadonlySet<string>) { super(); }
  private isFloat(x: string): boolean { return this.perStep.has(x) || /^[\d(.-]|^math\./.test(x); }
  load(arr: string): string { return arr === 'w' ? 'params' : arr === 'g' ? 'grads' : STATE_NAMES[arr]; }
  store(arr: string, value: string): string { return `_each(lambda a, b: a.copy_(b), ${this.load(arr)}, ${value})`; }
  op(op: Exclude<OpName, 'drop'>, a: string, b = '', param = 0): string {
    const text = super.op(op, 'x', b ? 'y' : '', param);
    // torch.sign(x) as a function is torch.sign.
    const single = /^[\w.]+\(x(, y)?\)$/.test(text) ? text.slice(0, text.indexOf('(')) : `lambda x${b ? ', y' : ''}: ${text}`;
    const each = `_each(${single}, ${a}${b ? `, ${b}` : ''})`;
    const name = FOREACH[op];
    if (!b) {
      if (op === 'log' || op === 'sqrt') return `torch._foreach_${op}(torch._foreach_abs(${a}))`;
      return name ? `torch._foreach_${name}(${a})` : each;
    }
    const [fa, fb] = [this.isFloat(a), this.isFloat(b)];
    if (op === 'div' && !fa) return `torch._foreach_div(${a}, ${fb ? `${b} + delta` : `torch._foreach_add(${b}, delta)`})`;
    if (!name) return each;
    if (!fa) return `torch._foreach_${name}(${a}, ${b})`;
    // float op list: add and mul commute; sub is -(list) + float, exactly float - list.
    if (op === 'sub') return `torch._foreach_add(torch._foreach_neg(${b}), ${a})`;
    return `torch._foreach_${name}(${b}, ${a})`;
  }
  runningAverage(s: 'm' | 'v' | 'y', slot: string, k: number, src: string): string[] {
    const state = this.load(slot);
    return [
      `torch._foreach_mul_(${state}, b${k})`,
      `torch._foreach_add_(${state}, torch._foreach_mul(${src}, omb${k}))`,
      `${s}_hat = torch._foreach_mul(${state}, ibc${k})`,
    ];
  }
  momentum(slot: string): string[] {
    const state = this.load(slot);
    return [`torch._foreach_mul_(${state}, mu)`, `torch._foreach_add_(${state}, g)`, `mom = ${state}`];
  }
  updateWeights(result: string): string {
    return this.isFloat(result) ? `torch._foreach_sub_(params, lr * ${result})` : `torch._foreach_sub_(params, torch._foreach_mul(${result}, lr))`;
  }
  drop(a: string, site: number, p: number): string {
    return `_each(lambda x: ${super.drop('x', site, p)}, ${a})`;
  }
  noise(site: number, std: string): string {
    return `_each(lambda x: ${this.random('randn', 'x')} * ${std}, params)`;
  }
  select(p: string, pos: string, neg: string, zero: string, negZero: string): string {
    return `_each(_select, ${p}, ${pos}, ${neg}, ${zero}, ${negZero})`;
  }
}
