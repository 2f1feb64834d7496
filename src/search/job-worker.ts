// Entry of a forked worker process: receives jobs over IPC, runs each (fake or real child training), sends outcomes.
import { KERNEL_ABI_VERSION } from '../compiler/kernel-abi';
import type { Job } from './backend';
import { FAKE_PROTOCOL_VERSION, fakeEvaluate, validateFakeProtocol } from './fake-evaluator';
import { dieWithParent } from './parent-watchdog';
import type { EvalOutcome, ProtocolConfig } from '../runtime/child/protocol';

/** Parent -> worker. */
export interface RunMessage { type: 'run'; job: Job; attempt: number }
/** Worker -> parent. */
export type WorkerMessage =
  | { type: 'ready'; pid: number }
  | { type: 'result'; jobId: string; outcome: EvalOutcome }
  | { type: 'failed'; jobId: string; status: 'error' | 'version-mismatch'; error: string };

type ProtocolModule = typeof import('../runtime/child/protocol');
let protocolModule: ProtocolModule | undefined;
function loadProtocolModule(): ProtocolModule {
  // Loaded lazily: fake jobs never pay for onnxruntime.
  if (!protocolModule) protocolModule = require('../runtime/child/protocol') as ProtocolModule;
  return protocolModule;
}

function send(message: WorkerMessage): void {
  process.send!(message);
}

async function runJob(job: Job, attempt: number): Promise<WorkerMessage> {
  const isFake = (job.protocol as { name?: string }).name === 'fake';
  if (job.versions.compiler !== KERNEL_ABI_VERSION) {
    return { type: 'failed', jobId: job.id, status: 'version-mismatch',
      error: `job made for compiler version ${job.versions.compiler}, this worker has ${KERNEL_ABI_VERSION}` };
  }
  if (isFake) {
    if (job.versions.protocol !== FAKE_PROTOCOL_VERSION) {
      return { type: 'failed', jobId: job.id, status: 'version-mismatch',
        error: `job made for fake protocol version ${job.versions.protocol}, this worker has ${FAKE_PROTOCOL_VERSION}` };
    }
    const protocol = validateFakeProtocol(job.protocol, `job ${job.id}: protocol`);
    return { type: 'result', jobId: job.id, outcome: await fakeEvaluate(job.rule, protocol, job.seed, { jobId: job.id, attempt }) };
  }
  let mod: ProtocolModule;
  try {
    mod = loadProtocolModule();
  } catch (e) {
    return { type: 'failed', jobId: job.id, status: 'error', error: `child training is not available: ${(e as Error).message}` };
  }
  if (job.versions.protocol !== mod.PROTOCOL_VERSION) {
    return { type: 'failed', jobId: job.id, status: 'version-mismatch',
      error: `job made for protocol version ${job.versions.protocol}, this worker has ${mod.PROTOCOL_VERSION}` };
  }
  const outcome = await mod.evaluateRule(job.rule, job.protocol as ProtocolConfig, job.data, { device: job.device, seed: job.seed });
  return { type: 'result', jobId: job.id, outcome };
}

function main(): void {
  if (!process.send) {
    console.error('job-worker: must be started as a forked child with an IPC channel');
    process.exit(2);
  }
  process.on('message', (message: RunMessage) => {
    if (!message || message.type !== 'run') return;
    runJob(message.job, message.attempt).then(send, (e: unknown) => {
      const error = e instanceof Error ? (e.stack ?? e.message) : String(e);
      send({ type: 'failed', jobId: message.job.id, status: 'error', error });
    });
  });
  // Without a parent there is nothing to work for.
  process.on('disconnect', () => process.exit(0));
  // Ctrl-C reaches the whole process group: the search decides what stops (it kills its workers itself), so a worker
  // must not die of it and have its job recorded as crashed.
  process.on('SIGINT', () => undefined);
  // The same for a SIGTERM sent to the whole group (systemd, kill -TERM -PGID): the parent stops its workers.
  process.on('SIGTERM', () => undefined);
  // A search killed with SIGKILL runs no exit hook: the watchdog thread ends this worker even while a job hangs.
  void dieWithParent().then(() => send({ type: 'ready', pid: process.pid }));
}

if (require.main === module) main();
