// The base every renderer's dialect extends, and emitKernelBody, which writes a rule's schedule in a dialect.
//
// The schedule (schedule.ts) decides what is computed where; the op table (ops.ts) says how each op is written in
// the dialect's language; a dialect only spells the rest: literals, declarations, element reads and writes, the
// per-step scalars, draws, selects.  Statements follow interpret.ts operation by operation, in float32.
import { Scalar, STATE_SLOTS } from './kernel-abi';
import type { KernelRule } from './interpret';
import { opText, type OpLanguage, type OpName } from './ops';
import { scheduleKernel, type Instr, type KernelSchedule, type Operand } from './schedule';

/** The per-step scalars every kernel names (its locals), with their slots of kernel-abi.ts. */
export const SCALAR_LOCALS: ReadonlyArray<readonly [string, Scalar]> = [
  ['lr', Scalar.lr], ['b1', Scalar.beta1], ['b2', Scalar.beta2], ['b3', Scalar.beta3],
  ['ibc1', Scalar.invBc1], ['ibc2', Scalar.invBc2], ['ibc3', Scalar.invBc3], ['delta', Scalar.delta],
  ['mu', Scalar.momentum], ['nstd', Scalar.noiseStd], ['astd', Scalar.anoiseStd],
  ['omb1', Scalar.oneMinusBeta1], ['omb2', Scalar.oneMinusBeta2], ['omb3', Scalar.oneMinusBeta3],
];

/** How one target spells a kernel.  Operands are always names or literals, so there are no precedence worries. */
export abstract class Dialect {
  /** The language of the op table's text (ops.ts). */
  abstract readonly language: OpLanguage;
  /** A float32 constant (the value is already rounded to float32); finite or not. */
  abstract lit(x: number): string;
  /** `const float name = expr;` in this language. */
  abstract decl(name: string, expr: string): string;
  /** The value of per-step scalar slot k. */
  abstract scalar(k: number): string;
  /** Element i of array `arr` (w, g or a state slot s0..s3) as an expression, and its store statement. */
  abstract load(arr: string): string;
  abstract store(arr: string, value: string): string;
  /** Statements that draw the four Philox words of `site` for this element (drop and noise then read them). */
  abstract draw(site: number): string[];
  /** drop: keep `a` iff uniform(word0) >= p. */
  abstract drop(a: string, site: number, p: number): string;
  /** Standard normal from the site's words 0 and 1 (Box-Muller, float32), times `std`. */
  abstract noise(site: number, std: string): string;
  /** Per-element select on a sign product p in {1, -1, +0, -0}: p > 0 ? pos : p < 0 ? neg : p is +0 ? zero : negZero. */
  abstract select(p: string, pos: string, neg: string, zero: string, negZero: string): string;
  /** Per-element statement that makes `idx` (rngBase + element index) available; only emitted when drawing. */
  abstract indexDecl(): string;

  operand(x: Operand): string {
    return typeof x === 'number' ? this.lit(x) : x;
  }
  /** An op of the table over operand texts. */
  op(op: Exclude<OpName, 'drop'>, a: string, b = '', param = 0): string {
    return opText(this.language, op, { a, b, param, lit: (x) => this.lit(x) });
  }
  /** The value of decay `name` (n periods), per step; kernels read its scalar slot. */
  decay(slot: number, _name: string, _n: number): string {
    return this.scalar(slot);
  }
  /** Statements that name the per-step scalars (lr, b1, ... as SCALAR_LOCALS). */
  scalarDecls(): string[] {
    return SCALAR_LOCALS.map(([local, slot]) => this.decl(local, this.scalar(slot)));
  }
  /** Running average k (1: m of g, 2: v of g2, 3: y of g3): update slot `slot` in place, name the raw and the hat. */
  runningAverage(s: 'm' | 'v' | 'y', slot: string, k: number, src: string): string[] {
    return [
      this.decl(`${s}_raw`, this.op('add', this.op('mul', `b${k}`, this.load(slot)), this.op('mul', `omb${k}`, src))),
      this.store(slot, `${s}_raw`),
      this.decl(`${s}_hat`, this.op('mul', `${s}_raw`, `ibc${k}`)),
    ];
  }
  /** The heavy-ball buffer: mom <- mu*mom + g, in place, named mom. */
  momentum(slot: string): string[] {
    return [this.decl('mom', this.op('add', this.op('mul', 'mu', this.load(slot)), 'g')), this.store(slot, 'mom')];
  }
  /** The last statement: w <- w - lr * rule. */
  updateWeights(result: string): string {
    return this.store('w', this.op('sub', 'w', this.op('mul', 'lr', result)));
  }
}

