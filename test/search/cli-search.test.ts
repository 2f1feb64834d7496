// `nos search` and `nos report` end to end (real controller and compiler, fake evaluator): output, exit codes, kill -9 + --resume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readCheckpoint } from '../../src/search/checkpoint';
import { readLedger, type LedgerRecord } from '../../src/search/ledger';
import { VERDICT_STATUSES } from '../../src/search/backend';

const NOS = path.join(__dirname, '..', '..', 'src', 'cli', 'nos' + path.extname(__filename));
const EXEC_ARGV = __filename.endsWith('.ts') ? ['--import', 'tsx'] : [];

interface Run { code: number | null; stdout: string; stderr: string }

function nos(args: string[]): { done: Promise<Run>; kill: () => void; interrupt: () => void; terminate: () => void } {
  // Its own process group, so interrupt() can deliver SIGINT to the search and its workers at once, like Ctrl-C.
  const child = spawn(process.execPath, [...EXEC_ARGV, NOS, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const done = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { done, kill: () => child.kill('SIGKILL'), interrupt: () => process.kill(-child.pid!, 'SIGINT'), terminate: () => process.kill(-child.pid!, 'SIGTERM') };
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'nos-cli-'));
}

function fakeProtocolFile(sleepMs: number): string {
  const file = path.join(tempDir(), 'fake-protocol.json');
  fs.writeFileSync(file, JSON.stringify({ name: 'fake', sleepMs }));
  return file;
}

/** (candidate index, canonical rule, reward, status) of every result, sorted by index; fails on a repeated index. */
function resultSet(dir: string): string[] {
  const records = readLedger(path.join(dir, 'ledger.jsonl')).records;
  const candidates = records.flatMap((r) => (r.type === 'batch' ? r.candidates : []));
  const results = records.filter((r): r is Extract<LedgerRecord, { type: 'result' }> => r.type === 'result');
  assert.equal(new Set(results.map((r) => r.index)).size, results.length, 'a candidate has two results');
  return results.sort((a, b) => a.index - b.index)
    .map((r) => `${r.index}|${candidates[r.index].rule}|${r.envelope.reward}|${r.envelope.status}`);
}

