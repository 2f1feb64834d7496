// The Backend conformance suite: any backend (local pool, Redis) must pass it; uses the fake jobs' fault knobs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KERNEL_ABI_VERSION } from '../../src/compiler/kernel-abi';
import type { Backend, Envelope, Job, RunLimits } from '../../src/search/backend';
import { FAKE_PROTOCOL_VERSION, fakeReward } from '../../src/search/fake-evaluator';
import '../support/fake-job-hooks'; // the fault knobs, in this process and its workers
import type { FaultyFakeProtocol } from '../support/fake-job-hooks';

export type MakeBackend = (options: { workers: number; limits: RunLimits }) => Backend | Promise<Backend>;

export function fakeJob(id: string, rule: string, protocol: Partial<FaultyFakeProtocol> = {}, seed = 7): Job {
  return {
    id, rule, protocol: { name: 'fake', sleepMs: 10, ...protocol }, data: {}, device: 'cpu', seed,
    versions: { compiler: KERNEL_ABI_VERSION, protocol: FAKE_PROTOCOL_VERSION },
  };
}

/** Takes n envelopes from the backend, keyed by job id (fails on a duplicate). */
export async function collect(backend: Backend, n: number): Promise<Map<string, Envelope>> {
  const out = new Map<string, Envelope>();
  for (let i = 0; i < n; i++) {
    const e = await backend.next();
    assert.ok(!out.has(e.jobId), `job ${e.jobId} returned twice`);
    out.set(e.jobId, e);
  }
  return out;
}

/** Walks a value and fails on any NaN or infinite number inside it. */
export function assertAllNumbersFinite(value: unknown, where: string): void {
  if (typeof value === 'number') assert.ok(Number.isFinite(value), `${where}: ${value} is not finite`);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) assertAllNumbersFinite(v, `${where}.${k}`);
  }
}

function assertEnvelopeShape(e: Envelope): void {
  assert.equal(typeof e.jobId, 'string');
  assert.ok(['ok', 'diverged', 'error', 'crashed', 'timeout', 'oom', 'version-mismatch'].includes(e.status), e.status);
  assert.ok(e.reward === null || Number.isFinite(e.reward), `reward ${e.reward} must be finite or null`);
  assert.ok(Number.isInteger(e.attempt) && e.attempt >= 1);
  assert.equal(typeof e.worker, 'string');
  assert.ok(e.timings.queuedMs >= 0 && e.timings.runMs >= 0);
}

/**
 * Registers the conformance tests for one backend. Each test makes a fresh backend with 2 workers and closes it.
 * The limits are small on purpose: a hang must time out in about a second, a runaway heap must die quickly.
 */
