// Entry of the forked GPU worker process (pool-gpu.ts): every job it is sent trains on one child engine per protocol,
// side by side with the others; results go back as each rule finishes.  Fake jobs (tests) run the fake evaluator.
import { KERNEL_ABI_VERSION } from '../compiler/kernel-abi';
import type { Job } from './backend';
import { dieWithParent } from './parent-watchdog';
import { FAKE_PROTOCOL_VERSION, fakeEvaluate, validateFakeProtocol } from './fake-evaluator';
import type { EvalOutcome, ProtocolConfig } from '../runtime/child/protocol';
import type { EngineEvaluator, RoundReport } from '../runtime/engine/engine-evaluator';
import type { EngineDevice } from '../runtime/engine/kernel-build';

/** Parent -> worker. */
export type GpuRequest = { type: 'run'; job: Job; attempt: number };
/** Worker -> parent. */
export type GpuMessage =
  | { type: 'ready'; pid: number }
  | { type: 'started'; jobId: string }
  | { type: 'round'; report: RoundReport; device: string }
  | { type: 'result'; jobId: string; outcome: EvalOutcome }
  | { type: 'failed'; jobId: string; status: 'error' | 'version-mismatch'; error: string }
  /** The child engine could not start (no usable GPU, its memory taken, the data missing): no rule is at fault. */
  | { type: 'unavailable'; jobId: string; error: string }
  /**
   * The engine failed; the worker exits next, sending nothing more (its jobs in flight are to be re-run).
   * whileTuning: while timing the convolution kernels, so a next worker should keep the direct ones.
   */
  | { type: 'broken'; error: string; whileTuning: boolean };

/** The worker's exit code after its engine failed (pool-gpu.ts re-runs what was in flight). */
export const ENGINE_FAILED_EXIT = 70;

/**
 * Settings the parent passes in NOS_GPU_WORKER (JSON).  engine: where the child engine runs, the GPU (default) or
 * its CPU twin ('host': the same kernels as C++, for dry runs of GPU work on a machine without one).  kernels:
 * 'direct' overrides NOS_ENGINE_KERNELS (after an earlier worker's tuning faulted).
 */
export interface GpuWorkerSettings { capacity?: number; cacheDir?: string; engine?: EngineDevice; kernels?: 'direct' }

/** Set once the engine failed: the failed rules' outcomes must not reach the parent, which re-runs them. */
let exiting = false;

function send(message: GpuMessage): void {
  if (!exiting) process.send!(message);
}

/**
 * An engine failure ends the process: a fault leaves the CUDA context unusable, and the evaluator would fail every
 * later rule with it.  Everything sent before this reached the parent first (one ordered channel).
 */
function exitOnEngineFailure(message: string, whileTuning: boolean): void {
  if (exiting) return;
  exiting = true;
  process.stderr.write(`gpu-worker: ${message}\n`);
  try {
    process.send!({ type: 'broken', error: message, whileTuning } satisfies GpuMessage, () => process.exit(ENGINE_FAILED_EXIT));
  } catch {
    process.exit(ENGINE_FAILED_EXIT); // the parent is gone
  }
}

const evaluators = new Map<string, Promise<EngineEvaluator>>();
const pumping = new Set<EngineEvaluator>();

/** Sends each result of `evaluator` as it finishes, while it has jobs. */
async function pump(evaluator: EngineEvaluator): Promise<void> {
  if (pumping.has(evaluator)) return;
  pumping.add(evaluator);
  try {
    while (evaluator.pending() > 0) {
      const { id, outcome } = await evaluator.next();
      send({ type: 'result', jobId: id, outcome });
    }
  } finally {
    pumping.delete(evaluator);
  }
}

