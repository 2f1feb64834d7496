// Turns what a worker reported into a checked Envelope: rewards finite and in [0, 1], failures at the floor reward 0.
import type { EvalOutcome } from '../runtime/child/protocol';
import { JOB_STATUSES, type Envelope, type Job, type JobStatus } from './backend';
import { envelopeProblem } from './record-validation';

/** What one run of a job produced, before it becomes an envelope. */
export type RunResult =
  | { kind: 'outcome'; outcome: EvalOutcome }
  | { kind: 'failure'; status: JobStatus; error: string };

function finiteOrNull(x: unknown): number | null {
  return typeof x === 'number' && Number.isFinite(x) ? x : null;
}

/** Replaces non-finite numbers in an outcome's sweep with null so the ledger never holds NaN or Infinity. */
function sanitizeOutcome(outcome: EvalOutcome, reward: number, status: EvalOutcome['status']): EvalOutcome {
  const sweep = Array.isArray(outcome.sweep) ? outcome.sweep.map((s) => ({
    lr: s.lr, status: s.status,
    accuracy: finiteOrNull(s.accuracy) as number, loss: finiteOrNull(s.loss) as number,
  })) : [];
  return { ...outcome, status, reward, sweep, bestLr: finiteOrNull(outcome.bestLr) };
}

/**
 * Builds the envelope of a finished run. A NaN or infinite reward, or any result the record validator refuses (a
 * reward outside [0, 1], a field of the wrong type), becomes status 'error' with reward 0 and the reason.
 */
export function makeEnvelope(job: Job, result: RunResult, info: {
  attempt: number; worker: string; queuedMs: number; runMs: number;
}): Envelope {
  const envelope = buildEnvelope(job, result, info);
  const problem = envelopeProblem(envelope, job.id);
  if (!problem) return envelope;
  return { jobId: job.id, status: 'error', reward: 0, bestLr: null, timings: envelope.timings, attempt: envelope.attempt, worker: envelope.worker,
    error: `evaluator returned an invalid result: ${problem}; recorded as error with reward 0` };
}

function buildEnvelope(job: Job, result: RunResult, info: {
  attempt: number; worker: string; queuedMs: number; runMs: number;
}): Envelope {
  const base = { jobId: job.id, attempt: info.attempt, worker: info.worker,
    timings: { queuedMs: Math.max(0, Math.round(info.queuedMs)), runMs: Math.max(0, Math.round(info.runMs)) } };
  if (result.kind === 'failure') {
    // A worker process reports failures over IPC: one that calls itself 'ok', or a status nos does not know, is an error.
    if (result.status === 'ok' || !(JOB_STATUSES as readonly string[]).includes(result.status)) {
      return { ...base, status: 'error', reward: 0, bestLr: null, error: `worker reported a failure with status ${JSON.stringify(result.status)}: ${String(result.error)}` };
    }
    return { ...base, status: result.status, reward: 0, bestLr: null, error: typeof result.error === 'string' ? result.error : `worker reported ${result.status} without a message` };
  }
  const outcome = result.outcome;
  if (!outcome || typeof outcome !== 'object' || !['ok', 'diverged', 'error'].includes(outcome.status)) {
    return { ...base, status: 'error', reward: 0, bestLr: null,
      error: `evaluator returned a malformed outcome: ${JSON.stringify(outcome)?.slice(0, 200)}` };
  }
  if (typeof outcome.reward !== 'number' || !Number.isFinite(outcome.reward)) {
    const error = `evaluator returned a non-finite reward (${String(outcome.reward)}); recorded as error with reward 0`;
    return { ...base, status: 'error', reward: 0, bestLr: null, error, outcome: sanitizeOutcome(outcome, 0, 'error') };
  }
  if (outcome.status !== 'ok') {
    return { ...base, status: outcome.status, reward: 0, bestLr: finiteOrNull(outcome.bestLr),
      error: outcome.error ?? `evaluation ${outcome.status}`, outcome: sanitizeOutcome(outcome, 0, outcome.status) };
  }
  return { ...base, status: 'ok', reward: outcome.reward, bestLr: finiteOrNull(outcome.bestLr),
    outcome: sanitizeOutcome(outcome, outcome.reward, 'ok') };
}