export function runBackendConformance(name: string, makeBackend: MakeBackend): void {
  const limits: RunLimits = { timeoutMs: 1500, maxRssMb: 256 };
  const withBackend = async (fn: (b: Backend) => Promise<void>, testLimits: RunLimits = limits) => {
    const backend = await makeBackend({ workers: 2, limits: testLimits });
    try { await fn(backend); } finally { await backend.close(); }
  };

  test(`${name}: every job comes back once, with the evaluator's reward, and pending() counts down`, () => withBackend(async (b) => {
    const rules = ['g', 'sign(g) * m', 'exp(sign(g) * sign(m)) * g', 'adam', 'g * 2', 'm / v'];
    const jobs = rules.map((rule, i) => fakeJob(`run:${i}`, rule));
    await b.submit(jobs);
    assert.equal(b.pending(), jobs.length);
    const got = await collect(b, jobs.length);
    assert.equal(b.pending(), 0);
    for (const job of jobs) {
      const e = got.get(job.id)!;
      assertEnvelopeShape(e);
      assert.equal(e.status, 'ok');
      assert.equal(e.reward, fakeReward(job.rule, job.seed));
      assert.equal(e.attempt, 1);
    }
  }));

  test(`${name}: next() with nothing pending rejects instead of hanging`, () => withBackend(async (b) => {
    await assert.rejects(b.next(), /no job pending|nothing pending/i);
  }));

  test(`${name}: NaN and infinite rewards become status error with reward 0`, () => withBackend(async (b) => {
    await b.submit([fakeJob('r:nan', 'g * 3', { faults: { nan: ['g * 3'] } }), fakeJob('r:inf', 'm * 3', { faults: { inf: ['m * 3'] } })]);
    const got = await collect(b, 2);
    for (const id of ['r:nan', 'r:inf']) {
      const e = got.get(id)!;
      assertEnvelopeShape(e);
      assert.equal(e.status, 'error');
      assert.equal(e.reward, 0);
      assert.match(e.error ?? '', /non-finite reward/);
    }
    for (const e of got.values()) assertAllNumbersFinite(e, e.jobId);
  }));

  test(`${name}: a rule that always crashes its worker is retried once, then recorded as crashed; others go on`, () => withBackend(async (b) => {
    const faults = { crash: ['sqrt(g)'] };
    await b.submit([fakeJob('c:0', 'sqrt(g)', { faults }), fakeJob('c:1', 'g', { faults }), fakeJob('c:2', 'm', { faults })]);
    const got = await collect(b, 3);
    const crashed = got.get('c:0')!;
    assertEnvelopeShape(crashed);
    assert.equal(crashed.status, 'crashed');
    assert.equal(crashed.reward, 0);
    assert.equal(crashed.attempt, 2);
    assert.match(crashed.error ?? '', /SIGSEGV/);
    assert.equal(got.get('c:1')!.status, 'ok');
    assert.equal(got.get('c:2')!.status, 'ok');
    // The pool is still usable after its workers died.
    await b.submit([fakeJob('c:3', 'v')]);
    assert.equal((await b.next()).status, 'ok');
  }));

  test(`${name}: a crash on the first attempt only is retried and succeeds`, () => withBackend(async (b) => {
    await b.submit([fakeJob('o:0', 'g * m', { faults: { crashOnce: ['g * m'] } })]);
    const e = await b.next();
    assert.equal(e.status, 'ok');
    assert.equal(e.attempt, 2);
    assert.equal(e.reward, fakeReward('g * m', 7));
  }));

  test(`${name}: a hung job is killed at the time limit and recorded as timeout`, () => withBackend(async (b) => {
    await b.submit([fakeJob('h:0', 'log(g)', { faults: { hang: ['log(g)'] } }), fakeJob('h:1', 'g')]);
    const got = await collect(b, 2);
    assert.equal(got.get('h:0')!.status, 'timeout');
    assert.equal(got.get('h:0')!.reward, 0);
    assert.equal(got.get('h:0')!.attempt, 1);
    assert.equal(got.get('h:1')!.status, 'ok');
  }));

  test(`${name}: a job that exhausts memory is killed and recorded as oom`, () => withBackend(async (b) => {
    await b.submit([fakeJob('m:0', 'exp(g)', { faults: { oomHeap: ['exp(g)'] } }), fakeJob('m:1', 'exp(m)', { faults: { oomRss: ['exp(m)'] } })]);
    const got = await collect(b, 2);
    for (const id of ['m:0', 'm:1']) {
      assert.equal(got.get(id)!.status, 'oom', `${id}: ${JSON.stringify(got.get(id))}`);
      assert.equal(got.get(id)!.reward, 0);
    }
  }, { timeoutMs: 60_000, maxRssMb: 256 })); // a long time limit: only memory may stop these, however loaded the machine

  test(`${name}: a job made for other versions is refused with version-mismatch`, () => withBackend(async (b) => {
    const job = fakeJob('v:0', 'g');
    job.versions = { compiler: KERNEL_ABI_VERSION + 1000, protocol: FAKE_PROTOCOL_VERSION };
    await b.submit([job]);
    const e = await b.next();
    assert.equal(e.status, 'version-mismatch');
    assert.equal(e.reward, 0);
  }));

  test(`${name}: kill -9 of a worker in the middle of a job: the job is re-run and the rest finish`, () => withBackend(async (b) => {
    const pidDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-pids-'));
    try {
      const jobs = [fakeJob('k:0', 'g * v', { sleepMs: 800, pidDir }), fakeJob('k:1', 'm', { pidDir }), fakeJob('k:2', 'v', { pidDir })];
      await b.submit(jobs);
      const pidFile = path.join(pidDir, 'k_0.pid');
      while (!fs.existsSync(pidFile) || fs.readFileSync(pidFile, 'utf8') === '') await new Promise((r) => setTimeout(r, 20));
      const pid = Number(fs.readFileSync(pidFile, 'utf8'));
      process.kill(pid, 'SIGKILL');
      const got = await collect(b, 3);
      const killed = got.get('k:0')!;
      assert.equal(killed.status, 'ok');
      assert.equal(killed.attempt, 2);
      assert.equal(killed.reward, fakeReward('g * v', 7));
      assert.equal(got.get('k:1')!.status, 'ok');
      assert.equal(got.get('k:2')!.status, 'ok');
    } finally {
      fs.rmSync(pidDir, { recursive: true, force: true });
    }
  }));
}
