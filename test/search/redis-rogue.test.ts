// Hostile parties on a real redis-server: a rogue worker's invalid results become those jobs' recorded errors (never
// another job's answer) while a PPO search completes; limits a rogue search sends never reach a job process.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker, type Job as BullJob } from 'bullmq';
import type { Envelope } from '../../src/search/backend';
import { readLedger, type LedgerRecord } from '../../src/search/ledger';
import { connectionOptions, createRedisBackend, parseRedisUrl, type QueuedJobData } from '../../src/search/queue-redis';
import { buildReport } from '../../src/search/report';
import { identifyWithCompiler } from '../../src/search/rule-identity';
import { runSearch } from '../../src/search/search-loop';
import { fakeJob } from './backend-conformance';
import { fakeConfig } from './fixtures/stand-ins';
import { findRedisServer, spawnQueueWorker, startRedisServer, type RedisServerFixture } from './redis-server-fixture';

const quiet = () => undefined;

/** What the rogue worker returns for a job, and what the search must record for it (null: the valid answer). */
const ANSWERS: Array<[string, (e: Envelope, otherId: string) => unknown, RegExp | null]> = [
  ['a valid result', (e) => e, null],
  ['a string reward', (e) => ({ ...e, reward: '0.9' }), /reward must be a finite number or null \(got "0\.9"\)/],
  ['an infinite reward (null in JSON)', (e) => ({ ...e, reward: Infinity }), /reward is null but status is "ok"/],
  ['a reward of 7', (e) => ({ ...e, reward: 7 }), /reward must be <= 1 \(got 7\)/],
  ['no timings', (e) => ({ ...e, timings: undefined }), /timings is missing/],
  ['the answer to another job', (e, otherId) => ({ ...e, jobId: otherId, reward: 0.99 }), /jobId is ".*", but this is the result of job/],
  ['not an object', () => 'garbage', /the record must be an object \(got "garbage"\)/],
];

const found = findRedisServer();
describe('with a real redis-server', { skip: found.bin ? false : found.reason }, () => {
  let server: RedisServerFixture;
  before(async () => { server = await startRedisServer(); });
  after(async () => { await server?.dispose(); });

  test('a rogue worker\'s invalid results are recorded as errors of their own jobs; the PPO search completes', { timeout: 120_000 }, async () => {
    const queueName = 'rogue';
    const answered = new Map<string, number>(); // job id -> index in ANSWERS
    const rogue = new Worker(queueName, async (bullJob: BullJob) => {
      const { job } = bullJob.data as QueuedJobData;
      const which = answered.size % ANSWERS.length;
      answered.set(job.id, which);
      const truth: Envelope = { jobId: job.id, status: 'ok', reward: 0.5, bestLr: 0.01, timings: { queuedMs: 0, runMs: 1 }, attempt: 1, worker: 'redis:rogue:1' };
      return ANSWERS[which][1](truth, `${job.id.split(':')[0]}:0`);
    }, { connection: connectionOptions(parseRedisUrl(server.url)), concurrency: 1 });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-rogue-'));
    try {
      const config = fakeConfig({ budget: 15, strategy: 'ppo', strategyOptions: { batchSize: 5 }, queue: server.url });
      const summary = await runSearch({ outDir: dir, config, deps: {
        identify: identifyWithCompiler,
        makeBackend: (c) => createRedisBackend(c.queue!, { queueName, limits: c.limits, log: quiet, sweepIntervalMs: 300 }),
      } });
      assert.equal(summary.results, 15);
      const { records, problems } = readLedger(path.join(dir, 'ledger.jsonl'));
      assert.deepEqual(problems, []);
      const trained = records.filter((r): r is Extract<LedgerRecord, { type: 'result' }> => r.type === 'result' && r.reusedFrom === undefined && r.envelope.worker !== 'compiler');
      assert.ok(new Set(trained.map((r) => answered.get(r.envelope.jobId))).size >= 6, 'most kinds of answer were sent');
      for (const r of trained) {
        const [what, , reason] = ANSWERS[answered.get(r.envelope.jobId)!];
        if (reason === null) {
          assert.equal(r.envelope.status, 'ok', what);
          assert.equal(r.envelope.reward, 0.5, what);
        } else {
          assert.equal(r.envelope.status, 'error', what);
          assert.equal(r.envelope.reward, 0, what);
          assert.match(r.envelope.error!, /^invalid result from worker (redis:rogue:1|unknown): /, what);
          assert.match(r.envelope.error!, reason, what);
        }
      }
      assert.equal(records.filter((r) => r.type === 'update').length, 3, 'PPO was fed every batch');
      assert.ok(buildReport(dir).leaderboard.every((e) => e.reward === 0.5), 'only valid rewards are ranked');
    } finally {
      await rogue.close();
    }
  });

  test('limits a search sends that cannot run are not used: the worker says so and runs the job', { timeout: 60_000 }, async () => {
    const worker = await spawnQueueWorker(server.url, ['--queue-name', 'rogue-limits']);
    const backend = await createRedisBackend(server.url, { queueName: 'rogue-limits', log: quiet, limits: { timeoutMs: 20_000, maxRssMb: 1 } });
    try {
      await backend.submit([fakeJob('limits:0', 'g')]);
      const envelope = await backend.next();
      assert.equal(envelope.status, 'ok', envelope.error); // was: the job process refused the limits, on every try
      assert.match(worker.output(), /job limits:0: the search's limits cannot run \(maxRssMb must be from 64 to 1048576 .*got 1\); using the protocol's defaults/);
    } finally {
      await backend.close();
      await worker.stop();
    }
  });
});
