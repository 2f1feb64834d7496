// --resume trusts the ledger: a checkpoint that is ahead of it, missing, damaged or foreign is rebuilt from it, and
// the finished search equals one never interrupted; records that contradict each other are named by line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readCheckpoint } from '../../src/search/checkpoint';
import { readLedger, type LedgerRecord } from '../../src/search/ledger';
import { InputError } from '../../src/errors';
import { readLedgerState } from '../../src/search/resume';
import { runSearch, type SearchEvent } from '../../src/search/search-loop';
import { fakeConfig, ORDERED, standInDeps } from './fixtures/stand-ins';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'nos-resume-'));
}

function resultSet(dir: string): string[] {
  const records = readLedger(path.join(dir, 'ledger.jsonl')).records;
  const results = records.filter((r): r is Extract<LedgerRecord, { type: 'result' }> => r.type === 'result');
  assert.equal(new Set(results.map((r) => r.index)).size, results.length, 'a candidate has two results');
  return results.map((r) => `${r.index}|${r.envelope.reward}|${r.envelope.status}`).sort();
}

// Its ledger (one worker: always the same): 1 start, 2 batch 0, 3-5 results, 6 batch 1, 7-9 results, 10 update 0,
// 11-12 results, 13 batch 2, 14-16 results, 17 update 1, 18-21 results, 22 update 2, 23 finish.
const config = fakeConfig({ budget: 15, seed: 3, ...ORDERED }, { sleepMs: 0 });
let reference: string | null = null;
/** One finished search: the reference every resumed one must equal, and the folder the damaged copies start from. */
async function referenceRun(): Promise<string> {
  if (!reference) {
    reference = tempDir();
    await runSearch({ outDir: reference, config, deps: standInDeps });
  }
  return reference;
}

/** A copy of the finished search whose ledger is cut after its `keep`-th line (the records after it never happened). */
async function searchCutAfter(keep: number): Promise<string> {
  const dir = tempDir();
  fs.cpSync(await referenceRun(), dir, { recursive: true });
  const file = path.join(dir, 'ledger.jsonl');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').split('\n').slice(0, keep).join('\n') + '\n');
  return dir;
}

async function resume(dir: string): Promise<{ notes: string[]; summary: Awaited<ReturnType<typeof runSearch>> }> {
  const notes: string[] = [];
  const summary = await runSearch({ outDir: dir, resume: true, deps: standInDeps, onEvent: (e: SearchEvent) => { if (e.type === 'note') notes.push(e.message); } });
  return { notes, summary };
}

test('resume: a checkpoint that claims more batches fed back than the ledger holds does not skip the missing rules', async () => {
  const ref = await referenceRun();
  // The ledger through update 0 (batches 0 and 1 proposed, 0 fed back); the checkpoint is the finished search's.
  const dir = await searchCutAfter(10);
  assert.equal(readCheckpoint(dir)!.events, 6);
  const { notes, summary } = await resume(dir);
  assert.match(notes.join('\n'), /checkpoint.json reflects 6 proposals and feedbacks, the ledger holds 3; the ledger is the record, so the strategy is rebuilt by replaying its 2 batches/);
  assert.equal(summary.results, 15, 'every sampled rule was trained');
  assert.deepEqual(resultSet(dir), resultSet(ref));
  assert.deepEqual(readCheckpoint(dir)!.strategyState, readCheckpoint(ref)!.strategyState);
  assert.equal(readLedger(path.join(dir, 'ledger.jsonl')).records.filter((r) => r.type === 'update').length, 3);
});

test('resume: a checkpoint ahead only in feedback is caught too (same proposals, one update missing)', async () => {
  const ref = await referenceRun();
  const dir = await searchCutAfter(16); // through batch 1's results: its update record is gone
  const checkpoint = readCheckpoint(dir)!;
  fs.writeFileSync(path.join(dir, 'checkpoint.json'), JSON.stringify({ ...checkpoint, events: 5 }));
  const { notes } = await resume(dir);
  assert.match(notes.join('\n'), /checkpoint.json reflects 5 proposals and feedbacks, the ledger holds 4/);
  assert.deepEqual(resultSet(dir), resultSet(ref));
  assert.deepEqual(readCheckpoint(dir)!.strategyState, readCheckpoint(ref)!.strategyState);
});

test('resume: a missing, damaged or foreign checkpoint is rebuilt from the ledger', async () => {
  const ref = await referenceRun();
  const damage: Array<[string, (file: string) => void, RegExp]> = [
    ['missing', (file) => fs.rmSync(file), /there is no checkpoint.json/],
    ['written short', (file) => fs.writeFileSync(file, fs.readFileSync(file, 'utf8').slice(0, 40)), /checkpoint.json: not valid JSON/],
    ['null', (file) => fs.writeFileSync(file, 'null'), /checkpoint\.json: holds null, not a checkpoint object/],
    ['foreign', (file) => fs.writeFileSync(file, JSON.stringify({ ...readCheckpoint(path.dirname(file)), runId: 'another-run' })), /belongs to run another-run/],
    ['a state the strategy refuses', (file) => fs.writeFileSync(file, JSON.stringify({ ...readCheckpoint(path.dirname(file)), events: 2, strategyState: { rng: 1, fed: 'x' } })), /map is not a function/],
  ];
  for (const [what, spoil, note] of damage) {
    const dir = await searchCutAfter(12); // batch 1 proposed, some of its results recorded, batch 0 fed back
    spoil(path.join(dir, 'checkpoint.json'));
    const { notes, summary } = await resume(dir);
    assert.match(notes.join('\n'), note, what);
    assert.equal(summary.results, 15, what);
    assert.deepEqual(resultSet(dir), resultSet(ref), what);
    assert.deepEqual(readCheckpoint(dir)!.strategyState, readCheckpoint(ref)!.strategyState, what);
  }
});

