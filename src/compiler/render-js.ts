// The JS target: a function body for `new Function` that returns the fused kernel, typed-array loops in float32 steps.
//
// `new Function('nos', renderJs(rule))(JS_KERNEL_HELPERS)` gives (tensors: JsTensor[], scalars: Float32Array, seed,
// step) => void, which updates w and the state in place exactly like interpretStep (the op table's JS text rounds
// like its float32 values; Philox and powf are the interpreter's own functions, passed in), only without the
// per-node dispatch.  loadJsKernel adds the argument checks.
import { Dialect, emitKernelBody, ruleComment } from './dialect';
import { checkRuleState, checkStepArguments, type KernelRule } from './interpret';
import type { JsTensor } from './kernel-abi';
import { KERNEL_ABI_VERSION } from './kernel-abi';
import { powF32, type OpLanguage } from './ops';
import { normal, philoxDraw, uniform } from './philox';

/** A float32 value as a JS literal (the shortest decimal that rounds back to it). */
export function jsLiteral(x: number): string {
  const v = Math.fround(x);
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '(-Infinity)';
  if (Object.is(v, -0)) return '(-0)';
  return v < 0 ? `(${String(v)})` : String(v);
}

const F = 'Math.fround';

/** JS over typed arrays: every op rounded with Math.fround (the op table's JS text), Philox in uint32 arithmetic. */
export class JsDialect extends Dialect {
  readonly language: OpLanguage = 'js';
  lit(x: number): string { return jsLiteral(x); }
  decl(name: string, expr: string): string { return `const ${name} = ${expr};`; }
  scalar(k: number): string { return `sc[${k}]`; }
  load(arr: string): string { return `${this.pointer(arr)}[i]`; }
  store(arr: string, value: string): string { return `${this.pointer(arr)}[i] = ${value};`; }
  draw(site: number): string[] { return [`nos_philox(seed, step, idx, ${site}, R${site});`]; }
  drop(a: string, site: number, p: number): string { return `(nos_uniform(R${site}[0]) >= ${jsLiteral(p)} ? ${a} : 0)`; }
  noise(site: number, std: string): string { return `${F}(nos_normal(R${site}[0], R${site}[1]) * ${std})`; }
  select(p: string, pos: string, neg: string, zero: string, negZero: string): string {
    return `(${p} > 0 ? ${pos} : (${p} < 0 ? ${neg} : (Object.is(${p}, -0) ? ${negZero} : ${zero})))`;
  }
  indexDecl(): string { return 'const idx = rngBase + i;'; }
  private pointer(arr: string): string { return arr === 'w' ? 'W' : arr === 'g' ? 'G' : arr.toUpperCase(); }
}

const jsDialect = new JsDialect();

/**
 * What a JS kernel calls, passed in as its `nos` parameter: the one Philox of philox.ts (draws, uniform, normal) and
 * the op table's powf, so JS kernels and the interpreter run the very same helper code.
 */
export const JS_KERNEL_HELPERS = Object.freeze({ philoxDraw, uniform, normal, powF32 });

/** JS source: a function body that, run by `new Function('nos', src)(JS_KERNEL_HELPERS)`, returns the kernel for `rule`. */
export function renderJs(rule: KernelRule): string {
  const body = emitKernelBody(rule, jsDialect);
  const sites = [...new Set([...body.element.join('\n').matchAll(/\bR(\d+)\[/g)].map((x) => Number(x[1])))].sort((a, b) => a - b);
  const indent = (lines: string[], pad: string): string => lines.map((l) => pad + l).join('\n');
  return `// nos kernel for JS, ABI ${KERNEL_ABI_VERSION}. ${ruleComment(rule)}
"use strict";
const { philoxDraw: nos_philox, uniform: nos_uniform, normal: nos_normal, powF32: nos_pow } = nos;
${sites.map((s) => `const R${s} = new Uint32Array(4);`).join('\n')}
return function nos_update(ts, sc, seed, step) {
${indent(body.prologue, '  ')}
  for (let k = 0; k < ts.length; k++) {
    const T = ts[k];
    const W = T.w, G = T.g, rngBase = T.rngBase, n = W.length;
${body.slots.map((s) => `    const S${s} = T.s[${s}];`).join('\n')}
    for (let i = 0; i < n; i++) {
${indent(body.element, '      ')}
    }
  }
};
`;
}

export type JsKernel = (ts: JsTensor[], scalars: Float32Array, seed: number, step: number) => void;

/** Compile the JS kernel of `rule`; the returned function checks its arguments, then updates in place. */
export function loadJsKernel(info: KernelRule): JsKernel {
  checkRuleState(info);
  const kernel = new Function('nos', renderJs(info))(JS_KERNEL_HELPERS) as JsKernel;
  return (ts, scalars, seed, step) => {
    checkStepArguments('js kernel', info, ts, scalars, seed, step);
    kernel(ts, scalars, seed, step);
  };
}
