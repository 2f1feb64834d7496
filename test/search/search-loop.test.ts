// The search loop with the fake evaluator and local stand-ins: bookkeeping, duplicates, faults, stop and resume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readCheckpoint } from '../../src/search/checkpoint';
import { fakeReward } from '../../src/search/fake-evaluator';
import { readLedger, type LedgerRecord } from '../../src/search/ledger';
import { runSearch, redactQueueUrl } from '../../src/search/search-loop';
import { createLocalBackend } from '../../src/search/pool-local';
import { identifyWithCompiler } from '../../src/search/rule-identity';
import { fakeConfig, ORDERED, standInDeps, standInIdentify, StandInStrategy, TINY_SPACE } from './fixtures/stand-ins';
import { readLedgerState, replayEvents } from '../../src/search/resume';
import type { Backend } from '../../src/search/backend';
import { assertAllNumbersFinite } from './backend-conformance';

type ResultRecord = Extract<LedgerRecord, { type: 'result' }>;
type BatchRecord = Extract<LedgerRecord, { type: 'batch' }>;

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'nos-search-'));
}

function ledgerOf(dir: string) {
  const records = readLedger(path.join(dir, 'ledger.jsonl')).records;
  const candidates = records.filter((r): r is BatchRecord => r.type === 'batch').flatMap((b) => b.candidates);
  const results = records.filter((r): r is ResultRecord => r.type === 'result');
  return { records, candidates, results };
}

/** The search's outcome as a set: one line per candidate with its rule, reward and status (sorted by index). */
function resultSet(dir: string): string[] {
  const { candidates, results } = ledgerOf(dir);
  const indices = results.map((r) => r.index);
  assert.equal(new Set(indices).size, indices.length, 'a candidate has two results in the ledger');
  return results.map((r) => {
    const c = candidates.find((x) => x.index === r.index)!;
    return `${r.index}|${c.rule}|${r.envelope.reward}|${r.envelope.status}`;
  }).sort((a, b) => Number(a.split('|')[0]) - Number(b.split('|')[0]));
}

function fedRewards(dir: string): number[][] {
  return (readCheckpoint(dir)!.strategyState as { fed: number[][] }).fed;
}

type UpdateRecord = Extract<LedgerRecord, { type: 'update' }>;

/** The update records in ledger order: one per batch, with the rewards the batch's results hold. */
function checkUpdates(dir: string): UpdateRecord[] {
  const { records, results } = ledgerOf(dir);
  const updates = records.filter((r): r is UpdateRecord => r.type === 'update');
  const batches = records.filter((r): r is BatchRecord => r.type === 'batch');
  assert.deepEqual(updates.map((u) => u.batch).sort((a, b) => a - b), batches.map((b) => b.batch), 'each batch fed back exactly once');
  const byIndex = new Map(results.map((r) => [r.index, r.envelope.reward]));
  for (const u of updates) assert.deepEqual(u.rewards, batches[u.batch].candidates.map((c) => byIndex.get(c.index)), `batch ${u.batch} fed its own rewards`);
  return updates;
}

test('search: every sampled rule gets one recorded result; each distinct canonical rule is trained once', async () => {
  const dir = tempDir();
  const summary = await runSearch({ outDir: dir, config: fakeConfig({ budget: 30 }), deps: standInDeps });
  assert.equal(summary.stopped, false);
  assert.equal(summary.candidates, 30);
  const { records, candidates, results } = ledgerOf(dir);
  assert.equal(candidates.length, 30);
  assert.equal(results.length, 30);
  assert.equal(records.filter((r) => r.type === 'update').length, 6);
  assert.equal(records.at(-1)!.type, 'finish');
  const trained = results.filter((r) => r.reusedFrom === undefined);
  const distinctRules = new Set(candidates.map((c) => c.hash));
  assert.equal(trained.length, distinctRules.size, 'one training per distinct canonical rule');
  assert.ok(trained.length < 30, 'the tiny space must produce duplicates for this test to mean something');
  for (const r of results) {
    const c = candidates.find((x) => x.index === r.index)!;
    assert.equal(r.envelope.status, 'ok');
    assert.equal(r.envelope.reward, fakeReward(c.rule!, 11));
    if (r.reusedFrom !== undefined) {
      const source = candidates.find((x) => x.index === r.reusedFrom)!;
      assert.equal(source.hash, c.hash);
      assert.ok(r.reusedFrom < r.index);
    }
  }
  // The strategy was fed each batch once, as it completed, with the recorded rewards.
  const updates = checkUpdates(dir);
  assert.deepEqual(fedRewards(dir), updates.map((u) => u.rewards));
  assert.equal(summary.best!.reward, Math.max(...results.map((r) => r.envelope.reward!)));
  assert.equal(readCheckpoint(dir)!.events, 12);
});

