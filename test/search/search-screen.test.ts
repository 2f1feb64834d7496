// The loop with the hurdles and the equivalence cache on (real compiler, fake training): refusals are recorded with
// their status at the floor reward, equivalent spellings reuse a result and name the rule they matched, and a resumed
// search rebuilds the cache from the ledger.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readLedger, type LedgerRecord } from '../../src/search/ledger';
import { buildReport, formatLeaderboard } from '../../src/search/report';
import { identifyWithCompiler } from '../../src/search/rule-identity';
import { runSearch } from '../../src/search/search-loop';
import { fakeConfig, ORDERED } from './fixtures/stand-ins';

type ResultRecord = Extract<LedgerRecord, { type: 'result' }>;

const PROPOSALS = [
  ['g', 'g', 'id', 'id', 'keep'], // g: trained
  ['g2', 'sign_g', 'sqrt', 'id', 'mul'], // sign(g)*sqrt(g2): the same function as g
  ['g', 'sign_g', 'id', 'id', 'mul', 'o1', 'sign_g', 'id', 'id', 'mul'], // g*sign(g)*sign(g): the same again
  ['ld', 'ld', 'id', 'id', 'keep'], // ld: reads no gradient
  ['g', 'g', 'neg', 'id', 'keep'], // -g: ascends
  ['m', '2', 'id', 'id', 'mul'], // 2*m: trained
  ['g', '1', 'neg', 'id', 'keep'], // -g again (same canonical rule): reuses the refusal
  ['g', 'sign_g', 'id', 'id', 'mul', 'o1', 'sign_g', 'neg', 'id', 'mul'], // -g*sign(g)*sign(g): equivalent to -g
  ['g', 'g', 'log', 'id', 'keep', 'o1', 'sign_g', 'exp', 'id', 'mul'], // exp(log(g))*sign(g): g, after a resume
];

function fixedList() {
  let next = 0;
  return {
    kind: 'random' as const, batchSize: 4,
    propose: (count: number) => PROPOSALS.slice(next, (next += count)).map((tokens) => ({ tokens, meta: null })),
    feedback: () => undefined, saveState: () => ({ next }), loadState: (s: unknown) => { next = (s as { next: number }).next; },
  };
}

test('search with hurdles and the equivalence cache: refusals, reuse by equivalence, and the cache rebuilt on resume', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-screen-'));
  const deps = { makeStrategy: fixedList, identify: identifyWithCompiler };
  const config = fakeConfig({ budget: 8, batchSize: 4, hurdles: true, fec: true, ...ORDERED }, { sleepMs: 0 });
  await runSearch({ outDir: dir, config, deps });
  await runSearch({ outDir: dir, resume: true, overrides: { budget: 9 }, deps });
  const records = readLedger(path.join(dir, 'ledger.jsonl')).records;
  const results = new Map(records.filter((r): r is ResultRecord => r.type === 'result').map((r) => [r.index, r]));
  assert.equal(results.size, 9);
  const status = (i: number) => results.get(i)!.envelope.status;
  const trained = [...results.values()].filter((r) => r.reusedFrom === undefined && !['hurdle', 'compiler'].includes(r.envelope.worker));
  assert.deepEqual(trained.map((r) => r.index), [0, 5], 'only g and 2*m were trained');

  assert.equal(status(3), 'no-gradient');
  assert.equal(status(4), 'no-descent');
  for (const i of [3, 4]) {
    assert.equal(results.get(i)!.envelope.reward, 0);
    assert.equal(results.get(i)!.envelope.worker, 'hurdle');
  }
  assert.match(results.get(4)!.envelope.error!, /lowered the loss of no probe problem/);
  // Same canonical rule: reused without naming an equivalent.
  assert.equal(results.get(6)!.reusedFrom, 4);
  assert.equal(results.get(6)!.equivalentTo, undefined);
  // Same function: reused, and the ledger names the rule it matched.
  for (const [i, from, rule] of [[1, 0, 'g'], [2, 0, 'g'], [7, 4, '-g'], [8, 0, 'g']] as const) {
    assert.equal(results.get(i)!.reusedFrom, from, `candidate ${i}`);
    assert.equal(results.get(i)!.equivalentTo, rule, `candidate ${i}`);
    assert.deepEqual(results.get(i)!.envelope, results.get(from)!.envelope);
  }

  const report = buildReport(dir);
  assert.equal(report.statusCounts['no-gradient'], 1);
  assert.equal(report.statusCounts['no-descent'], 3);
  assert.equal(report.equivalent, 4);
  assert.deepEqual(report.leaderboard.map((e) => [e.rule, e.timesSampled]), [['2*m', 1], ['g', 4]].sort((a, b) => {
    const reward = (rule: unknown) => report.rows.find((r) => r.rule === rule)!.reward;
    return reward(b[0]) - reward(a[0]);
  }));
  const text = formatLeaderboard(report);
  assert.match(text, /9 of 9 sampled rules finished \(4 distinct, 5 reused results, 4 of them from an equivalent rule\)/);
  assert.match(text, /no-descent 3/);
  assert.match(text, /no-gradient 1/);
});
