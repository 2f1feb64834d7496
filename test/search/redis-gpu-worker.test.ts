// `nos worker --device cuda` on a real redis-server: the queue's jobs train side by side on one GPU engine (here the
// fake driver of test/runtime/fake-cuda.c, whose launches run the engine's CPU twin) and come back to the search's
// backend with the engine's outcomes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { KERNEL_ABI_VERSION } from '../../src/compiler/kernel-abi';
import { PROTOCOL_VERSION, PROTOCOLS, type ProtocolConfig } from '../../src/runtime/child/protocol';
import { EngineEvaluator } from '../../src/runtime/engine/engine-evaluator';
import type { Job } from '../../src/search/backend';
import { createRedisBackend } from '../../src/search/queue-redis';
import { startRedisWorker } from '../../src/search/worker-redis';
import { installFakeCuda } from '../support/fake-cuda';
import { findRedisServer, startRedisServer, type RedisServerFixture } from './redis-server-fixture';

const found = findRedisServer();
const fake = found.bin ? installFakeCuda() : false;
const skip = !found.bin ? found.reason : fake === false ? 'no C compiler for the fake driver' : false;
let server: RedisServerFixture | undefined;
before(async () => { if (!skip) server = await startRedisServer(); });
after(async () => { await server?.dispose(); });

const protocol: ProtocolConfig = { ...PROTOCOLS.quick, lrs: [1e-2, 1e-1], finalEpochs: 1, trainExamples: 200, validationExamples: 100, batchSize: 20, threads: 1 };

test('nos worker --device cuda: the queue\'s jobs train on one GPU engine and return its outcomes', { skip }, async () => {
  const quiet = () => undefined;
  const rules = ['adam', 'sgd', 'powersign'];
  const worker = await startRedisWorker(server!.url, { device: 'cuda', concurrency: 8, queueName: 'gpu', name: 'gw', lockDurationMs: 60_000, log: quiet });
  const backend = await createRedisBackend(server!.url, { queueName: 'gpu', sweepIntervalMs: 500, log: quiet });
  try {
    // The search asked for the CPU: the worker's --device cuda overrides it.
    const jobs: Job[] = rules.map((rule, i) => ({ id: `r:${i}`, rule, protocol, data: {}, device: 'cpu', seed: 4, versions: { compiler: KERNEL_ABI_VERSION, protocol: PROTOCOL_VERSION } }));
    await backend.submit(jobs);
    const expected = EngineEvaluator.create({ device: 'host', protocol, capacity: 6 });
    expected.submit(rules.map((rule, i) => ({ id: `r:${i}`, rule, seed: 4 })));
    const want = new Map<string, number>();
    for (let i = 0; i < rules.length; i++) { const r = await expected.next(); want.set(r.id, r.outcome.reward); }
    await expected.close();
    for (let i = 0; i < rules.length; i++) {
      const e = await backend.next();
      assert.equal(e.status, 'ok', e.error);
      assert.equal(e.reward, want.get(e.jobId), e.jobId);
      assert.match(e.worker, /^gw:gpu:pid\d+$/);
    }
  } finally {
    await backend.close();
    await worker.close();
  }
});

test('nos worker --device cuda on two GPUs, one unable to train: it is left out and the other trains every job, no try spent', { skip }, async () => {
  Object.assign(process.env, { NOS_FAKE_CUDA_DEVICES: '2', NOS_FAKE_CUDA_BROKEN: '1' });
  const logs: string[] = [];
  const rules = ['adam', 'sgd', 'powersign'];
  const worker = await startRedisWorker(server!.url, { device: 'cuda', concurrency: 8, queueName: 'gpus', name: 'gw2', lockDurationMs: 60_000, log: (m) => logs.push(m) });
  const backend = await createRedisBackend(server!.url, { queueName: 'gpus', sweepIntervalMs: 500, log: () => undefined });
  try {
    await backend.submit(rules.map((rule, i) => ({ id: `g:${i}`, rule, protocol, data: {}, device: 'cuda', seed: 4, versions: { compiler: KERNEL_ABI_VERSION, protocol: PROTOCOL_VERSION } })));
    for (let i = 0; i < rules.length; i++) {
      const e = await backend.next();
      assert.deepEqual([e.status, e.attempt], ['ok', 1], e.error);
      assert.match(e.worker, /^gw2:gpu0:pid\d+$/);
    }
    assert.equal(logs.filter((m) => /GPU 1 cannot train and is left out \(gpu pool: the GPU engine could not start: .*no GPU is visible.*\); its \d+ rules? in flight go(es)? to the other GPU$/.test(m)).length, 1, logs.join('\n'));
  } finally {
    delete process.env.NOS_FAKE_CUDA_DEVICES;
    delete process.env.NOS_FAKE_CUDA_BROKEN;
    await backend.close();
    await worker.close();
  }
});