test('search: crashing rules, NaN and infinite rewards and rules that do not compile are recorded; the search completes', async () => {
  const dir = tempDir();
  const identify = (tokens: string[]) => {
    if (tokens[0] === 'v' && tokens[1] === 'v') throw new Error('stand-in compiler: v v is rejected');
    return standInIdentify(tokens);
  };
  const config = fakeConfig({ budget: 25 }, { faults: { crash: ['neg(g)'], nan: ['neg(m)'], inf: ['m * v'] } });
  const summary = await runSearch({ outDir: dir, config, deps: { ...standInDeps, identify } });
  const { candidates, results } = ledgerOf(dir);
  assert.equal(results.length, 25);
  const statusOf = (pred: (rule: string | null) => boolean) => results.filter((r) => pred(candidates[r.index].rule)).map((r) => r.envelope.status);
  const crashed = statusOf((rule) => !!rule?.includes('neg(g)'));
  const nan = statusOf((rule) => !!rule?.includes('neg(m)') && !rule.includes('neg(g)'));
  const uncompiled = statusOf((rule) => rule === null);
  assert.ok(crashed.length > 0 && nan.length > 0 && uncompiled.length > 0, 'seed 11 must hit every fault');
  assert.ok(crashed.every((s) => s === 'crashed'));
  assert.ok(nan.every((s) => s === 'error'));
  assert.ok(uncompiled.every((s) => s === 'error'));
  for (const r of results) {
    assertAllNumbersFinite(r, `result ${r.index}`);
    if (r.envelope.status !== 'ok') assert.equal(r.envelope.reward, 0);
  }
  for (const c of candidates.filter((x) => x.rule === null)) assert.match(c.compileError!, /v v is rejected/);
  for (const r of results) assert.equal(typeof r.envelope.reward, 'number', `result ${r.index}: reward must be a number, not ${r.envelope.reward}`);
  assert.ok((summary.statusCounts.crashed ?? 0) > 0);
});

test('search: a folder that already holds a search is refused without --resume; --resume needs a search', async () => {
  const dir = tempDir();
  await runSearch({ outDir: dir, config: fakeConfig({ budget: 5 }), deps: standInDeps });
  await assert.rejects(runSearch({ outDir: dir, config: fakeConfig({ budget: 5 }), deps: standInDeps }), /already holds a search/);
  await assert.rejects(runSearch({ outDir: tempDir(), resume: true, deps: standInDeps }), /holds no search/);
  const unmade = path.join(tempDir(), 'never-made');
  await assert.rejects(runSearch({ outDir: unmade, config: fakeConfig({ budget: 0 }), deps: standInDeps }), /budget must be an integer >= 1/);
  assert.ok(!fs.existsSync(unmade), 'a bad config leaves no folder behind');
  await assert.rejects(runSearch({ outDir: dir, resume: true, overrides: { budget: 3 }, deps: standInDeps }), /less than the 5 rules/);
});

test('search: stopping (Ctrl-C) keeps every finished result; --resume finishes with the same results and strategy state', async () => {
  const reference = tempDir();
  await runSearch({ outDir: reference, config: fakeConfig({ budget: 20, ...ORDERED }, { sleepMs: 20 }), deps: standInDeps });

  const dir = tempDir();
  const controller = new AbortController();
  let seen = 0;
  const first = await runSearch({ outDir: dir, config: fakeConfig({ budget: 20, ...ORDERED }, { sleepMs: 20 }), deps: standInDeps, signal: controller.signal,
    onEvent: (e) => { if (e.type === 'result' && ++seen === 7) controller.abort(); } });
  assert.equal(first.stopped, true);
  assert.ok(first.results >= 7 && first.results < 20);
  assert.equal(ledgerOf(dir).records.at(-1)!.type, 'stop');
  const resumed = await runSearch({ outDir: dir, resume: true, deps: standInDeps });
  assert.equal(resumed.stopped, false);
  assert.deepEqual(resultSet(dir), resultSet(reference));
  assert.deepEqual(fedRewards(dir), fedRewards(reference));
});

