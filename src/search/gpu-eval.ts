// One rule under a protocol on the GPU, the way the search judges it (`nos eval --device cuda`): in a GPU worker
// process (pool-gpu.ts), so a rule that trains past the time limit or a hung engine is stopped and told apart by the
// control rule, instead of the command waiting on the device for ever.
import { KERNEL_ABI_VERSION } from '../compiler/kernel-abi';
import { PROTOCOL_VERSION, type EvalOutcome, type ProtocolConfig } from '../runtime/child/protocol';
import type { RunLimits } from './backend';
import { GpuPool, type GpuRoundInfo } from './pool-gpu';

export interface GpuEvalOptions {
  limits: RunLimits;
  seed?: number;
  onRound?: (info: GpuRoundInfo) => void;
  /** What the user should hear of: a stall, a rule re-run, the control rule's verdict. */
  onNote?: (message: string) => void;
}

/**
 * Trains `rule` (a name, infix text or tokens) on one GPU worker with a child slot per swept rate and resolves with
 * its outcome.  A run the pool records as failed (timeout, crashed, oom) comes back as status 'error', its error
 * led by that status.  Rejects with a GpuUnusableError when the GPU cannot train at all, not even the control rule.
 */
export async function evaluateOnGpuWorker(rule: string, protocol: ProtocolConfig, data: { path?: string }, options: GpuEvalOptions): Promise<EvalOutcome> {
  const started = Date.now();
  const pool = new GpuPool({
    limits: options.limits, capacity: protocol.lrs.length, onRound: options.onRound, onNote: options.onNote,
  });
  try {
    const job = { id: rule, rule, protocol, data, device: 'cuda' as const, seed: options.seed ?? 0, versions: { compiler: KERNEL_ABI_VERSION, protocol: PROTOCOL_VERSION } };
    const { result } = await pool.runJob(job, 1);
    if (result.kind === 'outcome') return result.outcome;
    return { status: 'error', reward: 0, bestLr: null, sweep: [], seconds: (Date.now() - started) / 1000, error: `${result.status}: ${result.error}` };
  } finally {
    await pool.close();
  }
}
