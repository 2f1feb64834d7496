// The confirmation step (--confirm K): the top K rules trained again with two more seeds, recorded in the ledger,
// ranked by the mean; it resumes with only what is missing, and a finished search can be confirmed later.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { confirmSeeds, rankConfirmed, type ConfirmRecord } from '../../src/search/confirm';
import { fakeReward } from '../../src/search/fake-evaluator';
import { readLedger } from '../../src/search/ledger';
import { ledgerRecordProblem } from '../../src/search/record-validation';
import { buildReport, formatLeaderboard, leaderboardMarkdown, type LeaderboardEntry } from '../../src/search/report';
import { runSearch } from '../../src/search/search-loop';
import { fakeConfig, ORDERED, standInDeps } from './fixtures/stand-ins';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'nos-confirm-'));
}

function confirmsOf(dir: string): ConfirmRecord[] {
  return readLedger(path.join(dir, 'ledger.jsonl')).records.filter((r): r is ConfirmRecord => r.type === 'confirm');
}

const entry = (rank: number, rule: string, reward: number): LeaderboardEntry => ({
  rank, rule, reward, bestLr: 0.1, bytesPerParam: 0, firstIndex: rank, timesSampled: 1, hash: `h-${rule}`, tokens: [],
});
const run = (rule: string, seed: number, reward: number, status = 'ok'): ConfirmRecord => ({
  type: 'confirm', time: 't', rule, hash: `h-${rule}`, seed,
  envelope: { jobId: `j-${rule}-${seed}`, status: status as 'ok', reward, bestLr: status === 'ok' ? 0.1 : null, timings: { queuedMs: 0, runMs: 1 }, attempt: 1, worker: 'w' },
});

test('confirmation seeds follow the search seed (and wrap at 2^32)', () => {
  assert.deepEqual(confirmSeeds(1), [2, 3]);
  assert.deepEqual(confirmSeeds(0xffffffff), [0, 1]);
});

test('the confirmed ranking: the mean over three seeds, a failed run counting 0, rules without every run left out', () => {
  const board = [entry(1, 'a', 0.9), entry(2, 'b', 0.85), entry(3, 'c', 0.8)];
  const records = [run('a', 8, 0.5), run('a', 9, 0, 'diverged'), run('b', 8, 0.84), run('b', 9, 0.86), run('c', 8, 0.79)];
  const ranked = rankConfirmed(board, records, 7);
  assert.deepEqual(ranked.map((e) => [e.rank, e.rule, e.searchRank]), [[1, 'b', 2], [2, 'a', 1]]);
  assert.deepEqual(ranked[0].rewards, [0.85, 0.84, 0.86]);
  assert.deepEqual(ranked[0].seeds, [7, 8, 9]);
  assert.ok(Math.abs(ranked[0].mean - 0.85) < 1e-12);
  assert.ok(Math.abs(ranked[0].sd - 0.01) < 1e-12);
  assert.deepEqual(ranked[1].rewards, [0.9, 0.5, 0]);
  assert.deepEqual(ranked[1].statuses, ['ok', 'diverged']);
  assert.equal(ranked[1].min, 0);
});

test('a search with confirm K trains its top K with two more seeds, records them, and the report ranks them by the mean', async () => {
  const dir = tempDir();
  try {
    const events: number[] = [];
    await runSearch({ outDir: dir, config: fakeConfig({ budget: 12, confirm: 3, ...ORDERED }), deps: standInDeps,
      onEvent: (e) => { if (e.type === 'confirm') events.push(e.done); } });
    const report = buildReport(dir);
    const top = report.leaderboard.slice(0, 3);
    const confirms = confirmsOf(dir);
    assert.equal(confirms.length, 6);
    assert.deepEqual(events, [0, 1, 2, 3, 4, 5, 6]);
    for (const c of confirms) {
      assert.ok(top.some((e) => e.hash === c.hash && e.rule === c.rule), `${c.rule} is one of the top 3`);
      assert.ok(c.seed === 12 || c.seed === 13, `seed ${c.seed}`);
      assert.equal(c.envelope.reward, fakeReward(c.rule, c.seed), 'trained with the confirmation seed');
    }
    const records = readLedger(path.join(dir, 'ledger.jsonl')).records;
    assert.equal(records.at(-1)!.type, 'finish', 'the search finishes after its confirmation runs');
    assert.equal(report.confirmed.length, 3);
    for (let i = 1; i < 3; i++) assert.ok(report.confirmed[i - 1].mean >= report.confirmed[i].mean);
    for (const c of report.confirmed) {
      assert.deepEqual(c.rewards, [c.seeds[0], ...c.seeds.slice(1)].map((s) => fakeReward(c.rule, s)));
    }
    assert.match(formatLeaderboard(report), /confirmed: 3 top rules trained again with seeds 12 and 13 besides the search's seed 11, ranked by the mean of 3 seeds:\nrank +mean +sd +min +max +seed 11 +seed 12 +seed 13 +search rank +rule\n/);
    assert.match(leaderboardMarkdown(report), /## Confirmed: 3 top rules[^\n]*\n\n\| rank \| mean \| sd \| min \| max \| seed 11 \| seed 12 \| seed 13 \|/);
    assert.match(leaderboardMarkdown(report), /## The search seed alone/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('stopped during the confirmation runs, a resume trains only the missing ones; a larger --confirm on resume adds the rest', async () => {
  const dir = tempDir();
  try {
    const controller = new AbortController();
    const first = await runSearch({ outDir: dir, config: fakeConfig({ budget: 12, confirm: 3, ...ORDERED }, { sleepMs: 20 }), deps: standInDeps,
      signal: controller.signal, onEvent: (e) => { if (e.type === 'confirm' && e.done === 2) controller.abort(); } });
    assert.equal(first.stopped, true);
    const before = confirmsOf(dir);
    assert.ok(before.length >= 2 && before.length < 6, `${before.length} confirmation runs before the stop`);
    await runSearch({ outDir: dir, resume: true, deps: standInDeps });
    const after = confirmsOf(dir);
    assert.equal(after.length, 6);
    assert.deepEqual(after.slice(0, before.length), before);
    assert.equal(buildReport(dir).state, 'finished');

    // Confirming more rules later trains only the new ones.
    await runSearch({ outDir: dir, resume: true, overrides: { confirm: 4 }, deps: standInDeps });
    const more = confirmsOf(dir);
    assert.equal(more.length, 8);
    assert.equal(new Set(more.map((c) => `${c.hash}:${c.seed}`)).size, 8, 'no confirmation run twice');
    assert.equal(buildReport(dir).confirmed.length, 4);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a confirm record is checked like any ledger record', () => {
  assert.equal(ledgerRecordProblem(run('a', 2, 0.5)), null);
  assert.match(ledgerRecordProblem({ ...run('a', 2, 0.5), seed: -1 })!, /^confirm record: seed /);
  assert.match(ledgerRecordProblem({ ...run('a', 2, 0.5, 'diverged'), envelope: { ...run('a', 2, 0.5).envelope, status: 'diverged' } })!, /^confirm record: envelope\.reward is 0\.5 but envelope\.status is "diverged"/);
});
