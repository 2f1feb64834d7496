// Rules built directly from IR nodes for the runtime tests, with a small stand-in for the compiler's analysis.
import { createHash } from 'node:crypto';
import { binary, constant, decay, input, noise, topoOrder, unary, type Node } from '../../src/compiler/ir';
import { STATE_SLOTS, type StateName } from '../../src/compiler/kernel-abi';
import type { OptimizerRule } from '../../src/runtime/optimizer';

/** State slots and decay terms a rule reads, in slot order (what analyze.ts reports in RuleInfo). */
export function ruleOf(name: string, root: Node): OptimizerRule {
  const nodes = topoOrder(root);
  const state = STATE_SLOTS.filter((s) => nodes.some((n) => n.kind === 'input' && n.name === s)) as StateName[];
  const decays: Array<{ name: 'ld' | 'cd' | 'rd'; n: number }> = [];
  for (const n of nodes) {
    if (n.kind === 'decay' && !decays.some((d) => d.name === n.name && d.n === n.n)) decays.push({ name: n.name, n: n.n });
  }
  const hash = createHash('sha256').update(`test:${name}:${root.key}`).digest('hex').slice(0, 16);
  return { root, state, decays, hash, canonical: name };
}

const g = input('g');
const m = input('m');
const v = input('v');
const sg = unary('sign', g);
const sm = unary('sign', m);
const agree = binary('mul', sg, sm);
const one = constant(1);

/** The paper's rules (sections 4.1 and 5) and edge cases of every op, as IR. */
export const TEST_RULES: Record<string, OptimizerRule> = {
  sgd: ruleOf('sgd', g),
  momentum: ruleOf('momentum', input('mom')),
  adam: ruleOf('adam', binary('div', m, unary('sqrt', v))),
  rmsprop: ruleOf('rmsprop', binary('div', g, unary('sqrt', v))),
  powersign: ruleOf('powersign', binary('mul', unary('exp', agree), g)),
  addsign: ruleOf('addsign', binary('mul', binary('add', one, agree), g)),
  'powersign-ld': ruleOf('powersign-ld', binary('mul', unary('exp', binary('mul', decay('ld'), agree)), g)),
  'addsign-cd': ruleOf('addsign-cd', binary('mul', binary('add', one, binary('mul', decay('cd', 0.5), agree)), g)),
  'powersign-rd10': ruleOf('powersign-rd10', binary('mul', unary('exp', binary('mul', decay('rd', 10), agree)), g)),
  'noise-drop': ruleOf('noise-drop', binary('add', unary('drop', g, 0.3, 0), binary('mul', noise(false, 1), noise(true, 2)))),
  'y-clip-log': ruleOf('y-clip-log', binary('sub', unary('clip', input('y'), 1e-4), unary('log', input('g3')))),
  'pow-w': ruleOf('pow-w', binary('add', binary('pow', unary('sqrt', input('g2')), constant(2)), binary('mul', constant(1e-3), input('w')))),
};