/** The engine for a job's protocol and data, made on first use (an error here fails the jobs that need it). */
function evaluatorFor(job: Job, settings: GpuWorkerSettings): Promise<EngineEvaluator> {
  const key = JSON.stringify([job.protocol, job.data.path ?? null]);
  let made = evaluators.get(key);
  if (!made) {
    made = (async () => {
      const { EngineEvaluator } = require('../runtime/engine/engine-evaluator') as typeof import('../runtime/engine/engine-evaluator');
      const evaluator = EngineEvaluator.create({
        device: settings.engine ?? 'cuda', protocol: job.protocol as ProtocolConfig, data: job.data, capacity: settings.capacity, cacheDir: settings.cacheDir,
        kernels: settings.kernels === 'direct' ? { conv: 'direct', wgrad: 'direct' } : undefined,
        onStart: (id) => send({ type: 'started', jobId: id }),
        onRound: (report) => send({ type: 'round', report, device: evaluator.deviceName }),
        onBroken: exitOnEngineFailure,
      });
      return evaluator;
    })();
    evaluators.set(key, made);
    made.catch(() => evaluators.delete(key)); // a later job tries again (a GPU that was busy, data put back)
  }
  return made;
}

async function runJob(job: Job, attempt: number, settings: GpuWorkerSettings): Promise<void> {
  const fail = (status: 'error' | 'version-mismatch', error: string) => send({ type: 'failed', jobId: job.id, status, error });
  if (job.versions.compiler !== KERNEL_ABI_VERSION) {
    return fail('version-mismatch', `job made for compiler version ${job.versions.compiler}, this worker has ${KERNEL_ABI_VERSION}`);
  }
  if ((job.protocol as { name?: string }).name === 'fake') {
    if (job.versions.protocol !== FAKE_PROTOCOL_VERSION) {
      return fail('version-mismatch', `job made for fake protocol version ${job.versions.protocol}, this worker has ${FAKE_PROTOCOL_VERSION}`);
    }
    const protocol = validateFakeProtocol(job.protocol, `job ${job.id}: protocol`);
    send({ type: 'started', jobId: job.id });
    send({ type: 'result', jobId: job.id, outcome: await fakeEvaluate(job.rule, protocol, job.seed, { jobId: job.id, attempt }) });
    return;
  }
  const { PROTOCOL_VERSION } = require('../runtime/child/protocol') as typeof import('../runtime/child/protocol');
  if (job.versions.protocol !== PROTOCOL_VERSION) {
    return fail('version-mismatch', `job made for protocol version ${job.versions.protocol}, this worker has ${PROTOCOL_VERSION}`);
  }
  if (job.device !== 'cuda') return fail('error', `job ${job.id} asks for device '${job.device}'; this worker trains on the GPU only`);
  let evaluator: EngineEvaluator;
  try {
    evaluator = await evaluatorFor(job, settings);
  } catch (e) {
    return send({ type: 'unavailable', jobId: job.id, error: `the GPU engine could not start: ${(e as Error).message}` });
  }
  evaluator.submit([{ id: job.id, rule: job.rule, seed: job.seed }]);
  void pump(evaluator);
}

function main(): void {
  if (!process.send) {
    console.error('gpu-worker: must be started as a forked child with an IPC channel');
    process.exit(2);
  }
  const settings = JSON.parse(process.env.NOS_GPU_WORKER ?? '{}') as GpuWorkerSettings;
  process.on('message', (message: GpuRequest) => {
    if (!message || message.type !== 'run') return;
    runJob(message.job, message.attempt, settings).catch((e: unknown) => {
      send({ type: 'failed', jobId: message.job.id, status: 'error', error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    });
  });
  // Without a parent there is nothing to work for.  Not process.exit(): it joins libuv's threads, and one hung in a
  // device call never returns, so the worker would live on holding the GPU.  The parent is gone: nothing to flush.
  process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));
  // The parent decides what stops (as job-worker.ts): Ctrl-C or a SIGTERM to the whole group must not kill the engine.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => undefined);
  // A parent killed with SIGKILL (or by a Ctrl-C it does not handle) runs no exit hook, and a worker whose main
  // thread is stuck in a device call never sees the IPC channel close: the watchdog thread ends it, freeing the GPU.
  void dieWithParent().then(() => send({ type: 'ready', pid: process.pid }));
}

if (require.main === module) main();