test('search: a budget and confirmation count changed on --resume hold for the resumes after it', async () => {
  const dir = tempDir();
  await runSearch({ outDir: dir, config: fakeConfig({ budget: 10, ...ORDERED }, { sleepMs: 1 }), deps: standInDeps });
  // --resume --budget 20 --confirm 2, stopped halfway; then a plain --resume (what the stop line says to run).
  const controller = new AbortController();
  let seen = 0;
  const stopped = await runSearch({ outDir: dir, resume: true, overrides: { budget: 20, confirm: 2 }, deps: standInDeps, signal: controller.signal,
    onEvent: (e) => { if (e.type === 'result' && ++seen === 3) controller.abort(); } });
  assert.equal(stopped.stopped, true);
  assert.ok(stopped.results < 20);
  const resumed = await runSearch({ outDir: dir, resume: true, deps: standInDeps });
  assert.equal(resumed.candidates, 20, 'the budget of the resume before');
  assert.equal(resumed.results, 20);
  const confirmed = new Set(ledgerOf(dir).records.filter((r) => r.type === 'confirm').map((r) => (r as { rule: string }).rule));
  assert.equal(confirmed.size, 2, 'the confirmation count of the resume before');
  const settings = ledgerOf(dir).records.filter((r) => r.type === 'resume').map((r) => (r as { settings?: object }).settings);
  assert.deepEqual(settings, [{ budget: 20, confirm: 2 }, { budget: 20, confirm: 2 }]);
});

test('search: a stop asked from a timer or a signal is seen while every sampled rule is a duplicate (nothing to train)', async () => {
  // Once the tiny space's rules are all trained, every batch settles at once from earlier results: the sampling loop
  // must still let timers and signal handlers run (it spun until the budget was spent, deaf to Ctrl-C).
  const dir = tempDir();
  const controller = new AbortController();
  let results = 0;
  const summary = await runSearch({ outDir: dir, config: fakeConfig({ budget: 1000, workers: 1 }, { sleepMs: 1 }), deps: standInDeps, signal: controller.signal,
    onEvent: (e) => { if (e.type === 'result' && ++results === 200) setTimeout(() => controller.abort(), 0); } });
  assert.equal(summary.stopped, true, 'the stop was not seen');
  assert.ok(summary.results < 400, `${summary.results} results`);
  assert.equal(ledgerOf(dir).records.at(-1)!.type, 'stop');
});

function runChild(args: object): { done: Promise<number | null>; kill: () => void } {
  const script = path.join(__dirname, 'fixtures', 'search-child' + path.extname(__filename));
  const execArgv = __filename.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child = spawn(process.execPath, [...execArgv, script, JSON.stringify(args)], { stdio: ['ignore', 'ignore', 'inherit'] });
  const done = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { done, kill: () => child.kill('SIGKILL') };
}

