// The funnel in the loop (fake training, whose screen is worth 0.9 of the full reward): every rule is screened, the
// best go on to the full protocol, the rest keep a screened reward; the leaderboard ranks full-fidelity rewards only;
// a stopped search resumes to the same ledger.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fakeReward } from '../../src/search/fake-evaluator';
import { PROMOTE_WARMUP, screenedReward } from '../../src/search/fidelity';
import { readLedger, type LedgerRecord } from '../../src/search/ledger';
import { buildReport } from '../../src/search/report';
import { runSearch } from '../../src/search/search-loop';
import { fakeConfig, ORDERED, standInDeps, TINY_SPACE } from './fixtures/stand-ins';

type ResultRecord = Extract<LedgerRecord, { type: 'result' }>;
type ScreenRecord = Extract<LedgerRecord, { type: 'screen' }>;

const space = { ...TINY_SPACE, operands: ['g', 'm', 'v', 'w'], unary: ['id', 'neg', 'exp', 'sqrt'], binary: ['add', 'mul', 'sub', 'div'] };
const config = fakeConfig({ budget: 30, seed: 8, fidelity: 'funnel', space, ...ORDERED }, { sleepMs: 0 });

function ledger(dir: string) {
  const records = readLedger(path.join(dir, 'ledger.jsonl')).records;
  const rules = new Map(records.filter((r) => r.type === 'batch').flatMap((b) => (b as { candidates: Array<{ index: number; rule: string }> }).candidates).map((c) => [c.index, c.rule]));
  const results = records.filter((r): r is ResultRecord => r.type === 'result');
  const screens = records.filter((r): r is ScreenRecord => r.type === 'screen');
  return { records, rules, results, screens };
}

test('funnel: screened first; the top goes on with its screen recorded; the rest keep half the screen reward', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-funnel-'));
  await runSearch({ outDir: dir, config, deps: standInDeps });
  const { rules, results, screens } = ledger(dir);
  assert.equal(results.length, 30);
  const own = results.filter((r) => r.reusedFrom === undefined);
  const promoted = own.filter((r) => r.fidelity === 'full');
  const stopped = own.filter((r) => r.fidelity === 'screen');
  assert.equal(promoted.length + stopped.length, own.length, 'every trained rule has a fidelity');
  assert.ok(promoted.length >= PROMOTE_WARMUP && stopped.length > 3, `${promoted.length} promoted, ${stopped.length} stopped`);
  assert.deepEqual(screens.map((s) => s.index).sort((a, b) => a - b), promoted.map((r) => r.index).sort((a, b) => a - b));
  for (const r of promoted) {
    const full = fakeReward(rules.get(r.index)!, config.seed);
    assert.equal(r.envelope.reward, full);
    assert.equal(r.screenReward, full * 0.9);
    assert.equal(r.envelope.jobId, `${screens[0].envelope.jobId.split(':')[0]}:${r.index}:full`);
  }
  for (const r of stopped) {
    const screen = fakeReward(rules.get(r.index)!, config.seed) * 0.9;
    assert.equal(r.screenReward, screen);
    assert.equal(r.envelope.reward, screenedReward(screen));
  }
  // The screens that went on after the warm-up beat those that stopped after them.
  const report = buildReport(dir);
  assert.equal(report.statusCounts['screened-out'], results.filter((r) => r.fidelity === 'screen').length);
  assert.deepEqual(report.leaderboard.map((e) => e.rule).sort(), [...new Set(promoted.map((r) => rules.get(r.index)!))].sort(), 'only full-fidelity rules are ranked');
  assert.equal(report.leaderboard[0].reward, Math.max(...promoted.map((r) => r.envelope.reward!)));
});

test('funnel: a search stopped between a promotion and its full result resumes to the same ledger as one never stopped', async () => {
  const reference = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-funnel-'));
  await runSearch({ outDir: reference, config, deps: standInDeps });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-funnel-'));
  const controller = new AbortController();
  // Stop once, after the warm-up, while a promoted rule waits for its full result.
  const waiting = () => {
    const { screens, results } = ledger(dir);
    const finished = new Set(results.map((r) => r.index));
    return screens.some((s) => s.index > 10 && !finished.has(s.index));
  };
  const first = await runSearch({ outDir: dir, config, deps: standInDeps, signal: controller.signal,
    onEvent: (e) => { if (e.type === 'result' && !controller.signal.aborted && waiting()) controller.abort(); } });
  assert.equal(first.stopped, true);
  const stoppedAt = ledger(dir);
  const finished = new Set(stoppedAt.results.map((r) => r.index));
  assert.ok(stoppedAt.screens.some((s) => !finished.has(s.index)), 'a promoted rule was waiting for its full result when the search stopped');
  await runSearch({ outDir: dir, resume: true, deps: standInDeps });
  const strip = (rs: ResultRecord[]) => rs.map((r) => `${r.index}|${r.envelope.reward}|${r.fidelity}|${r.screenReward}|${r.reusedFrom}`).sort();
  assert.deepEqual(strip(ledger(dir).results), strip(ledger(reference).results));
  assert.deepEqual(ledger(dir).screens.map((s) => s.index), ledger(reference).screens.map((s) => s.index));
});
