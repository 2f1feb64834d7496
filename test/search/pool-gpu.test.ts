// The GPU backend (one worker process, one child engine for every job) against the backend conformance suite, with
// fake jobs: a crash, hang or memory overrun kills every job in flight, and the pool must still find the one at
// fault (re-running the others alone) and give every job back once.  Real jobs: test/runtime/engine/engine-fake-cuda.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGpuBackend, deviceNotes } from '../../src/search/pool-gpu';
import { fakeJob, runBackendConformance } from './backend-conformance';
import type { Job } from '../../src/search/backend';
import { KERNEL_ABI_VERSION } from '../../src/compiler/kernel-abi';
import { PROTOCOL_VERSION, PROTOCOLS } from '../../src/runtime/child/protocol';

runBackendConformance('gpu pool', ({ limits }) => createGpuBackend({ limits }));

test('gpu pool: bad options and jobs are refused', async () => {
  assert.throws(() => createGpuBackend({ limits: { timeoutMs: 0, maxRssMb: 256 } }), /timeoutMs must be > 0/);
  assert.throws(() => createGpuBackend({ limits: { timeoutMs: 1000, maxRssMb: 8 } }), /maxRssMb must be >= 32/);
  assert.throws(() => createGpuBackend({ limits: { timeoutMs: 1000, maxRssMb: 256 }, maxAttempts: 0 }), /maxAttempts/);
  const pool = createGpuBackend({ limits: { timeoutMs: 5000, maxRssMb: 512 } });
  try {
    await assert.rejects(pool.submit([{ id: 3 } as never]), /a job needs a string id and rule/);
    await pool.submit([fakeJob('d:0', 'g', { sleepMs: 200 })]);
    await assert.rejects(pool.submit([fakeJob('d:0', 'g')]), /already submitted/);
    assert.equal((await pool.next()).status, 'ok');
  } finally {
    await pool.close();
  }
  await assert.rejects(pool.submit([fakeJob('d:1', 'g')]), /after close/);
});

test('gpu pool: runJob gives a job\'s raw result to its caller, not to next()', async () => {
  const pool = createGpuBackend({ limits: { timeoutMs: 5000, maxRssMb: 512 } });
  try {
    const [a, b] = await Promise.all([pool.runJob(fakeJob('j:0', 'g'), 1), pool.runJob(fakeJob('j:1', 'm', { faults: { nan: ['m'] } }), 3)]);
    assert.equal(a.result.kind, 'outcome');
    assert.match(a.worker, /^gpu:pid\d+$/);
    assert.equal(b.result.kind, 'outcome');
    assert.ok(Number.isNaN((b.result as { outcome: { reward: number } }).outcome.reward), 'the raw outcome: the caller sanitizes');
    assert.equal(pool.pending(), 0);
    await assert.rejects(pool.next(), /no job pending/);
  } finally {
    await pool.close();
  }
});

test('gpu pool: close() answers every runJob caller, queued or running', async () => {
  const pool = createGpuBackend({ limits: { timeoutMs: 5000, maxRssMb: 512 } });
  const runs = [pool.runJob(fakeJob('q:0', 'g', { sleepMs: 2000 }), 1), pool.runJob(fakeJob('q:1', 'm', { sleepMs: 2000 }), 1)];
  await new Promise((r) => setTimeout(r, 50));
  await pool.close();
  for (const r of await Promise.all(runs)) assert.deepEqual(r.result, { kind: 'failure', status: 'crashed', error: 'gpu pool closed' });
});

test('gpu pool: deviceNotes says where the children train once, and again only when the kernels change', () => {
  const notes: string[] = [];
  const onRound = deviceNotes((m) => notes.push(m));
  const round = { device: 'NVIDIA H200', children: 700, capacity: 1024, seconds: 17, rulesDone: 0 };
  onRound({ ...round, kernels: { conv: 'direct', wgrad: 'direct' } });
  onRound({ ...round, kernels: { conv: 'direct', wgrad: 'direct' } });
  onRound({ ...round, kernels: { conv: 'tiled', wgrad: 'direct' } });
  onRound({ ...round, kernels: { conv: 'tiled', wgrad: ['direct', 'tiled'] } });
  onRound({ ...round, kernels: { conv: 'tiled', wgrad: ['direct', 'tiled'] } });
  assert.deepEqual(notes, [
    'training on NVIDIA H200, 1024 child slots: convolutions direct, weight gradients direct',
    'now: convolutions tiled, weight gradients direct',
    'now: convolutions tiled, weight gradients direct in the first layer, tiled in the second layer',
  ]);
});

/** A real job whose engine cannot start here: its data folder does not exist (as when a GPU cannot be used). */
function jobWithoutEngine(id: string): Job {
  return { id, rule: 'sgd', protocol: PROTOCOLS.quick, data: { path: '/nonexistent/nos-data' }, device: 'cuda', seed: 0,
    versions: { compiler: KERNEL_ABI_VERSION, protocol: PROTOCOL_VERSION } };
}

test('gpu pool: an engine that cannot start stops next() with the reason and records no result; a queue worker\'s job comes back as a crash', async () => {
  const pool = createGpuBackend({ limits: { timeoutMs: 60_000, maxRssMb: 2048 } });
  try {
    await pool.submit([jobWithoutEngine('u:0'), jobWithoutEngine('u:1')]);
    await assert.rejects(pool.next(), /^Error: gpu pool: the GPU engine could not start: .*nonexistent/);
    await assert.rejects(pool.next(), /could not start/, 'and every later call');
    await assert.rejects(pool.submit([fakeJob('u:2', 'g')]), /could not start/);
  } finally {
    await pool.close();
  }
  const queue = createGpuBackend({ limits: { timeoutMs: 60_000, maxRssMb: 2048 } });
  try {
    const { result } = await queue.runJob(jobWithoutEngine('q:0'), 1);
    assert.deepEqual(result.kind === 'failure' && [result.status, /could not start/.test(result.error)], ['crashed', true]);
  } finally {
    await queue.close();
  }
});