test('resume: a torn last line is cut with a note; no resume of a ledger that never started', async () => {
  const dir = await searchCutAfter(12);
  fs.appendFileSync(path.join(dir, 'ledger.jsonl'), '{"type":"result","ti');
  const { notes, summary } = await resume(dir);
  assert.match(notes.join('\n'), /ended in a line cut short by a crash \(20 bytes\); removed it/);
  assert.equal(summary.results, 15);
  const empty = tempDir();
  fs.writeFileSync(path.join(empty, 'ledger.jsonl'), '');
  await assert.rejects(resume(empty), /its ledger is empty: the search never started/);
});

test('resume: a start record removed or edited from outside is bad input (exit 2) naming the line, not a crash', async () => {
  const edit = async (change: (lines: string[]) => string[]) => {
    const dir = await searchCutAfter(12);
    const file = path.join(dir, 'ledger.jsonl');
    fs.writeFileSync(file, change(fs.readFileSync(file, 'utf8').trimEnd().split('\n')).join('\n') + '\n');
    return { dir, file };
  };
  const headless = await edit((lines) => lines.slice(1));
  await assert.rejects(resume(headless.dir), (e: Error) => e instanceof InputError
    && e.message.startsWith(`${headless.file} line 1: the first record must be the search's start record, found a 'batch' record;`));
  const bogus = await edit(([start, ...rest]) => [JSON.stringify({ ...JSON.parse(start), config: { ...JSON.parse(start).config, strategy: 'bogus' } }), ...rest]);
  await assert.rejects(resume(bogus.dir), (e: Error) => e instanceof InputError
    && e.message.includes(`${bogus.file} line 1: the start record's search config: strategy must be one of`) && /restore its start record to resume/.test(e.message));
  // A protocol no job could run: named at once, not as every job's error.
  const lame = await edit(([start, ...rest]) => [JSON.stringify({ ...JSON.parse(start), config: { ...JSON.parse(start).config, protocol: { name: 'fake', sleepMs: 'x' } } }), ...rest]);
  await assert.rejects(resume(lame.dir), (e: Error) => e instanceof InputError
    && e.message.includes(`${lame.file} line 1: the start record's protocol: sleepMs must be a number`));
});

test('readLedgerState: records that contradict the ones before them are named by file and line', () => {
  const start: LedgerRecord = { type: 'start', time: 't', runId: 'r', config: {} };
  const batch = (b: number, first: number): LedgerRecord => ({ type: 'batch', time: 't', batch: b,
    candidates: [0, 1].map((k) => ({ index: first + k, id: `r:${first + k}`, tokens: ['g'], meta: null, rule: 'g', hash: 'h', bytesPerParam: 0 })) });
  const result = (b: number, index: number): LedgerRecord => ({ type: 'result', time: 't', batch: b, index,
    envelope: { jobId: `r:${index}`, status: 'ok', reward: 0.5, bestLr: null, timings: { queuedMs: 0, runMs: 0 }, attempt: 1, worker: 'w' } });
  const read = (records: LedgerRecord[]) => readLedgerState(records, records.map((_, i) => i + 1), 'L');
  // A ledger that contradicts itself was changed from outside: bad input (exit 2), named by file and line.
  assert.throws(() => read([start, batch(1, 0)]), (e: Error) => e instanceof InputError && e.message === 'L line 2: batch 1 follows batch -1');
  assert.throws(() => read([start, batch(0, 1)]), /L line 2: batch 0 candidate 1 out of order \(expected 0\)/);
  assert.throws(() => read([start, result(0, 0)]), /L line 2: a result for batch 0 comes before that batch/);
  assert.throws(() => read([start, batch(0, 0), result(0, 5)]), /L line 3: batch 0 has no candidate 5/);
  // Batches are fed back as they complete, in any order: the events say in which.
  const unordered = read([start, batch(0, 0), batch(1, 2), { type: 'update', time: 't', batch: 1, rewards: [0, 0] }]);
  assert.deepEqual(unordered.events.map((e) => `${e.kind} ${e.batch}`), ['propose 0', 'propose 1', 'feed 1']);
  assert.equal(unordered.batches[1].updated && !unordered.batches[0].updated, true);
  assert.throws(() => read([start, batch(0, 0), { type: 'update', time: 't', batch: 0, rewards: [0] }]), /L line 3: 1 rewards for the 2 candidates of batch 0/);
  const state = read([start, batch(0, 0), result(0, 0), result(0, 0), { type: 'update', time: 't', batch: 0, rewards: [0.5, 0] }, batch(1, 2)]);
  assert.equal(state.results.length, 1, 'a repeated result counts once');
  assert.equal(state.batchesFed, 1);
  assert.equal(state.candidatesProposed, 4);
});
