// What the search decides about a new rule before it trains it: the hurdles (refuse it), the equivalence cache (it
// computes the same function as a rule judged or being judged: take that result), or train it.
import { compileRule, type RuleInfo } from '../compiler';
import { EquivalenceCache, fingerprint } from './fingerprint';
import { checkHurdles, dependsOnGradient } from './hurdles';

export interface ScreenOptions {
  hurdles: boolean;
  fec: boolean;
  /** The learning rates the descent probe tries (the protocol's sweep). */
  lrs: readonly number[];
}

export type Screening =
  | { kind: 'refuse'; status: 'no-gradient' | 'no-descent'; reason: string; ms: number }
  /** Same function as the rule with this hash (judged already, or being judged): its result is this one's. */
  | { kind: 'equivalent'; hash: string; rule: string }
  | { kind: 'train' };

export class RuleScreen {
  private readonly cache = new EquivalenceCache<{ hash: string; rule: string }>();

  constructor(private readonly options: ScreenOptions) {}

  get active(): boolean { return this.options.hurdles || this.options.fec; }

  /**
   * The verdict for a rule not seen before (by canonical hash). A rule that passes, or fails the descent probe, is
   * remembered, so that another spelling of the same function takes its result.
   */
  screen(rule: string, hash: string): Screening {
    const started = process.hrtime.bigint();
    const ms = () => Number(process.hrtime.bigint() - started) / 1e6;
    const info = compileRule(rule);
    if (this.options.hurdles && !dependsOnGradient(info.root)) {
      return { kind: 'refuse', status: 'no-gradient', ms: ms(),
        reason: 'the rule reads no gradient-derived input (g, g2, g3, m, v, y): it cannot descend' };
    }
    const print = this.options.fec ? fingerprint(info) : null;
    if (print) {
      const same = this.cache.find(print);
      if (same) return { kind: 'equivalent', ...same };
      this.cache.add(print, { hash, rule });
    }
    if (this.options.hurdles) {
      const verdict = checkHurdles(info, this.options.lrs);
      if (verdict) return { kind: 'refuse', status: verdict.status, reason: verdict.reason, ms: ms() };
    }
    return { kind: 'train' };
  }

  /** On resume: a rule judged before (trained or refused by the probe) joins the cache without being judged again. */
  remember(rule: string, hash: string): void {
    if (!this.options.fec) return;
    const info: RuleInfo = compileRule(rule);
    if (this.options.hurdles && !dependsOnGradient(info.root)) return; // never fingerprinted
    this.cache.add(fingerprint(info), { hash, rule });
  }
}