async function waitForResults(dir: string, count: number, exited: Promise<unknown>): Promise<void> {
  let finished = false;
  void exited.then(() => { finished = true; });
  for (;;) {
    if (finished) throw new Error(`the search process exited before ${count} results`);
    const file = path.join(dir, 'ledger.jsonl');
    if (fs.existsSync(file) && readLedger(file).records.filter((r) => r.type === 'result').length >= count) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('search: kill -9 of the search process (twice, plus a torn ledger line), then --resume, equals an uninterrupted run', async () => {
  const config = fakeConfig({ budget: 25, seed: 5, ...ORDERED }, { sleepMs: 15 });
  const reference = tempDir();
  await runSearch({ outDir: reference, config, deps: standInDeps });

  const dir = tempDir();
  const first = runChild({ outDir: dir, resume: false, config });
  await waitForResults(dir, 4, first.done);
  first.kill();
  await first.done;
  fs.appendFileSync(path.join(dir, 'ledger.jsonl'), '{"type":"result","time":"x","batch":1,"ind'); // a write cut short

  const second = runChild({ outDir: dir, resume: true });
  await waitForResults(dir, 13, second.done);
  second.kill();
  await second.done;

  const third = runChild({ outDir: dir, resume: true });
  assert.equal(await third.done, 0);
  assert.deepEqual(resultSet(dir), resultSet(reference));
  assert.deepEqual(fedRewards(dir), fedRewards(reference));
  assert.equal(checkUpdates(dir).length, 5);
});

test('search: with the real compiler, two spellings of one rule are trained once and the second reuses the result', async () => {
  const proposals = [
    ['g', 'm', 'id', 'id', 'mul'], ['m', 'g', 'id', 'id', 'mul'], // g*m twice
    ['sign_g', 'sign_m', 'id', 'id', 'mul'], ['g', 'g', 'sign', 'id', 'keep'], // sign(g)*sign(m); sign(g)
    ['g', 'zzz', 'id', 'id', 'mul'], // does not compile
  ];
  let call = 0;
  const fixed = {
    kind: 'random' as const, batchSize: 5,
    propose: (count: number) => proposals.slice(call, (call += count)).map((tokens) => ({ tokens, meta: null })),
    feedback: () => undefined, saveState: () => ({ call }), loadState: (s: unknown) => { call = (s as { call: number }).call; },
  };
  const dir = tempDir();
  await runSearch({ outDir: dir, config: fakeConfig({ budget: 5 }), deps: { makeStrategy: () => fixed, identify: identifyWithCompiler } });
  const { candidates, results } = ledgerOf(dir);
  assert.equal(candidates[0].hash, candidates[1].hash);
  assert.notEqual(candidates[2].hash, candidates[3].hash);
  const byIndex = new Map(results.map((r) => [r.index, r]));
  assert.equal(byIndex.get(1)!.reusedFrom, 0);
  assert.equal(byIndex.get(1)!.envelope.reward, byIndex.get(0)!.envelope.reward);
  assert.equal(results.filter((r) => r.reusedFrom === undefined && r.envelope.worker !== 'compiler').length, 3);
  assert.equal(candidates[4].rule, null);
  assert.equal(byIndex.get(4)!.envelope.status, 'error');
  assert.match(byIndex.get(4)!.envelope.error!, /does not compile/);
});

test('search: kill -9 of a worker in the middle of a job: the job is re-run, the search completes with every result', async () => {
  const pidDir = tempDir();
  const dir = tempDir();
  let killed = 0;
  const watcher = setInterval(() => {
    if (killed > 0) return;
    const file = fs.readdirSync(pidDir).find((f) => f.endsWith('.pid'));
    const text = file ? fs.readFileSync(path.join(pidDir, file), 'utf8') : '';
    if (text) { process.kill(Number(text), 'SIGKILL'); killed = Number(text); }
  }, 5);
  try {
    await runSearch({ outDir: dir, config: fakeConfig({ budget: 10 }, { sleepMs: 200, pidDir }), deps: standInDeps });
  } finally {
    clearInterval(watcher);
  }
  assert.ok(killed > 0, 'a worker was killed');
  const { results } = ledgerOf(dir);
  assert.equal(results.length, 10);
  assert.ok(results.every((r) => r.envelope.status === 'ok'));
  const retried = results.filter((r) => r.envelope.attempt === 2 && r.reusedFrom === undefined);
  assert.equal(retried.length, 1, `exactly the killed job ran twice: ${JSON.stringify(results.map((r) => [r.index, r.envelope.attempt, r.envelope.worker]))}`);
  assert.notEqual(retried[0].envelope.worker, `local:1:pid${killed}`);
  assert.notEqual(retried[0].envelope.worker, `local:2:pid${killed}`);
});

test('search: a crash between a ledger record and the checkpoint (after a proposal, or after a feedback) resumes exactly', async () => {
  const config = fakeConfig({ budget: 20, seed: 21, ...ORDERED });
  const reference = tempDir();
  await runSearch({ outDir: reference, config, deps: standInDeps });
  // saveState() runs once at the start, then after each proposal and each feedback (each already in the ledger):
  // failing call k crashes right after the ledger's (k-1)-th strategy event.
  const lastTypes = new Set<string>();
  for (const failingCall of [3, 4, 6]) { // after proposal 1, after feedback 0, after proposal 3 (see the ledger order)
    const dir = tempDir();
    let calls = 0;
    const crashing = {
      ...standInDeps,
      makeStrategy: (kind: string, space: typeof config.space, seed: number) => {
        const s = standInDeps.makeStrategy(kind, space, seed);
        const save = s.saveState.bind(s);
        s.saveState = () => { if (++calls === failingCall) throw new Error('simulated crash'); return save(); };
        return s;
      },
    };
    await assert.rejects(runSearch({ outDir: dir, config, deps: crashing }), /simulated crash/);
    const last = ledgerOf(dir).records.at(-1)!.type;
    assert.ok(last === 'batch' || last === 'update', `the crash follows a strategy event, not ${last}`);
    lastTypes.add(last);
    await runSearch({ outDir: dir, resume: true, deps: standInDeps });
    assert.deepEqual(resultSet(dir), resultSet(reference), `failing call ${failingCall}`);
    assert.deepEqual(fedRewards(dir), fedRewards(reference), `failing call ${failingCall}`);
    assert.equal(checkUpdates(dir).length, 4, 'one update record per batch');
  }
  assert.deepEqual([...lastTypes].sort(), ['batch', 'update'], 'both kinds of crash were tried');
});

test('search: a folder in use by a live search is refused; a lock left by a dead process is taken over', async () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'search.lock'), String(process.pid)); // a live process holds it
  await assert.rejects(runSearch({ outDir: dir, config: fakeConfig({ budget: 5 }), deps: standInDeps }), new RegExp(`another nos process \\(pid ${process.pid}\\) is using this folder`));
  assert.ok(!fs.existsSync(path.join(dir, 'ledger.jsonl')));
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  fs.writeFileSync(path.join(dir, 'search.lock'), dead.stdout); // its process has exited
  await runSearch({ outDir: dir, config: fakeConfig({ budget: 5 }), deps: standInDeps });
  assert.equal(ledgerOf(dir).results.length, 5);
  assert.ok(!fs.existsSync(path.join(dir, 'search.lock')), 'the lock is released at the end');
});

