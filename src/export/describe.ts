// What an exported file says about its rule: the operands and conventions the rule actually uses, in words.
import type { RuleInfo } from '../compiler/analyze';
import { topoOrder } from '../compiler/ir';

const DECAY_WORDS: Record<string, string> = { ld: 'linear decay', cd: 'cosine decay', rd: 'cosine decay with restarts' };

/** Clauses (no comment marks, no final punctuation) saying what the rule's symbols mean; w is the parameter, g its gradient. */
export function describeRule(info: RuleInfo, totalSteps = 'total_steps', noiseStd = 'noise_std'): string[] {
  const nodes = topoOrder(info.root);
  const ops = new Set<string>(nodes.flatMap((n) => (n.kind === 'unary' || n.kind === 'binary' ? [n.op] : [])));
  const inputs = new Set<string>(nodes.flatMap((n) => (n.kind === 'input' ? [n.name] : [])));
  const out: string[] = [];
  for (const [s, of, beta] of [['m', 'g', 'beta1'], ['v', 'g^2', 'beta2'], ['y', 'g^3', 'beta3']]) {
    if (inputs.has(s)) out.push(`${s} is the bias-corrected running average of ${of} (${beta}), updated with this g first`);
  }
  if (inputs.has('mom')) out.push('mom is the heavy-ball buffer, mom <- momentum*mom + g, updated first');
  if (inputs.has('g2')) out.push('g2 is g*g');
  if (inputs.has('g3')) out.push('g3 is g*g*g');
  if (ops.has('div')) out.push('x/y is x / (y + delta)');
  if (ops.has('log')) out.push('log takes |x|');
  if (ops.has('sqrt')) out.push('sqrt takes |x|');
  if (ops.has('clip')) out.push('clip(x, l) clamps x to [-l, l]');
  if (ops.has('sign')) out.push('sign(0) is 0');
  if (ops.has('drop')) out.push('drop(x, p) is 0 with probability p, else x (no rescaling)');
  if (nodes.some((n) => n.kind === 'noise' && !n.annealed)) out.push(`noise is drawn from N(0, ${noiseStd}^2)`);
  if (nodes.some((n) => n.kind === 'noise' && n.annealed)) out.push('anoise is drawn from N(0, 1/(1+s)^0.55) at 0-based step s');
  for (const d of info.decays) {
    const name = d.name === 'ld' ? 'ld' : `${d.name}(${d.n})`;
    out.push(`${name} is TensorFlow's ${DECAY_WORDS[d.name]}${d.name === 'ld' ? '' : ` of ${d.n} periods`} (sign_decay.py) over ${totalSteps} steps`);
  }
  return out;
}

/** The clauses as comment lines: `where` then one clause a line. */
export function describeLines(info: RuleInfo, mark: string, totalSteps?: string, noiseStd?: string): string {
  const clauses = describeRule(info, totalSteps, noiseStd);
  if (!clauses.length) return '';
  return `${mark} where\n${clauses.map((c, k) => `${mark}   ${c}${k === clauses.length - 1 ? '.' : ';'}`).join('\n')}\n`;
}
