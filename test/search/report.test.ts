// The report: leaderboard from a real (fake-evaluator) search, files written, SVG well formed, plot helpers exact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildReport, formatLeaderboard, writeReport } from '../../src/search/report';
import { movingAverage, niceTicks, renderRewardSvg, runningBest } from '../../src/search/reward-plot';
import { runSearch } from '../../src/search/search-loop';
import { fakeConfig, standInDeps } from './fixtures/stand-ins';
import { fakeReward } from '../../src/search/fake-evaluator';

test('report: leaderboard holds each ok rule once, best first, with its reward and state bytes', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-report-'));
  await runSearch({ outDir: dir, config: fakeConfig({ budget: 20 }, { faults: { crash: ['neg(v)'] } }), deps: standInDeps });
  const report = writeReport(dir);
  assert.equal(report.proposed, 20);
  assert.equal(report.finished, 20);
  assert.equal(report.state, 'finished');
  const rules = report.leaderboard.map((e) => e.rule);
  assert.equal(new Set(rules).size, rules.length);
  for (let i = 1; i < report.leaderboard.length; i++) assert.ok(report.leaderboard[i - 1].reward >= report.leaderboard[i].reward);
  for (const e of report.leaderboard) {
    assert.equal(e.reward, fakeReward(e.rule, 11));
    assert.ok(!e.rule.includes('neg(v)'));
    assert.equal(e.bytesPerParam, 4 * ['m', 'v'].filter((s) => e.rule.includes(s)).length);
  }
  assert.equal(Object.values(report.statusCounts).reduce((a, b) => a + b, 0), 20);
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'leaderboard.json'), 'utf8'));
  assert.deepEqual(json.leaderboard, report.leaderboard);
  const md = fs.readFileSync(path.join(dir, 'leaderboard.md'), 'utf8');
  assert.ok(md.includes(`\`${report.leaderboard[0].rule}\``));
  const svg = fs.readFileSync(path.join(dir, 'rewards.svg'), 'utf8');
  assert.equal((svg.match(/<circle /g) ?? []).length, 20);
  assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>\n$/);
  const text = formatLeaderboard(report, 3);
  assert.equal(text.trim().split('\n').length, 2 + 1 + Math.min(3, report.leaderboard.length));
  assert.ok(text.includes(report.leaderboard[0].rule));
  assert.deepEqual(buildReport(dir), report);
});

test('report: with no rule ok, the table says the most common failure and its error', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-report-'));
  try {
    await runSearch({ outDir: dir, config: fakeConfig({ budget: 5 }, { faults: { throw: [''] } }), deps: standInDeps });
    const text = formatLeaderboard(buildReport(dir));
    assert.match(text, /\(no rule finished with status ok yet\)\nmost common failure: error \(5 of 5\), e\.g\. rule 1: .*fake evaluator: asked to throw for rule /);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('report: results for rules no batch proposed (a ledger edited from outside) are left out with a warning per line', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-report-'));
  try {
    await runSearch({ outDir: dir, config: fakeConfig({ budget: 10 }), deps: standInDeps });
    const file = path.join(dir, 'ledger.jsonl');
    const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    const firstBatch = lines.findIndex((l) => JSON.parse(l).type === 'batch');
    // The first batch's line removed: its five results now name rules no batch proposed.
    fs.writeFileSync(file, [...lines.slice(0, firstBatch), ...lines.slice(firstBatch + 1)].join('\n') + '\n');
    const report = buildReport(dir);
    assert.equal(report.proposed, 5);
    assert.equal(report.finished, 5, 'finished never exceeds proposed');
    // Two workers: the five results come in any order; each is named once.
    const named = report.problems.map((p) => /ledger\.jsonl line \d+: a result for rule (\d+), which no batch before it proposed$/.exec(p)?.[1]);
    assert.deepEqual(named.map(Number).sort(), [0, 1, 2, 3, 4], report.problems.join('\n'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('report: a folder without a search is a clear error', () => {
  assert.throws(() => buildReport(fs.mkdtempSync(path.join(os.tmpdir(), 'nos-report-'))), /no search here/);
});

test('reward plot: running best, moving average and ticks', () => {
  const pts = [0.2, 0.5, 0.1, 0.7, 0.3].map((reward, i) => ({ x: i + 1, reward, ok: true }));
  assert.deepEqual(runningBest(pts), [0.2, 0.5, 0.5, 0.7, 0.7]);
  assert.deepEqual(movingAverage([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5]);
  assert.deepEqual(niceTicks(1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(45, 8), [0, 10, 20, 30, 40]);
  const svg = renderRewardSvg([], { title: 'a < b' });
  assert.ok(svg.includes('a &lt; b') && svg.includes('no results yet'));
});

test('reward plot: a search of one or two rules has whole-number ticks on the rules axis', () => {
  for (const points of [[{ x: 1, reward: 0.3, ok: true }], [{ x: 1, reward: 0.3, ok: true }, { x: 2, reward: 0, ok: false }]]) {
    const svg = renderRewardSvg(points);
    const xTicks = [...svg.matchAll(/y="388" text-anchor="middle">([^<]+)</g)].map((m) => Number(m[1]));
    assert.ok(xTicks.length >= 3, svg);
    assert.ok(xTicks.every((t) => Number.isInteger(t)), `ticks ${xTicks}`);
    assert.ok(xTicks.at(-1)! >= points.length);
  }
});