export interface KernelBody {
  /** Statements run once per call, before the element loop. */
  prologue: string[];
  /** Statements run once per element; they read and write element i in place. */
  element: string[];
  /** State slot numbers the kernel reads and writes, ascending. */
  slots: number[];
  /** Whether the element statements draw random numbers (need idx, seed and step). */
  random: boolean;
}

/** The inputs of the rule by the names the element statements give them. */
const INPUT_VALUES: Record<string, string> = { g: 'g', g2: 'g2', g3: 'g3', m: 'm_hat', v: 'v_hat', y: 'y_hat', w: 'w', mom: 'mom' };

/** One instruction of the schedule as a statement (or statements, for a draw). */
export function emitInstr(d: Dialect, x: Instr): string[] {
  const o = (v: Operand): string => d.operand(v);
  switch (x.kind) {
    case 'decay': return [d.decl(x.out, d.decay(x.slot, x.name, x.n))];
    case 'op': return [d.decl(x.out, d.op(x.op, o(x.args[0]), x.args.length > 1 ? o(x.args[1]) : '', x.param))];
    case 'input': return [d.decl(x.out, INPUT_VALUES[x.input])];
    case 'draw': return d.draw(x.site);
    case 'noise': return [d.decl(x.out, d.noise(x.site, x.annealed ? 'astd' : 'nstd'))];
    case 'drop': return [d.decl(x.out, d.drop(o(x.arg), x.site, x.p))];
    case 'select': return [d.decl(x.out, d.select(o(x.signs), o(x.pos), o(x.neg), o(x.zero), o(x.negZero)))];
  }
}

/** The element reads and state updates that come before the rule's element instructions. */
export function emitElementReads(d: Dialect, s: KernelSchedule): string[] {
  const out: string[] = [];
  if (s.reads.g) out.push(d.decl('g', d.load('g')));
  out.push(d.decl('w', d.load('w')));
  if (s.reads.g2) out.push(d.decl('g2', d.op('mul', 'g', 'g')));
  if (s.reads.g3) out.push(d.decl('g3', d.op('mul', 'g2', 'g')));
  const sources: Record<'m' | 'v' | 'y', [string, number]> = { m: ['g', 1], v: ['g2', 2], y: ['g3', 3] };
  for (const name of s.state) {
    const slot = `s${STATE_SLOTS.indexOf(name)}`;
    if (name === 'mom') out.push(...d.momentum(slot));
    else out.push(...d.runningAverage(name, slot, sources[name][1], sources[name][0]));
  }
  return out;
}

/** The prologue and element statements of `rule` (or of its schedule) in `dialect`. */
export function emitKernelBody(rule: KernelRule | KernelSchedule, dialect: Dialect): KernelBody {
  const s = typeof rule === 'object' && rule !== null && 'element' in rule ? rule : scheduleKernel(rule);
  const prologue = [...dialect.scalarDecls(), ...s.step.flatMap((x) => emitInstr(dialect, x))];
  const element = emitElementReads(dialect, s);
  if (s.random) element.push(dialect.indexDecl());
  element.push(...s.element.flatMap((x) => emitInstr(dialect, x)));
  element.push(dialect.updateWeights(dialect.operand(s.result)));
  return { prologue, element, slots: s.slots, random: s.random };
}

/** A one-line comment naming the rule, safe inside C, JS and Python comments. */
export function ruleComment(rule: KernelRule): string {
  const text = (rule.canonical ?? '(unnamed rule)').replace(/\*\//g, '* /').replace(/[\r\n]+/g, ' ');
  return `rule: ${text}${rule.hash ? `  [${rule.hash}]` : ''}`;
}
