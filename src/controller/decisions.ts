// The decision process behind a rule: which softmax head picks each token, and which choices the constraints allow given the prefix.
//
// A rule of depth d is 5d decisions (op1 op2 u1 u2 b per group); when the space's depth varies, one more decision
// comes first and picks d. Heads are laid out for the space's largest depth, so a rule of depth 2 uses the heads of
// groups 1 and 2 whatever the largest depth is. Every operand head lists all primitives plus o1..o<max-1>; a bank
// operand o<j> is masked until group j has produced it. All strategies (PPO, random, evolution) share this.
import type { Rng } from './rng';
import type { SearchSpace } from './search-space';
import { BANK_OPERAND_TOKENS as BANK_OPERANDS } from '../compiler';
import { NosError } from '../errors';

export type HeadKind = 'depth' | 'op1' | 'op2' | 'u1' | 'u2' | 'b';

export interface Head {
  kind: HeadKind;
  /** 1-based group; 0 for the depth head. */
  group: number;
  /** The tokens this head chooses among (for the depth head: '1'..'4'). */
  choices: string[];
}

const GROUP_KINDS: HeadKind[] = ['op1', 'op2', 'u1', 'u2', 'b'];

/** A rule as decisions: its depth and the choice index taken at each step (depth step first when variable). */
export interface DecisionPath { depth: number; choices: number[] }

export class InvalidRuleError extends NosError {
  constructor(readonly tokens: string[], readonly index: number, readonly problem: string) {
    super(`rule '${tokens.join(' ')}': ${index >= 0 ? `token ${index} ('${tokens[index] ?? ''}')` : 'length'}: ${problem}`, 2);
  }
}

export class DecisionSpace {
  readonly heads: Head[] = [];
  readonly minDepth: number;
  readonly maxDepth: number;
  readonly operandChoices: string[];

  constructor(readonly space: SearchSpace) {
    this.maxDepth = space.depth;
    this.minDepth = space.minDepth ?? space.depth;
    this.operandChoices = [...space.operands, ...BANK_OPERANDS.slice(0, this.maxDepth - 1)];
    if (this.varies) {
      const depths: string[] = [];
      for (let d = this.minDepth; d <= this.maxDepth; d++) depths.push(String(d));
      this.heads.push({ kind: 'depth', group: 0, choices: depths });
    }
    for (let group = 1; group <= this.maxDepth; group++) {
      for (const kind of GROUP_KINDS) {
        const choices = kind === 'op1' || kind === 'op2' ? this.operandChoices : kind === 'b' ? space.binary : space.unary;
        this.heads.push({ kind, group, choices: [...choices] });
      }
    }
  }

  /** Identifies the decision layout and constraints, so a saved state is not loaded into a different space. */
  get signature(): string {
    const c = this.space.constraints;
    return `space '${this.space.name}' depth ${this.minDepth}..${this.maxDepth} distinct=${c.distinctOperands} noFinalAdd=${c.noFinalAdd} `
      + `reuse=${c.reusePrevious} heads ${this.heads.map((h) => h.choices.join(',')).join(' ; ')}`;
  }

  /** True when the controller picks the depth with a first decision. */
  get varies(): boolean { return this.minDepth !== this.maxDepth; }

  /** Number of decisions of a rule of this depth. */
  steps(depth: number): number { return (this.varies ? 1 : 0) + 5 * depth; }


  /** The depth a path has chosen so far, or null while the depth decision is still to come. */
  depthOf(prefix: readonly number[]): number | null {
    if (!this.varies) return this.maxDepth;
    return prefix.length === 0 ? null : this.minDepth + prefix[0];
  }

