// Multi-fidelity: what a search trains each rule with (the protocol of each stage), which rules the funnel promotes
// from its screen to the full protocol, and what a rule stopped at the screen is worth.
import type { FakeProtocolConfig } from './fake-evaluator';
import type { ProtocolConfig } from '../runtime/child/protocol';

/**
 * full: the protocol as it is (every rate trains the whole sweep). halving: successive halving inside the sweep.
 * funnel: a cheap screen first (the quick protocol's model, halving, no final run for an MLP protocol), and only the
 * top fraction of rules goes on to the full protocol.
 */
export type Fidelity = 'full' | 'halving' | 'funnel';
export const FIDELITIES: readonly Fidelity[] = ['full', 'halving', 'funnel'];
/** What nos search uses unless told: chosen by bench/search-cost-quality.ts (bench/RESULTS.md, "Search at scale"). */
export const DEFAULT_FIDELITY: Fidelity = 'funnel';

/** Funnel: a screened rule goes on when fewer than this share of the screens so far did better. */
export const PROMOTE_FRACTION = 0.25;
/** Funnel: the first screens go on whatever they scored (too few to rank against). */
export const PROMOTE_WARMUP = 8;
/**
 * A rule stopped at the screen is recorded with this share of its screen reward: below 0.5 whatever it scored, so it
 * never outranks a full-fidelity rule worth anything (chance is 0.1), and the leaderboard ranks only full-fidelity
 * rewards. The strategy learns from it: a rule that does not pass the screen is worth less than one that does.
 */
export const SCREEN_REWARD_SCALE = 0.5;

export type Stage = 'screen' | 'full';
type AnyProtocol = ProtocolConfig | FakeProtocolConfig;

function isFake(p: AnyProtocol): p is FakeProtocolConfig { return p.name === 'fake'; }

/** The screen of a protocol: on the MLP of `quick` (1 thread) when the protocol trains the convnet, else its own sweep by halving with no final run. */
export function screenProtocol(p: AnyProtocol, quickMaxSeconds = 120): AnyProtocol {
  if (isFake(p)) return { ...p, screen: true };
  const base = { ...p, name: `${p.name}:screen`, sweep: 'halving' as const };
  if (p.model === 'convnet') {
    const { filters: _convnetWidth, ...rest } = base; // the screen's MLP has the quick protocol's width
    return { ...rest, model: 'mlp', threads: 1, maxSeconds: quickMaxSeconds };
  }
  return { ...base, finalEpochs: 0 };
}

/**
 * The protocol of a stage. With `funnel`, a promoted rule on an MLP protocol trains only the final run, at the rate
 * its screen chose (the screen was that protocol's own sweep); on the convnet it runs the protocol by halving.
 */
export function stageProtocol(p: AnyProtocol, fidelity: Fidelity, stage: Stage, screenBestLr: number | null = null): AnyProtocol {
  if (fidelity === 'full' || (fidelity === 'halving' && isFake(p))) return p;
  if (stage === 'screen' && fidelity === 'funnel') return screenProtocol(p);
  if (isFake(p)) return p;
  if (fidelity === 'halving') return { ...p, sweep: 'halving' };
  if (p.model === 'mlp' && screenBestLr !== null) return { ...p, sweep: 'none', lrs: [screenBestLr] };
  return { ...p, sweep: 'halving' };
}

/** The funnel's promotion rule, online over the screens in the order they finished (deterministic given it). */
export class Promoter {
  private readonly rewards: number[] = [];

  /** Decides on a screen reward and remembers it. */
  decide(reward: number): { promote: boolean; better: number; screens: number } {
    const better = this.rewards.filter((r) => r > reward).length;
    const screens = this.rewards.length + 1;
    this.rewards.push(reward);
    return { promote: screens <= PROMOTE_WARMUP || better < PROMOTE_FRACTION * screens, better, screens };
  }

  /** On resume: a screen decided before (its reward joins the history, its decision stands). */
  remember(reward: number): void { this.rewards.push(reward); }
}

/** The recorded reward of a rule stopped at the screen. */
export function screenedReward(screenReward: number): number {
  return SCREEN_REWARD_SCALE * screenReward;
}

/** How a result is counted in status lines: a rule stopped at the screen is 'screened-out', not 'ok'. */
export function outcomeLabel(status: string, fidelity: Stage | undefined): string {
  return fidelity === 'screen' && status === 'ok' ? 'screened-out' : status;
}
