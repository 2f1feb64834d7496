// A backend that hands back invalid results (a string, infinite or out-of-range reward, a missing field): each becomes
// that job's recorded error with the reason, PPO learns from the rest, and the report ranks only valid rewards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Backend, Envelope } from '../../src/search/backend';
import { readLedger, type LedgerRecord } from '../../src/search/ledger';
import { createLocalBackend } from '../../src/search/pool-local';
import { buildReport } from '../../src/search/report';
import { identifyWithCompiler } from '../../src/search/rule-identity';
import { runSearch } from '../../src/search/search-loop';
import { fakeConfig } from './fixtures/stand-ins';

/** What a buggy or hostile worker could send instead of the true envelope. */
const CORRUPTIONS: Array<[string, (e: Envelope) => unknown, RegExp]> = [
  ['a string reward', (e) => ({ ...e, reward: String(e.reward) }), /reward must be a finite number or null \(got "0\.\d+"\)/],
  ['an infinite reward', (e) => ({ ...e, reward: Infinity }), /reward must be a finite number or null \(got Infinity\)/],
  ['a reward above 1', (e) => ({ ...e, reward: 7 }), /reward must be <= 1 \(got 7\)/],
  ['no timings', (e) => ({ ...e, timings: undefined }), /timings is missing/],
  ['a failed run with a reward', (e) => ({ ...e, status: 'timeout', reward: 0.99 }), /reward is 0.99 but status is "timeout"/],
];

/** The local pool, with every other envelope corrupted in turn. */
function rogueBackend(inner: Backend): Backend & { corrupted: Map<string, RegExp> } {
  let n = 0;
  const corrupted = new Map<string, RegExp>();
  return {
    corrupted,
    submit: (jobs) => inner.submit(jobs),
    pending: () => inner.pending(),
    close: () => inner.close(),
    async next() {
      const envelope = await inner.next();
      if (n++ % 2 === 1 || corrupted.size >= CORRUPTIONS.length) return envelope;
      const [, corrupt, reason] = CORRUPTIONS[corrupted.size];
      corrupted.set(envelope.jobId, reason);
      return corrupt(envelope) as Envelope;
    },
  };
}

test('search (PPO): invalid results from a worker are recorded as that job\'s error, and the search and its report go on', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-invalid-results-'));
  let backend: ReturnType<typeof rogueBackend> | undefined;
  const summary = await runSearch({
    outDir: dir, config: fakeConfig({ budget: 20, strategy: 'ppo', strategyOptions: { batchSize: 5 } }, { sleepMs: 0 }),
    deps: { identify: identifyWithCompiler, makeBackend: (c) => (backend = rogueBackend(createLocalBackend({ workers: c.workers, limits: c.limits }))) },
  });
  assert.equal(summary.results, 20, 'every sampled rule has a result');
  assert.equal(backend!.corrupted.size, CORRUPTIONS.length, 'every corruption was sent');
  const { records, problems } = readLedger(path.join(dir, 'ledger.jsonl'));
  assert.deepEqual(problems, [], 'the ledger holds only valid records');
  const results = records.filter((r): r is Extract<LedgerRecord, { type: 'result' }> => r.type === 'result' && r.reusedFrom === undefined);
  for (const [jobId, reason] of backend!.corrupted) {
    const r = results.find((x) => x.envelope.jobId === jobId)!;
    assert.equal(r.envelope.status, 'error', jobId);
    assert.equal(r.envelope.reward, 0);
    assert.match(r.envelope.error!, /^invalid result from worker local:\d:pid\d+: /);
    assert.match(r.envelope.error!, reason);
  }
  assert.equal(records.filter((r) => r.type === 'update').length, 4, 'PPO was fed every batch');
  const report = buildReport(dir);
  assert.deepEqual(report.problems, []);
  assert.ok(report.leaderboard.every((e) => e.reward >= 0 && e.reward <= 1));
  const all = records.filter((r): r is Extract<LedgerRecord, { type: 'result' }> => r.type === 'result');
  for (const r of all.filter((x) => x.envelope.status === 'error')) {
    assert.ok(backend!.corrupted.has(r.envelope.jobId) || r.envelope.worker === 'compiler', `only the corrupted results are errors: ${JSON.stringify(r)}`);
  }
  assert.equal(report.statusCounts.error, all.filter((x) => x.envelope.status === 'error').length);
});