async function waitForResults(ledger: string, count: number, exited: () => boolean): Promise<void> {
  while (!(fs.existsSync(ledger) && readLedger(ledger).records.filter((r) => r.type === 'result').length >= count)) {
    assert.equal(exited(), false, `the search ended before ${count} results`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('nos search: a short fake search prints its leaderboard and writes the folder; nos report reprints it', async () => {
  const out = path.join(tempDir(), 'run');
  // Every rule trained to full fidelity (no hurdle refusal, no funnel screen), so all 10 are ranked and confirmed.
  const run = await nos(['search', '--protocol', 'fake', '--budget', '10', '--strategy', 'random', '--workers', '2', '--seed', '3',
    '--no-hurdles', '--no-fec', '--fidelity', 'full', '--out', out, '--no-progress']).done;
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /10 of 10 sampled rules finished/);
  assert.match(run.stdout, /rank\s+reward\s+best lr\s+bytes\/param\s+rule/);
  // Where a found rule goes next: the command that exports it.
  assert.ok(run.stdout.includes(`the best rule as an optimizer: nos export --from ${out} --to pytorch (or tfjs; --rank K for another)\n`), run.stdout);
  assert.ok(run.stdout.includes(`do the best rules transfer: nos transfer --from ${out} (the top 3 against sgd, momentum, adam, rmsprop; --quick for a first look)\n`), run.stdout);
  for (const f of ['ledger.jsonl', 'checkpoint.json', 'config.json', 'leaderboard.md', 'leaderboard.json', 'rewards.svg']) {
    assert.ok(fs.existsSync(path.join(out, f)), `${f} missing`);
  }
  const top = JSON.parse(fs.readFileSync(path.join(out, 'leaderboard.json'), 'utf8')).leaderboard[0];
  fs.rmSync(path.join(out, 'rewards.svg'));
  const report = await nos(['report', out, '--top', '3']).done;
  assert.equal(report.code, 0, report.stderr);
  assert.ok(report.stdout.includes(top.rule));
  // nos search confirms the top rules by default: the confirmed ranking, then the search seed's own, 3 rows each.
  assert.match(report.stdout, /confirmed: 10 top rules trained again with seeds 4 and 5/);
  const [confirmed, alone] = report.stdout.split('the search seed alone:');
  assert.equal(confirmed.trim().split('\n').length, 2 + 1 + 1 + 3); // summary and a blank line, the title, header, rows
  assert.equal(alone.trim().split('\n').length, 1 + 3);
  assert.ok(fs.existsSync(path.join(out, 'rewards.svg')), 'report redraws the plot');
});

test('nos search: bad input exits 2 with a message naming the problem', async () => {
  const dir = tempDir();
  const brokenSpace = path.join(dir, 'broken-space.json');
  fs.writeFileSync(brokenSpace, JSON.stringify({ name: 'broken', operands: ['g', 'nonsense'], unary: ['id'], binary: ['add'], depth: 1 }));
  const space = await nos(['search', '--protocol', 'fake', '--space', brokenSpace, '--out', path.join(dir, 'a'), '--no-progress']).done;
  assert.equal(space.code, 2);
  assert.ok(space.stderr.includes('broken-space.json'), space.stderr);
  assert.match(space.stderr, /\/operands/);
  const notJson = path.join(dir, 'not-json.json');
  fs.writeFileSync(notJson, '{ "name": "x", ');
  const parse = await nos(['search', '--protocol', 'fake', '--space', notJson, '--out', path.join(dir, 'b'), '--no-progress']).done;
  assert.equal(parse.code, 2);
  assert.match(parse.stderr, /not valid JSON/);
  const budget = await nos(['search', '--budget', 'zero']).done;
  assert.equal(budget.code, 2);
  assert.match(budget.stderr, /--budget must be an integer >= 1, got "zero"/);
  const strategy = await nos(['search', '--protocol', 'fake', '--strategy', 'annealing', '--out', path.join(dir, 'c')]).done;
  assert.equal(strategy.code, 2);
  assert.match(strategy.stderr, /--strategy must be one of ppo, random, evolution/);
  const resume = await nos(['search', '--resume', '--out', path.join(dir, 'nothing-here')]).done;
  assert.equal(resume.code, 2);
  assert.match(resume.stderr, /holds no search/);
  const emptyData = fs.mkdtempSync(path.join(dir, 'data-'));
  const data = await nos(['search', '--protocol', 'quick', '--data', emptyData, '--out', path.join(dir, 'd'), '--no-progress']).done;
  assert.equal(data.code, 2);
  assert.match(data.stderr, /no training data/);
  assert.ok(!fs.existsSync(path.join(dir, 'd', 'ledger.jsonl')), 'no search is started on bad data');
  const report = await nos(['report', dir]).done;
  assert.equal(report.code, 2);
  assert.match(report.stderr, /not a search folder/);
});

test('nos search: kill -9 of the search (PPO) and --resume give the same ledger and controller state as an uninterrupted run', async () => {
  const protocol = fakeProtocolFile(25);
  // One worker returns results in queue order, so the asynchronous loop (3 in flight) is deterministic.
  const common = ['search', '--protocol', protocol, '--budget', '20', '--strategy', 'ppo', '--space', 'small', '--seed', '9', '--workers', '1', '--in-flight', '3', '--no-progress'];
  const reference = path.join(tempDir(), 'ref');
  assert.equal((await nos([...common, '--out', reference]).done).code, 0);

  const out = path.join(tempDir(), 'killed');
  const first = nos([...common, '--out', out]);
  const ledger = path.join(out, 'ledger.jsonl');
  let exited = false;
  void first.done.then(() => { exited = true; });
  await waitForResults(ledger, 7, () => exited);
  first.kill();
  await first.done;
  const resumed = await nos(['search', '--resume', '--out', out, '--no-progress']).done;
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.deepEqual(resultSet(out), resultSet(reference));
  assert.deepEqual(readCheckpoint(out)!.strategyState, readCheckpoint(reference)!.strategyState);
});

test('nos search: Ctrl-C stops cleanly (exit 130, no result recorded as crashed), and --resume completes the search', async () => {
  const protocol = fakeProtocolFile(150);
  const out = path.join(tempDir(), 'interrupted');
  const run = nos(['search', '--protocol', protocol, '--budget', '15', '--strategy', 'random', '--space', 'small', '--seed', '4', '--workers', '2', '--out', out, '--no-progress']);
  let exited = false;
  void run.done.then(() => { exited = true; });
  const ledger = path.join(out, 'ledger.jsonl');
  await waitForResults(ledger, 3, () => exited);
  run.interrupt();
  const stopped = await run.done;
  assert.equal(stopped.code, 130, stopped.stderr);
  assert.match(stopped.stdout, /stopped early; continue with: nos search --resume --out/);
  assert.equal((stopped.stdout + stopped.stderr).split('continue with').length, 2, 'how to continue is said once');
  const records = readLedger(ledger).records;
  assert.equal(records.at(-1)!.type, 'stop');
  const results = records.filter((r): r is Extract<LedgerRecord, { type: 'result' }> => r.type === 'result');
  assert.ok(results.length < 15);
  assert.ok(results.every((r) => VERDICT_STATUSES.has(r.envelope.status)), 'Ctrl-C must not be recorded as a failed rule');
  const resumed = await nos(['search', '--resume', '--out', out, '--no-progress']).done;
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(resultSet(out).length, 15);
});

test('nos search: SIGTERM to the process group stops as cleanly as Ctrl-C (exit 143, a stop record, no crashed result)', async () => {
  const protocol = fakeProtocolFile(150);
  const out = path.join(tempDir(), 'terminated');
  const run = nos(['search', '--protocol', protocol, '--budget', '15', '--strategy', 'random', '--space', 'small', '--seed', '4', '--workers', '2', '--out', out, '--no-progress']);
  let exited = false;
  void run.done.then(() => { exited = true; });
  const ledger = path.join(out, 'ledger.jsonl');
  await waitForResults(ledger, 3, () => exited);
  run.terminate();
  const stopped = await run.done;
  assert.equal(stopped.code, 143, stopped.stderr);
  assert.match(stopped.stdout, /stopped early; continue with: nos search --resume --out/);
  const records = readLedger(ledger).records;
  assert.equal(records.at(-1)!.type, 'stop');
  const results = records.filter((r): r is Extract<LedgerRecord, { type: 'result' }> => r.type === 'result');
  assert.ok(results.length < 15);
  assert.ok(results.every((r) => VERDICT_STATUSES.has(r.envelope.status)), 'SIGTERM must not be recorded as a failed rule');
});
