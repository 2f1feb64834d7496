// The GPU backend over several GPUs (pool-gpus.ts) with fake jobs: the backend conformance suite, jobs spread over
// the GPUs, runJob routed.  A GPU that cannot train, on real jobs: test/runtime/engine/engine-fake-cuda.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGpuBackend } from '../../src/search/pool-gpu';
import { MultiGpuPool } from '../../src/search/pool-gpus';
import { GPU_IN_FLIGHT } from '../../src/search/search-config';
import { collect, fakeJob, runBackendConformance } from './backend-conformance';

const TWO = [{ index: 0, visible: '0' }, { index: 1, visible: '1' }];

runBackendConformance('gpu pools', ({ limits }) => createGpuBackend({ limits, gpus: TWO }));

test('gpu pools: jobs are spread over the GPUs, each worker on its own (CUDA_VISIBLE_DEVICES), and in flight enough for all', async () => {
  const pool = createGpuBackend({ limits: { timeoutMs: 10_000, maxRssMb: 512 }, gpus: TWO });
  try {
    assert.ok(pool instanceof MultiGpuPool);
    assert.equal(pool.inFlightHint?.(), 2 * GPU_IN_FLIGHT);
    await pool.submit(Array.from({ length: 6 }, (_, i) => fakeJob(`s:${i}`, 'g', { sleepMs: 300 })));
    const got = await collect(pool, 6);
    const workers = [...got.values()].map((e) => e.worker.replace(/:pid\d+$/, ''));
    assert.deepEqual(workers.filter((w) => w === 'gpu0').length, 3, workers.join(' '));
    assert.deepEqual(workers.filter((w) => w === 'gpu1').length, 3, workers.join(' '));
    for (const e of got.values()) assert.equal(e.status, 'ok');
    assert.equal(pool.pids().length, 2);
    const direct = await Promise.all([pool.runJob(fakeJob('r:0', 'g', { sleepMs: 300 }), 1), pool.runJob(fakeJob('r:1', 'm', { sleepMs: 300 }), 1)]);
    assert.deepEqual(direct.map((r) => r.worker.replace(/:pid\d+$/, '')).sort(), ['gpu0', 'gpu1'], 'runJob too: one on each');
    await assert.rejects(pool.next(), /no job pending/);
    await assert.rejects(pool.submit([{ id: 3 } as never]), /^Error: gpu pools: a job needs a string id and rule/);
    assert.equal(pool.pending(), 0, 'a refused job is not waited for');
  } finally {
    await pool.close();
  }
  assert.throws(() => new MultiGpuPool([TWO[0]], { limits: { timeoutMs: 1000, maxRssMb: 256 } }), /need at least 2 GPUs/);
});
