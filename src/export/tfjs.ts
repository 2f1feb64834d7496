// nos export --to tfjs: a rule as a TensorFlow.js optimizer (a tf.Optimizer subclass registered for serialization) in one CommonJS file.
//
// The file exports define<Class>(tf), which builds the class on the tf a program already uses (@tensorflow/tfjs,
// tfjs-node or tfjs-node-gpu: the class must extend that very library's Optimizer) and registers it with
// tf.serialization.  The step is written from the rule's kernel schedule: per-step values as JS numbers rounded to
// float32 like nos's kernels (the op table's JS text), per-tensor values with tf ops, which the CPU backend computes
// in float32 as nos's interpreter does.
import type { RuleInfo } from '../compiler/analyze';
import { Dialect, emitElementReads, emitInstr, SCALAR_LOCALS } from '../compiler/dialect';
import { KERNEL_ABI_VERSION, OPTIMIZER_DEFAULTS as D, Scalar } from '../compiler/kernel-abi';
import type { OpLanguage } from '../compiler/ops';
import { scheduleKernel } from '../compiler/schedule';
import { JsDialect, jsLiteral } from '../compiler/render-js';
import { describeLines } from './describe';

export interface TfjsExportOptions { className: string; version: string }

/** Per-step values: JS numbers, each op rounded to float32 (the JS kernel's text), decays as nos computes them. */
class TfjsScalarDialect extends JsDialect {
  scalar(k: number): string {
    const names: Partial<Record<Scalar, string>> = {
      [Scalar.lr]: 'this.learningRate', [Scalar.beta1]: 'o.betas[0]', [Scalar.beta2]: 'o.betas[1]', [Scalar.beta3]: 'o.betas[2]',
      [Scalar.invBc1]: 'o.biasCorrection ? 1 / (1 - o.betas[0] ** t) : 1', [Scalar.invBc2]: 'o.biasCorrection ? 1 / (1 - o.betas[1] ** t) : 1',
      [Scalar.invBc3]: 'o.biasCorrection ? 1 / (1 - o.betas[2] ** t) : 1', [Scalar.delta]: 'o.delta', [Scalar.momentum]: 'o.momentum',
      [Scalar.noiseStd]: 'o.noiseStd', [Scalar.anoiseStd]: 'Math.pow(t, -0.275)',
      [Scalar.oneMinusBeta1]: '1 - o.betas[0]', [Scalar.oneMinusBeta2]: '1 - o.betas[1]', [Scalar.oneMinusBeta3]: '1 - o.betas[2]',
    };
    const text = names[k as Scalar];
    if (!text) throw new Error(`internal: no per-step scalar ${k}`);
    // Rounded to float32 as nos's scalars are (a Float32Array), so the select tables match nos's bit for bit.
    return `Math.fround(${text})`;
  }
  decay(_slot: number, name: string, n: number): string {
    return name === 'ld' ? '_ld(t, o.totalSteps)' : `_${name}(t, o.totalSteps, ${n})`;
  }
}

/** Whole tensors of one variable: `param`, `grad`, and its state variables. */
class TfjsDialect extends Dialect {
  readonly language: OpLanguage = 'tfjs';
  lit(x: number): string { return jsLiteral(x); }
  decl(name: string, expr: string): string { return `const ${name} = ${expr};`; }
  scalar(k: number): string { throw new Error(`internal: per-step scalar ${k} is a number of the prologue`); }
  load(arr: string): string { return arr === 'w' ? 'param' : arr === 'g' ? 'grad' : { s0: 'state_m', s1: 'state_v', s2: 'state_y', s3: 'state_mom' }[arr]!; }
  store(arr: string, value: string): string { return `${this.load(arr)}.assign(${value});`; }
  draw(): string[] { return []; }
  drop(a: string, _site: number, p: number): string {
    return `tf.where(tf.greaterEqual(tf.randomUniform(${a}.shape), ${jsLiteral(p)}), ${a}, tf.zerosLike(${a}))`;
  }
  noise(_site: number, std: string): string { return `tf.mul(tf.randomNormal(param.shape), ${std})`; }
  select(p: string, pos: string, neg: string, zero: string, negZero: string): string {
    return `_select(${p}, ${pos}, ${neg}, ${zero}, ${negZero})`;
  }
  indexDecl(): string { return ''; }
}