  /**
   * Which choices of head `step` are allowed after `prefix` (the choices of steps 0..step-1). 1 = allowed.
   * Never all zero: validateSearchSpace rejects spaces whose constraints could leave no choice.
   */
  allowed(prefix: readonly number[]): Uint8Array {
    const step = prefix.length;
    const head = this.heads[step];
    const mask = new Uint8Array(head.choices.length);
    if (head.kind === 'depth') return mask.fill(1);
    const depth = this.depthOf(prefix)!;
    const { distinctOperands, noFinalAdd, reusePrevious } = this.space.constraints;
    const primitives = this.space.operands.length;
    switch (head.kind) {
      case 'op1':
      case 'op2': {
        // Bank operands o1..o<group-1> exist; later ones are always masked.
        for (let i = 0; i < primitives + head.group - 1; i++) mask[i] = 1;
        if (head.kind === 'op2') {
          const op1 = prefix[step - 1];
          if (distinctOperands) mask[op1] = 0;
          const previous = primitives + head.group - 2; // index of o<group-1>
          if (reusePrevious && head.group >= 2 && op1 !== previous) {
            mask.fill(0);
            mask[previous] = 1;
          }
        }
        return mask;
      }
      case 'u1':
      case 'u2':
        return mask.fill(1);
      case 'b':
        mask.fill(1);
        if (noFinalAdd && head.group === depth) {
          const add = head.choices.indexOf('add');
          if (add >= 0) mask[add] = 0;
        }
        return mask;
    }
  }

  /** The token form of a complete path. */
  tokensOf(path: DecisionPath): string[] {
    const offset = this.varies ? 1 : 0;
    const tokens: string[] = [];
    for (let s = offset; s < path.choices.length; s++) tokens.push(this.heads[s].choices[path.choices[s]]);
    return tokens;
  }

  /** Parses tokens back into a path, checking every constraint; throws InvalidRuleError naming the first bad token. */
  pathOf(tokens: readonly string[]): DecisionPath {
    const list = [...tokens];
    if (list.length === 0 || list.length % 5 !== 0) {
      throw new InvalidRuleError(list, -1, `has ${list.length} tokens; a rule is groups of five (op1 op2 u1 u2 b)`);
    }
    const depth = list.length / 5;
    if (depth < this.minDepth || depth > this.maxDepth) {
      throw new InvalidRuleError(list, -1, `has ${depth} groups; space '${this.space.name}' allows ${this.minDepth}..${this.maxDepth}`);
    }
    const choices: number[] = this.varies ? [depth - this.minDepth] : [];
    for (let i = 0; i < list.length; i++) {
      const head = this.heads[choices.length];
      const index = head.choices.indexOf(list[i]);
      if (index < 0) throw new InvalidRuleError(list, i, `not ${describeKind(head.kind)} of space '${this.space.name}' (${head.choices.join(', ')})`);
      if (!this.allowed(choices)[index]) throw new InvalidRuleError(list, i, `breaks a constraint of space '${this.space.name}' (${this.whyForbidden(choices, index)})`);
      choices.push(index);
    }
    return { depth, choices };
  }

  /** Samples a path with every choice uniform over the allowed ones. */
  sampleUniform(rng: Rng): DecisionPath {
    const choices: number[] = [];
    for (;;) {
      const depth = this.depthOf(choices);
      if (depth !== null && choices.length === this.steps(depth)) return { depth, choices };
      choices.push(pickAllowed(this.allowed(choices), rng));
    }
  }

  private whyForbidden(prefix: readonly number[], index: number): string {
    const head = this.heads[prefix.length];
    const token = head.choices[index];
    if (head.kind === 'b') return 'add may not be the last binary function (noFinalAdd)';
    const bank = BANK_OPERANDS.indexOf(token);
    if (bank >= 0 && bank + 1 >= head.group) return `${token} is the result of group ${bank + 1}, not available in group ${head.group}`;
    if (head.kind === 'op2' && prefix[prefix.length - 1] === index && this.space.constraints.distinctOperands) return 'op2 equals op1 (distinctOperands)';
    return `group ${head.group} must take o${head.group - 1} as op1 or op2 (reusePrevious)`;
  }
}

/** A uniform draw among the allowed entries of a mask. */
export function pickAllowed(mask: Uint8Array, rng: Rng): number {
  return rng.categorical(mask);
}

function describeKind(kind: HeadKind): string {
  return kind === 'b' ? 'a binary function' : kind === 'u1' || kind === 'u2' ? 'a unary function' : 'an operand';
}