test('search: resuming on other compiler or protocol versions says so', async () => {
  const dir = tempDir();
  await runSearch({ outDir: dir, config: fakeConfig({ budget: 5 }), deps: standInDeps });
  const file = path.join(dir, 'ledger.jsonl');
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const start = JSON.parse(lines[0]);
  assert.deepEqual(Object.keys(start.versions), ['compiler', 'protocol']);
  start.versions.compiler += 1000;
  fs.writeFileSync(file, [JSON.stringify(start), ...lines.slice(1)].join('\n'));
  const notes: string[] = [];
  await runSearch({ outDir: dir, resume: true, overrides: { budget: 10 }, deps: standInDeps, onEvent: (e) => { if (e.type === 'note') notes.push(e.message); } });
  assert.equal(notes.length, 1);
  assert.match(notes[0], /started with compiler version \d+ .* this build has/);
  assert.equal(ledgerOf(dir).results.length, 10);
});

test('search: a queue password never reaches the folder; --resume takes the full URL again and checks it', async () => {
  assert.equal(redactQueueUrl('redis://:s3cret@host:6379/2'), 'redis://:***@host:6379/2');
  assert.equal(redactQueueUrl('redis://user:s3cret@host:6379'), 'redis://user:***@host:6379');
  assert.equal(redactQueueUrl('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');

  const seen: string[] = [];
  const makeBackend = (config: { queue?: string; workers: number; limits: { timeoutMs: number; maxRssMb: number } }) => {
    seen.push(config.queue ?? '');
    return createLocalBackend({ workers: config.workers, limits: config.limits });
  };
  const dir = tempDir();
  const url = 'redis://:s3cret@127.0.0.1:6399/1';
  await runSearch({ outDir: dir, config: fakeConfig({ budget: 5, queue: url }), deps: { ...standInDeps, makeBackend } });
  assert.equal(seen[0], url, 'the running search uses the full URL');
  for (const file of fs.readdirSync(dir)) {
    assert.ok(!fs.readFileSync(path.join(dir, file), 'utf8').includes('s3cret'), `${file} holds no password`);
  }
  await assert.rejects(runSearch({ outDir: dir, resume: true, deps: { ...standInDeps, makeBackend } }), /give its full URL again with --queue/);
  await assert.rejects(runSearch({ outDir: dir, resume: true, overrides: { queue: 'redis://:s3cret@other:6399/1' }, deps: { ...standInDeps, makeBackend } }), /this search ran on redis:\/\/:\*\*\*@127\.0\.0\.1:6399\/1/);
  await runSearch({ outDir: dir, resume: true, overrides: { queue: url, budget: 10 }, deps: { ...standInDeps, makeBackend } });
  assert.equal(seen[seen.length - 1], url);
});

/** The local pool, counting the most trainings it held at once; `hint` is its inFlightHint when given. */
function countingBackend(hint?: number) {
  const counts = { pending: 0, most: 0 };
  const makeBackend = (config: { workers: number; limits: { timeoutMs: number; maxRssMb: number } }): Backend => {
    const pool = createLocalBackend({ workers: config.workers, limits: config.limits });
    return {
      submit: async (jobs) => { counts.pending += jobs.length; counts.most = Math.max(counts.most, counts.pending); await pool.submit(jobs); },
      next: async () => { const e = await pool.next(); counts.pending--; return e; },
      pending: () => pool.pending(), close: () => pool.close(),
      ...(hint !== undefined ? { inFlightHint: () => hint } : {}),
    };
  };
  return { counts, makeBackend };
}

// A space of many rules, so that few candidates are duplicates and nearly every one is a training.
const WIDE_SPACE = { ...TINY_SPACE, operands: ['g', 'm', 'v', 'w'], unary: ['id', 'neg', 'exp', 'sqrt'], binary: ['add', 'mul', 'sub', 'div'] };

test('search: it samples new batches while others train, keeping about --in-flight trainings queued or running', async () => {
  const dir = tempDir();
  const { counts, makeBackend } = countingBackend(20); // a given --in-flight wins over the backend's hint
  await runSearch({ outDir: dir, config: fakeConfig({ budget: 40, inFlight: 7, space: WIDE_SPACE }, { sleepMs: 30 }), deps: { ...standInDeps, makeBackend } });
  const most = counts.most;
  assert.ok(most >= 7 && most <= 7 + 4, `at most inFlight + batchSize - 1 trainings at once, and at least inFlight: ${most}`);
  const order = ledgerOf(dir).records.filter((r) => r.type === 'batch' || r.type === 'update').map((r) => `${r.type[0]}${(r as { batch: number }).batch}`);
  assert.ok(order.indexOf('b1') < order.indexOf('u0'), `batch 1 was sampled before batch 0 was fed back: ${order.join(' ')}`);
  const updates = checkUpdates(dir);
  assert.ok(updates.some((u) => (u.staleness ?? 0) > 0), 'some batch was fed back after a later one');
});

test('search: without --in-flight it keeps the backend\'s hint in flight (the GPU backends: 256 per usable GPU)', async () => {
  const { counts, makeBackend } = countingBackend(9);
  await runSearch({ outDir: tempDir(), config: fakeConfig({ budget: 40, space: WIDE_SPACE }, { sleepMs: 30 }), deps: { ...standInDeps, makeBackend } });
  assert.ok(counts.most >= 9 && counts.most <= 9 + 4, `at most hint + batchSize - 1 trainings at once, and at least the hint: ${counts.most}`);
});

test('search: the strategy state is the replay of the ledger; a resume without a checkpoint rebuilds it from the ledger', async () => {
  const dir = tempDir();
  const config = fakeConfig({ budget: 30, seed: 3, inFlight: 6 }, { sleepMs: 10 }); // two workers: results in any order
  await runSearch({ outDir: dir, config, deps: standInDeps });
  const { records } = ledgerOf(dir);
  const fresh = new StandInStrategy(config.space, config.seed);
  const events = (records: LedgerRecord[]) => readLedgerState(records, records.map((_r, i) => i + 1), 'ledger').events;
  assert.deepEqual(replayEvents(fresh, events(records), 0), [], 'every proposal comes out again as the ledger holds it');
  assert.deepEqual(fresh.saveState(), readCheckpoint(dir)!.strategyState);

  fs.rmSync(path.join(dir, 'checkpoint.json'));
  const notes: string[] = [];
  await runSearch({ outDir: dir, resume: true, overrides: { budget: 40 }, deps: standInDeps, onEvent: (e) => { if (e.type === 'note') notes.push(e.message); } });
  assert.match(notes.join('\n'), /there is no checkpoint.json; the ledger is the record, so the strategy is rebuilt by replaying/);
  const after = ledgerOf(dir).records;
  const again = new StandInStrategy(config.space, config.seed);
  assert.deepEqual(replayEvents(again, events(after), 0), []);
  assert.deepEqual(again.saveState(), readCheckpoint(dir)!.strategyState);
  assert.equal(resultSet(dir).length, 40);
  checkUpdates(dir);
});