/** float32 replicas of nos's decayValue (decays.ts: TensorFlow's sign_decay.py in float32, global step t - 1). */
const DECAY_HELPERS: Record<string, string> = {
  _ld: `function _ld(t, T) {
    const s = Math.min(t - 1, T);
    return Math.max(0, Math.fround(Math.fround(T - s) / Math.fround(T)));
  }`,
  _cd: `function _cd(t, T, n) {
    const completed = Math.fround(Math.fround(Math.min(t - 1, T)) / Math.fround(T));
    const fraction = Math.fround(Math.fround(2 * n) * completed);
    return Math.fround(0.5 * Math.fround(1 + Math.fround(Math.cos(Math.fround(Math.fround(Math.PI) * fraction)))));
  }`,
  _rd: `function _rd(t, T, n) {
    const x = Math.fround(Math.fround(n) * Math.fround(Math.min(t - 1, T)));
    let r = x % Math.fround(T);
    r = Math.fround(r !== 0 && (r < 0) !== (T < 0) ? r + T : r);
    const fraction = Math.fround(r / Math.fround(T));
    return Math.fround(0.5 * Math.fround(1 + Math.fround(Math.cos(Math.fround(Math.fround(Math.PI) * fraction)))));
  }`,
  _select: `function _select(p, pos, neg, zero, negzero) {
    // A product of signs p is 1, -1, +0 or -0 (1 / -0 is -Infinity): its value computed once per step.
    const negativeZero = tf.logicalAnd(tf.equal(p, 0), tf.less(tf.div(1, p), 0));
    const zeros = tf.where(negativeZero, tf.fill(p.shape, negzero), tf.fill(p.shape, zero));
    return tf.where(tf.greater(p, 0), tf.fill(p.shape, pos), tf.where(tf.less(p, 0), tf.fill(p.shape, neg), zeros));
  }`,
  nos_pow: `function nos_pow(x, y) {
    // C's powf where Math.pow differs: 1^y = 1 and (-1)^(+-inf) = 1.
    if (x === 1 || y === 0) return 1;
    if (x === -1 && (y === Infinity || y === -Infinity)) return 1;
    return Math.fround(Math.pow(x, y));
  }`,
};

/** The JS source of the exported optimizer module (see the file header). */
// JavaScript's reserved words, strict mode's included (the file is a module), and the names it may not rebind.
const JS_WORDS = new Set(`
break case catch class const continue debugger default delete do else enum export extends false finally for function
if import in instanceof new null return super switch this throw true try typeof var void while with yield let static
implements interface package private protected public await arguments eval undefined NaN Infinity
`.split(/\s+/).filter(Boolean));

/** What the file itself defines or reads around the class (its helpers all begin with _). */
const TFJS_FILE_NAMES = ['tf', 'DEFAULTS', 'SLOTS', 'module', 'exports', 'require'];

/** Why `name` cannot name the exported TensorFlow.js class, or undefined if it can. */
export function tfjsNameProblem(name: string): string | undefined {
  if (JS_WORDS.has(name)) return `${name} is a reserved word in JavaScript`;
  // The class is declared where the file's code runs: one named Math or Number would hide the global it calls.
  if (Object.getOwnPropertyNames(globalThis).includes(name)) return `${name} is a JavaScript global`;
  if (name.startsWith('_') || TFJS_FILE_NAMES.includes(name)) return `the file itself uses ${name} (${TFJS_FILE_NAMES.join(', ')} and names beginning with _)`;
  return undefined;
}

