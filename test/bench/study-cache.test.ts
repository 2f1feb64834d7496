// The study's shared trainer (bench/study): equal jobs train once, later ones come from the cache file, a torn last
// line is cut off, and only deterministic outcomes are kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Backend, Envelope, Job } from '../../src/search/backend';
import { jobKey, ResultCache } from '../../bench/study/result-cache';
import { SharedTrainer } from '../../bench/study/shared-backend';

/** A pool that "trains" by returning a reward from the rule's length, counting each training. */
class CountingPool implements Backend {
  trained: string[] = [];
  private queue: Envelope[] = [];
  async submit(jobs: Job[]): Promise<void> {
    for (const j of jobs) {
      this.trained.push(j.rule);
      const status = j.rule.includes('crash') ? 'crashed' : 'ok';
      this.queue.push({ jobId: j.id, status, reward: status === 'ok' ? j.rule.length / 100 : 0, bestLr: 0.1, timings: { queuedMs: 0, runMs: 5 }, attempt: 1, worker: 'counting' });
    }
  }
  async next(): Promise<Envelope> {
    await new Promise((r) => setImmediate(r));
    const e = this.queue.shift();
    if (!e) throw new Error('nothing pending');
    return e;
  }
  pending(): number { return this.queue.length; }
  async close(): Promise<void> {}
}

const job = (id: string, rule: string, seed = 1): Job => ({
  id, rule, seed, protocol: { name: 'fake' }, data: {}, device: 'cpu', versions: { compiler: 1, protocol: 1 },
});

async function drain(b: Backend, count: number): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for (let i = 0; i < count; i++) out.push(await b.next());
  return out;
}

test('the key covers everything but the job id', () => {
  assert.equal(jobKey(job('a', 'g')), jobKey(job('b', 'g')));
  assert.notEqual(jobKey(job('a', 'g')), jobKey(job('a', 'g', 2)));
  assert.notEqual(jobKey(job('a', 'g')), jobKey({ ...job('a', 'g'), versions: { compiler: 2, protocol: 1 } }));
  assert.notEqual(jobKey(job('a', 'g')), jobKey({ ...job('a', 'g'), protocol: { name: 'fake', sleepMs: 1 } }));
});

test('equal jobs from two searches train once; a new trainer over the same file trains nothing again', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-study-'));
  const file = path.join(dir, 'cache.jsonl');
  try {
    const pool = new CountingPool();
    const trainer = new SharedTrainer(pool, new ResultCache(file));
    const a = trainer.view();
    const b = trainer.view();
    await a.submit([job('a:0', 'g*m'), job('a:1', 'sign(g)'), job('a:2', 'crash(g)')]);
    await b.submit([job('b:0', 'g*m'), job('b:1', 'm')]);
    const [fromA, fromB] = await Promise.all([drain(a, 3), drain(b, 2)]);
    assert.deepEqual(pool.trained.sort(), ['crash(g)', 'g*m', 'm', 'sign(g)']);
    assert.deepEqual(fromA.map((e) => e.jobId).sort(), ['a:0', 'a:1', 'a:2']);
    assert.deepEqual(fromB.map((e) => e.jobId).sort(), ['b:0', 'b:1']);
    assert.equal(fromB.find((e) => e.jobId === 'b:0')!.reward, 0.03);
    assert.equal(trainer.stats.joined, 1);
    await trainer.close();

    const again = new CountingPool();
    const second = new SharedTrainer(again, new ResultCache(file));
    const c = second.view();
    await c.submit([job('c:0', 'g*m'), job('c:1', 'crash(g)'), job('c:2', 'g*m', 2)]);
    const fromC = await drain(c, 3);
    assert.deepEqual(again.trained.sort(), ['crash(g)', 'g*m'], 'the crash and the other seed train; the rest comes from the file');
    const cached = fromC.find((e) => e.jobId === 'c:0')!;
    assert.equal(cached.reward, 0.03);
    assert.match(cached.worker, /^study-cache \(trained by counting\)$/);
    assert.equal(second.stats.fromCache, 1);
    await second.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a torn last line is cut off; a damaged line before it is an error naming it', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-study-'));
  const file = path.join(dir, 'cache.jsonl');
  try {
    const cache = new ResultCache(file);
    assert.ok(cache.put(job('x', 'g'), { jobId: 'x', status: 'ok', reward: 0.5, bestLr: 0.1, timings: { queuedMs: 0, runMs: 1 }, attempt: 1, worker: 'w' }));
    assert.ok(!cache.put(job('y', 'm'), { jobId: 'y', status: 'timeout', reward: 0, bestLr: null, timings: { queuedMs: 0, runMs: 1 }, attempt: 1, worker: 'w' }));
    cache.close();
    const whole = fs.readFileSync(file, 'utf8');
    fs.appendFileSync(file, '{"key":"abc","envel');
    const reopened = new ResultCache(file);
    assert.equal(reopened.size, 1);
    reopened.close();
    assert.equal(fs.readFileSync(file, 'utf8'), whole);
    fs.writeFileSync(file, 'garbage\n' + whole);
    assert.throws(() => new ResultCache(file), /cache\.jsonl: line 1 is not a cache entry/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
