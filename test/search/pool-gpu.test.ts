// The GPU backend (one worker process, one child engine for every job) against the backend conformance suite, with
// fake jobs: a crash, hang or memory overrun kills every job in flight, and the pool must still find the one at
// fault (re-running the others alone) and give every job back once.  Real jobs: test/runtime/engine/engine-fake-cuda.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONTROL_RULE, createGpuBackend, deviceNotes } from '../../src/search/pool-gpu';
import { fakeJob, runBackendConformance } from './backend-conformance';
import { GpuUnusableError, type Job } from '../../src/search/backend';
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

test('gpu pool: an engine that cannot start stops next() with the reason and records no result; runJob\'s callers get a GpuUnusableError', async () => {
  const pool = createGpuBackend({ limits: { timeoutMs: 60_000, maxRssMb: 2048 } });
  try {
    await pool.submit([jobWithoutEngine('u:0'), jobWithoutEngine('u:1')]);
    await assert.rejects(pool.next(), { name: 'GpuUnusableError', message: /^gpu pool: the GPU engine could not start: .*nonexistent/ });
    await assert.rejects(pool.next(), /could not start/, 'and every later call');
    await assert.rejects(pool.submit([fakeJob('u:2', 'g')]), /could not start/);
  } finally {
    await pool.close();
  }
  const queue = createGpuBackend({ limits: { timeoutMs: 60_000, maxRssMb: 2048 } });
  try {
    await assert.rejects(queue.runJob(jobWithoutEngine('q:0'), 1), (e) => e instanceof GpuUnusableError && /could not start/.test(e.message));
  } finally {
    await queue.close();
  }
});

test('gpu pool: a rule that crashes alone on its last try is recorded as crashed once the control rule trains', async () => {
  const notes: string[] = [];
  const pool = createGpuBackend({ limits: { timeoutMs: 10_000, maxRssMb: 512 }, onNote: (m) => notes.push(m) });
  try {
    await pool.submit([fakeJob('k:0', 'sqrt(m)', { faults: { crash: ['sqrt(m)'] } })]);
    const e = await pool.next();
    assert.deepEqual([e.status, e.attempt], ['crashed', 2]);
    assert.match(e.error ?? '', /^the GPU worker died \(signal SIGSEGV\)/);
    assert.equal(notes.length, 2, notes.join('\n'));
    assert.match(notes[0], new RegExp(`^rule k:0 failed alone on its last try \\(the GPU worker died \\(signal SIGSEGV\\).*\\); training the control rule ${CONTROL_RULE} alone to tell whether the rule or the GPU is at fault$`));
    assert.equal(notes[1], 'the control rule trained: rule k:0 is recorded as crashed');
    await pool.submit([fakeJob('k:1', 'g')]);
    assert.equal((await pool.next()).status, 'ok', 'and the pool goes on');
  } finally {
    await pool.close();
  }
});

test('gpu pool: a GPU on which every rule crashes, the control rule too, stops next() and records nothing; runJob\'s callers get a GpuUnusableError', async () => {
  // Every rule text holds a 'g' (the control rule 'sgd' too): each crashes its worker, as on a broken GPU.
  const everything = { faults: { crash: ['g'] } };
  const pool = createGpuBackend({ limits: { timeoutMs: 10_000, maxRssMb: 512 } });
  try {
    await pool.submit([fakeJob('b:0', 'g * m', everything), fakeJob('b:1', 'sign(g)', everything), fakeJob('b:2', 'exp(g)', everything)]);
    await assert.rejects(pool.next(), {
      name: 'GpuUnusableError',
      message: /^gpu pool: the GPU cannot train even the control rule sgd alone \(the GPU worker died \(signal SIGSEGV\)\), after rule b:\d failed alone on its last try the same way: the GPU, its driver or this machine is at fault, not the rules; nothing was recorded for the rules in flight$/,
    });
    assert.equal(pool.pending(), 0, 'no result is left to come');
    await assert.rejects(pool.submit([fakeJob('b:3', 'm')]), /cannot train even the control rule/);
  } finally {
    await pool.close();
  }
  const queue = createGpuBackend({ limits: { timeoutMs: 10_000, maxRssMb: 512 } });
  try {
    const runs = ['g * m', 'sign(g)'].map((rule, i) => queue.runJob(fakeJob(`qb:${i}`, rule, everything), 1));
    for (const run of runs) await assert.rejects(run, (e) => e instanceof GpuUnusableError && /cannot train even the control rule/.test(e.message));
    await assert.rejects(queue.runJob(fakeJob('qb:2', 'm'), 1), GpuUnusableError);
  } finally {
    await queue.close();
  }
});

test('gpu pool: a job past the time limit is recorded as timeout once the control rule trains; a GPU on which the control rule hangs too stops next()', async () => {
  const notes: string[] = [];
  const pool = createGpuBackend({ limits: { timeoutMs: 1500, maxRssMb: 512 }, onNote: (m) => notes.push(m) });
  try {
    // A hang blocks the whole worker process, as a hung engine stalls every child on the GPU.
    await pool.submit([fakeJob('t:0', 'log(g)', { faults: { hang: ['log(g)'] } }), fakeJob('t:1', 'm')]);
    const got = new Map((await Promise.all([pool.next(), pool.next()])).map((e) => [e.jobId, e]));
    assert.deepEqual([got.get('t:0')!.status, got.get('t:0')!.attempt, got.get('t:0')!.error], ['timeout', 1, 'killed after the 1500 ms time limit']);
    assert.equal(got.get('t:1')!.status, 'ok');
    assert.deepEqual(notes, [
      'rule t:0 passed the time limit (killed after the 1500 ms time limit); training the control rule sgd alone to tell whether the rule or the GPU is at fault',
      'the control rule trained: rule t:0 is recorded as timeout',
    ]);
  } finally {
    await pool.close();
  }
  const hung = createGpuBackend({ limits: { timeoutMs: 1500, maxRssMb: 512 } });
  try {
    await hung.submit([fakeJob('th:0', 'g * m', { faults: { hang: ['g'] } })]);
    await assert.rejects(hung.next(), {
      name: 'GpuUnusableError',
      message: /^gpu pool: the GPU cannot train even the control rule sgd alone \(killed after the 1500 ms time limit\), after rule th:0 passed the time limit the same way: the GPU/,
    });
  } finally {
    await hung.close();
  }
});
