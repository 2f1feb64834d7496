// One rule under a protocol on the child engine (what evaluateRule does with device 'cuda', and `nos eval --device
// cuda`): its sweep children side by side, then its final run.  Like evaluateRule it never throws for a rule or a
// machine that cannot train: bad input, no GPU and engine failures come back as status 'error'.
import type { EvalOutcome, ProtocolConfig } from '../child/protocol';
import type { EngineDevice } from './child-engine';
import { EngineEvaluator, type RoundReport } from './engine-evaluator';

export interface EngineRuleOptions {
  device?: EngineDevice;
  seed?: number;
  cacheDir?: string;
  threads?: number;
  onRound?: (report: RoundReport) => void;
}

export async function evaluateRuleOnEngine(rule: string, protocol: ProtocolConfig, data: { path?: string },
  options: EngineRuleOptions = {}): Promise<EvalOutcome> {
  const started = Date.now();
  let evaluator: EngineEvaluator | undefined;
  try {
    // One rule needs a slot per swept rate (its final run reuses one of them).
    evaluator = EngineEvaluator.create({
      device: options.device ?? 'cuda', protocol, data, capacity: protocol.lrs.length, cacheDir: options.cacheDir,
      threads: options.threads, onRound: options.onRound,
    });
    evaluator.submit([{ id: 'rule', rule, seed: options.seed ?? 0 }]);
    return (await evaluator.next()).outcome;
  } catch (err) {
    return { status: 'error', reward: 0, bestLr: null, sweep: [], seconds: (Date.now() - started) / 1000, error: (err as Error).message };
  } finally {
    await evaluator?.close();
  }
}
