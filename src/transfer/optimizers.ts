// The optimizers a transfer run compares: the user's rules (nos defaults) and the usual baselines, as PyTorch has them.
import { compileRule } from '../compiler';
import type { OptimizerSpec } from './task';
import { InputError } from '../errors';
import { OPTIMIZER_DEFAULTS } from '../compiler/kernel-abi';

/**
 * The baselines, each the same update as torch.optim's default (checked against torch.optim step by step in
 * test/runtime/optimizer.test.ts through test/fixtures/torch-optim.json):
 *   sgd       torch.optim.SGD(lr)
 *   momentum  torch.optim.SGD(lr, momentum=0.9)                       heavy ball, TensorFlow's MomentumOptimizer too
 *   adam      torch.optim.Adam(lr, betas=(0.9, 0.999), eps=1e-8)
 *   rmsprop   torch.optim.RMSprop(lr, alpha=0.99, eps=1e-8)          no bias correction, as PyTorch
 * (The rule `rmsprop` given as a RULE runs with nos's defaults instead: beta2 0.999, bias-corrected, as a search
 * trains it.)
 */
export const BASELINES: Record<string, OptimizerSpec & { torch: string }> = {
  sgd: { label: 'sgd', rule: 'sgd', options: {}, torch: 'torch.optim.SGD(lr)' },
  momentum: { label: 'momentum', rule: 'momentum', options: { momentum: 0.9 }, torch: 'torch.optim.SGD(lr, momentum=0.9)' },
  adam: { label: 'adam', rule: 'adam', options: { betas: [0.9, 0.999, 0.999], delta: 1e-8 }, torch: 'torch.optim.Adam(lr)' },
  rmsprop: {
    label: 'rmsprop', rule: 'rmsprop', options: { betas: [0.9, 0.99, 0.999], delta: 1e-8, biasCorrection: false },
    torch: 'torch.optim.RMSprop(lr, alpha=0.99)',
  },
};

export const DEFAULT_BASELINES = ['sgd', 'momentum', 'adam', 'rmsprop'];

/** A bad rule or baseline name; the CLI exits 2. */
export class OptimizerListError extends InputError {}

/** True when a baseline's options are the ones a rule given by itself trains with (so the two are one optimizer). */
function defaultOptions(options: OptimizerSpec['options']): boolean {
  return Object.entries(options).every(([k, v]) => JSON.stringify(v) === JSON.stringify(OPTIMIZER_DEFAULTS[k as keyof typeof OPTIMIZER_DEFAULTS]));
}

/**
 * The rules (compiled now, so a bad one is refused before any training) followed by the baselines.  One optimizer is
 * kept once, the first time it comes: a rule given twice or in two spellings (`powersign`, `exp(sign(g)*sign(m))*g`:
 * one canonical form), or a baseline that is a rule already given with the options it trains with (`g` and `sgd`).
 * `onDuplicate` hears of each one left out (not of a rule and baseline of the same name).
 */
export function resolveOptimizers(rules: string[], baselines: string[], onDuplicate?: (message: string) => void): OptimizerSpec[] {
  const out: OptimizerSpec[] = [];
  const seen = new Set<string>();
  const labelOfHash = new Map<string, string>();
  for (const rule of rules) {
    const hash = compileRule(rule).hash; // throws NosSyntaxError (exit 2) with a caret under the problem
    if (seen.has(rule)) continue;
    const same = labelOfHash.get(hash);
    if (same !== undefined) {
      onDuplicate?.(`${rule} is the same rule as ${same}: compared once, as ${same}`);
      continue;
    }
    seen.add(rule);
    labelOfHash.set(hash, rule);
    out.push({ label: rule, rule, options: {} });
  }
  for (const name of baselines) {
    const baseline = BASELINES[name];
    if (!baseline) throw new OptimizerListError(`unknown baseline '${name}': expected some of ${Object.keys(BASELINES).join(', ')}`);
    if (seen.has(name)) continue;
    const same = defaultOptions(baseline.options) ? labelOfHash.get(compileRule(baseline.rule).hash) : undefined;
    if (same !== undefined) {
      onDuplicate?.(`the baseline ${name} is the rule ${same}: compared once, as ${same}`);
      continue;
    }
    seen.add(name);
    out.push({ label: baseline.label, rule: baseline.rule, options: { ...baseline.options } });
  }
  if (out.length === 0) throw new OptimizerListError('nothing to compare: give at least one rule or baseline');
  return out;
}
