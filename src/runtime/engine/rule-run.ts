// One rule under the evaluation protocol on the engine: its sweep children (one per learning rate), then the final
// child at the best rate, and the EvalOutcome, decided exactly as evaluateRule (child/protocol.ts) decides it.
import type { RuleInfo } from '../../compiler';
import type { EvalOutcome, ProtocolConfig, SweepEntry } from '../child/protocol';

/** One child network of a rule: a training run at one learning rate. */
export interface ChildRun {
  run: RuleRun;
  phase: 'sweep' | 'final';
  lr: number;
  epochs: number;
}

/** How a child's run ended. */
export type ChildResult =
  | { status: 'ok'; accuracy: number; loss: number }
  | { status: 'diverged'; lastLoss: number; reason: string };

/** The loss recorded for a diverged run: the one that tripped the check if finite, else the largest double. */
function divergedLoss(lastLoss: number): number {
  return Number.isFinite(lastLoss) ? lastLoss : Number.MAX_VALUE;
}

export class RuleRun {
  private readonly sweep: Array<SweepEntry | undefined>;
  private sweepLeft: number;
  private bestLr: number | null = null;
  private startedAt: number | null = null;

  constructor(readonly id: string, readonly rule: string, readonly info: RuleInfo, readonly seed: number,
    readonly protocol: ProtocolConfig) {
    this.sweep = protocol.lrs.map(() => undefined);
    this.sweepLeft = protocol.lrs.length;
  }

  /** The sweep: one child per learning rate, in the protocol's order. */
  sweepChildren(): ChildRun[] {
    return this.protocol.lrs.map((lr) => ({ run: this, phase: 'sweep' as const, lr, epochs: this.protocol.sweepEpochs }));
  }

  /** Called when one of the rule's children starts training; true the first time (the rule's time counts from then). */
  markStarted(now: number): boolean {
    if (this.startedAt !== null) return false;
    this.startedAt = now;
    return true;
  }

  private seconds(now: number): number {
    return (now - (this.startedAt ?? now)) / 1000;
  }

  /** Records a finished child: the rule's next child (the final run), or its outcome when it is done. */
  finish(child: ChildRun, result: ChildResult, now: number): { next?: ChildRun; outcome?: EvalOutcome } {
    if (child.phase === 'final') {
      if (result.status === 'diverged') {
        return { outcome: this.outcome('diverged', 0, now, `final run diverged: ${result.reason}`) };
      }
      return { outcome: this.outcome('ok', result.accuracy, now) };
    }
    const k = this.protocol.lrs.indexOf(child.lr);
    this.sweep[k] = result.status === 'ok'
      ? { lr: child.lr, accuracy: result.accuracy, loss: result.loss, status: 'ok' }
      : { lr: child.lr, accuracy: 0, loss: divergedLoss(result.lastLoss), status: 'diverged' };
    this.sweepLeft--;
    if (this.sweepLeft > 0) return {};
    // As evaluateRule: the first rate (in the protocol's order) with the best held-out accuracy.
    let best = -1;
    for (const entry of this.sweep as SweepEntry[]) {
      if (entry.status === 'ok' && entry.accuracy > best) {
        best = entry.accuracy;
        this.bestLr = entry.lr;
      }
    }
    if (this.bestLr === null) return { outcome: this.outcome('diverged', 0, now, 'every learning rate of the sweep diverged') };
    return { next: { run: this, phase: 'final', lr: this.bestLr, epochs: this.protocol.finalEpochs } };
  }

  /** The outcome of a rule that could not be trained at all (the engine failed). */
  failed(error: string, now: number): EvalOutcome {
    return this.outcome('error', 0, now, error);
  }

  private outcome(status: EvalOutcome['status'], reward: number, now: number, error?: string): EvalOutcome {
    const sweep = this.sweep.filter((s): s is SweepEntry => s !== undefined);
    return { status, reward, bestLr: this.bestLr, sweep, seconds: this.seconds(now), ...(error ? { error } : {}) };
  }
}
