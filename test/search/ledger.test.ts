// The ledger: records survive as written, a torn last line is cut, an invalid complete line is reported with its field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WriteError } from '../../src/search/checked-write';
import { InputError } from '../../src/errors';
import { Ledger, LedgerDamagedError, readLedger } from '../../src/search/ledger';
import { installFullDisk } from '../support/full-disk';

function tempFile(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nos-ledger-')), 'ledger.jsonl');
}

test('ledger: appended records read back in order', () => {
  const file = tempFile();
  const ledger = Ledger.open(file);
  ledger.append({ type: 'start', time: 't0', runId: 'r', config: { a: 1 } });
  ledger.append({ type: 'update', time: 't1', batch: 0, rewards: [0.5, 0.25] });
  ledger.close();
  const { records, tornBytes } = readLedger(file);
  assert.equal(tornBytes, 0);
  assert.deepEqual(records.map((r) => r.type), ['start', 'update']);
  assert.deepEqual((records[1] as { rewards: number[] }).rewards, [0.5, 0.25]);
  assert.throws(() => ledger.append({ type: 'stop', time: 't', reason: 'x' }), /closed/);
});

test('ledger: a torn last line (crash mid-write) is skipped, then cut off when reopened for appending', () => {
  const file = tempFile();
  const ledger = Ledger.open(file);
  ledger.append({ type: 'start', time: 't0', runId: 'r', config: {} });
  ledger.close();
  fs.appendFileSync(file, '{"type":"update","time":"t1","bat');
  assert.equal(readLedger(file).records.length, 1);
  assert.ok(readLedger(file).tornBytes > 0);
  const reopened = Ledger.open(file);
  assert.equal(reopened.records.length, 1);
  reopened.append({ type: 'stop', time: 't2', reason: 'test' });
  reopened.close();
  const { records, tornBytes } = readLedger(file);
  assert.equal(tornBytes, 0);
  assert.deepEqual(records.map((r) => r.type), ['start', 'stop']);
});

test('ledger: a complete but invalid last line is reported and kept, not cut off like a torn one', () => {
  const file = tempFile();
  const text = '{"type":"start","time":"t","runId":"r","config":{}}\n{"type":"resu\n';
  fs.writeFileSync(file, text);
  const contents = readLedger(file);
  assert.equal(contents.records.length, 1);
  assert.equal(contents.tornBytes, 0);
  assert.equal(contents.problems.length, 1);
  assert.equal(contents.problems[0].line, 2);
  assert.match(contents.problems[0].problem, /not JSON/);
  assert.throws(() => Ledger.open(file), (e: Error) => e instanceof LedgerDamagedError && e.message.includes(`${file} line 2: not JSON`));
  assert.equal(fs.readFileSync(file, 'utf8'), text, 'the line is still there');
});

test('ledger: one that cannot be read (here a folder in its place) is bad input naming the file, not a raw errno', () => {
  const file = tempFile();
  fs.mkdirSync(file);
  assert.throws(() => readLedger(file), (e: Error) => e instanceof InputError && e.message === `${file}: cannot read the search's ledger: illegal operation on a directory (EISDIR)`);
});

test('ledger: a damaged line in the middle is reported with its line; the valid records around it are read', () => {
  const file = tempFile();
  fs.writeFileSync(file, '{"type":"start","time":"t","runId":"r","config":{}}\nnot json\n{"type":"stop","time":"t","reason":"x"}\n');
  const contents = readLedger(file);
  assert.deepEqual(contents.records.map((r) => r.type), ['start', 'stop']);
  assert.deepEqual(contents.lines, [1, 3]);
  assert.deepEqual(contents.problems.map((p) => p.line), [2]);
  assert.throws(() => Ledger.open(file), /line 2: not JSON .*"not json"[\s\S]*restore or remove the lines named/);
});

test('ledger: records are checked field by field; each bad one is named by line and field', () => {
  const file = tempFile();
  const envelope = { jobId: 'r:0', status: 'ok', reward: 0.5, bestLr: 0.01, timings: { queuedMs: 0, runMs: 5 }, attempt: 1, worker: 'w' };
  const lines = [
    { type: 'start', time: 't', runId: 'r', config: {} },
    { type: 'result', time: 't', batch: 0, index: 0, envelope: { ...envelope, reward: '0.9' } },
    { type: 'result', time: 't', batch: 0, index: 1, envelope: { ...envelope, reward: 7 } },
    { type: 'result', time: 't', batch: 0, index: 2, envelope: { ...envelope, timings: undefined } },
    { type: 'result', time: 't', batch: 0, index: 3 },
    { type: 'result', time: 't', batch: 0, index: 4, envelope: { ...envelope, status: 'diverged', reward: 0.8 } },
    { type: 'update', time: 't', batch: 0, rewards: [0.5, null] },
    { type: 'checkpoint', time: 't' },
    { type: 'result', time: 't', batch: 0, index: 5, envelope },
  ];
  fs.writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const { records, problems } = readLedger(file);
  assert.deepEqual(records.map((r) => r.type), ['start', 'result']);
  assert.deepEqual(problems, [
    { line: 2, problem: 'result record: envelope.reward must be a finite number or null (got "0.9")' },
    { line: 3, problem: 'result record: envelope.reward must be <= 1 (got 7)' },
    { line: 4, problem: 'result record: envelope.timings is missing' },
    { line: 5, problem: 'result record: envelope is missing' },
    { line: 6, problem: 'result record: envelope.reward is 0.8 but envelope.status is "diverged" (a failed run\'s reward is 0)' },
    { line: 7, problem: 'update record: rewards[1] must be a finite number (got null)' },
    { line: 8, problem: 'type must be one of start, resume, batch, result, screen, update, stop, finish, confirm (got "checkpoint")' },
  ]);
});

test('ledger: an append that fails on a full disk throws a WriteError and leaves the ledger as it was', () => {
  const file = tempFile();
  const ledger = Ledger.open(file);
  ledger.append({ type: 'start', time: 't0', runId: 'r', config: {} });
  const before = fs.readFileSync(file, 'utf8');
  const undo = installFullDisk({ file: 'ledger.jsonl', failAt: 1 });
  try {
    assert.throws(() => ledger.append({ type: 'stop', time: 't1', reason: 'x' }),
      (e: unknown) => e instanceof WriteError && e.message === `could not append to ${file}: no space left on device (ENOSPC)`);
  } finally {
    undo();
  }
  assert.equal(fs.readFileSync(file, 'utf8'), before, 'no part of the failed record stays');
  assert.equal(ledger.records.length, 1);
  ledger.append({ type: 'stop', time: 't2', reason: 'space again' });
  ledger.close();
  assert.deepEqual(readLedger(file).records.map((r) => r.type), ['start', 'stop']);
});

test('ledger: a missing file reads as empty', () => {
  assert.deepEqual(readLedger(path.join(os.tmpdir(), 'nos-no-such-ledger.jsonl')).records, []);
});
