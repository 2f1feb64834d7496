// The optimizers a transfer run compares: the user's rules (nos defaults) and the usual baselines, as PyTorch has them.
import { compileRule } from '../compiler';
import type { OptimizerSpec } from './task';
import { InputError } from '../errors';

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

/**
 * The rules (compiled now, so a bad one is refused before any training) followed by the baselines; a rule given
 * twice, or a baseline also given as a rule under the same name, is kept once.
 */
export function resolveOptimizers(rules: string[], baselines: string[]): OptimizerSpec[] {
  const out: OptimizerSpec[] = [];
  const seen = new Set<string>();
  for (const rule of rules) {
    compileRule(rule); // throws NosSyntaxError (exit 2) with a caret under the problem
    if (seen.has(rule)) continue;
    seen.add(rule);
    out.push({ label: rule, rule, options: {} });
  }
  for (const name of baselines) {
    const baseline = BASELINES[name];
    if (!baseline) throw new OptimizerListError(`unknown baseline '${name}': expected some of ${Object.keys(BASELINES).join(', ')}`);
    if (seen.has(name)) continue;
    seen.add(name);
    out.push({ label: baseline.label, rule: baseline.rule, options: { ...baseline.options } });
  }
  if (out.length === 0) throw new OptimizerListError('nothing to compare: give at least one rule or baseline');
  return out;
}