export function renderTfjs(info: RuleInfo, options: TfjsExportOptions): string {
  const s = scheduleKernel(info);
  const scalarsDialect = new TfjsScalarDialect();
  const d = new TfjsDialect();
  const element = [...emitElementReads(d, s), ...s.element.flatMap((x) => emitInstr(d, x)), d.updateWeights(d.operand(s.result))]
    .filter((line) => line.length > 0);
  const values = s.step.flatMap((x) => emitInstr(scalarsDialect, x));
  const rest = [...values, ...element].join('\n');
  const scalars = SCALAR_LOCALS.filter(([name]) => new RegExp(`\\b${name}\\b`).test(rest))
    .map(([name, slot]) => scalarsDialect.decl(name, scalarsDialect.scalar(slot)));
  const body = [...scalars, ...values].join('\n');
  const helpers = Object.entries(DECAY_HELPERS).filter(([name]) => new RegExp(`\\b${name}\\(`).test(`${body}\n${element.join('\n')}`)).map(([, src]) => src);
  const name = options.className;
  const slots = s.state;
  const pad = (lines: string[] | string, n: number): string => (Array.isArray(lines) ? lines : lines.split('\n')).map((l) => ' '.repeat(n) + l).join('\n');
  const random = info.randomSites > 0;
  return `// ${name}: the update rule ${info.canonical}
// as a TensorFlow.js optimizer, exported by nos ${options.version} (nos export "${info.source}" --to tfjs).
//
// Rule hash ${info.hash} (its canonical text), nos kernel ABI ${KERNEL_ABI_VERSION}.
// Each step, for every variable w with gradient g:
//   w <- w - learningRate * (${info.canonical})
${describeLines(info, '//', 'options.totalSteps', 'options.noiseStd')}// All in float32 in the order nos's kernels compute.${random ? `
// Random draws (noise, drop) come from TensorFlow.js's generator (tf.randomUniform, tf.randomNormal), not from nos's
// Philox, so they differ from nos's draws.` : ''}
//
// Usage, with the tf your program uses (@tensorflow/tfjs, @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu):
//   const tf = require('@tensorflow/tfjs-node');
//   const ${name} = require('./${name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase()}.js').define${name}(tf);
//   model.compile({ optimizer: new ${name}(1e-3${info.decays.length ? ', { totalSteps: 10000 }' : ''}), loss: 'categoricalCrossentropy' });
// Options (second argument): betas [${D.betas.join(', ')}], delta ${D.delta}, momentum ${D.momentum}, biasCorrection ${D.biasCorrection},
// totalSteps${info.decays.length ? ' (required)' : ''}, noiseStd ${D.noiseStd}.  getWeights()/setWeights() save and restore the state; the class is
// registered with tf.serialization as '${name}', so saved models name it.
'use strict';

const DEFAULTS = Object.freeze({ betas: [${D.betas.join(', ')}], delta: ${D.delta}, momentum: ${D.momentum}, biasCorrection: ${D.biasCorrection}, totalSteps: null, noiseStd: ${D.noiseStd} });
const SLOTS = ${JSON.stringify(slots)};

/** The optimizer class on \`tf\`'s own Optimizer, registered for serialization. */
function define${name}(tf) {
${helpers.length ? `${pad(helpers.join('\n\n'), 2)}\n\n` : ''}  class ${name} extends tf.Optimizer {
    /** The name tf.serialization knows the class by. */
    static get className() { return ${JSON.stringify(name)}; }

    constructor(learningRate = ${D.lr.toExponential()}, options = {}) {
      super();
      if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new TypeError(\`${name}: options must be an object, got \${options === null ? 'null' : typeof options}\`);
      // A misspelt option (or another optimizer's, such as beta1) would otherwise be ignored silently.
      for (const key of Object.keys(options)) if (!(key in DEFAULTS)) throw new RangeError(\`${name}: unknown option '\${key}' (options: \${Object.keys(DEFAULTS).join(', ')})\`);
      const o = { ...DEFAULTS, ...options };
      // The step computes in float32: a value finite as a double but not as a float32 (1e39) would be infinite there.
      const finite = (x, low = -Infinity) => typeof x === 'number' && Number.isFinite(Math.fround(x)) && x >= low;
      const bad = (what, value) => { throw new RangeError(\`${name}: \${what}, got \${typeof value === 'number' ? value : JSON.stringify(value) ?? String(value)}\`); };
      if (!finite(learningRate, 0)) bad('learningRate must be a finite number >= 0', learningRate);
      if (!Array.isArray(o.betas) || o.betas.length !== 3 || !o.betas.every((b) => finite(b, 0) && b < 1)) bad('betas must be three numbers in [0, 1)', o.betas);
      if (!finite(o.delta, 0)) bad('delta must be a finite number >= 0', o.delta);
      if (!finite(o.momentum)) bad('momentum must be a finite number', o.momentum);
      if (typeof o.biasCorrection !== 'boolean') bad('biasCorrection must be true or false', o.biasCorrection);
      if (!finite(o.noiseStd, 0)) bad('noiseStd must be a finite number >= 0', o.noiseStd);
      if (${info.decays.length ? '' : 'o.totalSteps !== null && '}!(Number.isInteger(o.totalSteps) && o.totalSteps > 0)) bad('totalSteps must be a positive integer${info.decays.length ? " (the rule\\'s decays need it)" : ''}', o.totalSteps);
      this.learningRate = learningRate;
      this.options = o;
      /** Per slot, per variable (in the order applyGradients meets them): { originalName, variable }. */
      this.slots = Object.fromEntries(SLOTS.map((slot) => [slot, []]));
    }

    /** One step for every variable with a gradient (a NamedTensorMap or an array of { name, tensor }). */
    applyGradients(variableGradients) {
      const names = Array.isArray(variableGradients) ? variableGradients.map((v) => v.name) : Object.keys(variableGradients);
      const o = this.options;
      const t = this.iterations + 1;
      tf.tidy(() => {
${pad(body, 8)}
        names.forEach((name, i) => {
          const param = tf.engine().registeredVariables[name];
          const grad = Array.isArray(variableGradients) ? variableGradients[i].tensor : variableGradients[name];
          if (grad == null) return;
${slots.map((slot) => `          const state_${slot} = this.state(${JSON.stringify(slot)}, i, name, param);`).join('\n')}
${pad(element, 10)}
        });
      });
      this.incrementIterations();
    }

    /** The state variable \`slot\` of variable i (zeros the first time). */
    state(slot, i, name, param) {
      if (this.slots[slot][i] == null) {
        this.slots[slot][i] = { originalName: \`\${name}/\${slot}\`, variable: tf.tidy(() => tf.zerosLike(param).variable(false)) };
      }
      return this.slots[slot][i].variable;
    }

    dispose() {
      super.dispose();
      for (const slot of SLOTS) tf.dispose(this.slots[slot].map((v) => v.variable));
    }

    async getWeights() {
      const all = SLOTS.flatMap((slot) => this.slots[slot]);
      return [await this.saveIterations(), ...all.map((v) => ({ name: v.originalName, tensor: v.variable }))];
    }

    /** Restores what getWeights() saved: per slot, one state per variable, each named \`<variable>/<slot>\`. */
    async setWeights(weightValues) {
      const values = await this.extractIterations(weightValues);
      const count = SLOTS.length ? values.length / SLOTS.length : 0;
      if (!Number.isInteger(count) || (SLOTS.length === 0 && values.length > 0)) {
        throw new RangeError(\`${name}: setWeights: \${values.length} state tensors are not one per variable for each of its slots (\${SLOTS.join(', ') || 'none'})\`);
      }
      SLOTS.forEach((slot, k) => values.slice(k * count, (k + 1) * count).forEach((v) => {
        if (typeof v.name !== 'string' || !v.name.endsWith(\`/\${slot}\`)) {
          throw new RangeError(\`${name}: setWeights: \${v.name} is not a '\${slot}' state (slots: \${SLOTS.join(', ')}); were these weights saved by another optimizer?\`);
        }
      }));
      SLOTS.forEach((slot, k) => {
        tf.dispose(this.slots[slot].map((v) => v.variable)); // the state being replaced
        this.slots[slot] = values.slice(k * count, (k + 1) * count).map((v) => ({ originalName: v.name, variable: v.tensor.variable(false) }));
      });
    }

    getConfig() {
      return { learningRate: this.learningRate, ...this.options };
    }

    static fromConfig(cls, config) {
      // tf.serialization hands the custom objects along with the config: they are not an option.
      const { learningRate, customObjects: _customObjects, ...options } = config;
      return new cls(learningRate, options);
    }
  }
  tf.serialization.registerClass(${name});
  return ${name};
}

module.exports = { define${name} };
`;
}
