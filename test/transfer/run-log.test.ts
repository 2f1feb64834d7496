// The run log: records survive reopening; a torn last line is cut away; damage elsewhere is refused; another
// process removing or replacing it, or a full disk, loses no finished run and leaves no torn line or temporary file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { removeStaleTemporaries, RUNS_FILE, RunLog, runKey, writeFileAtomic, type RunRecord } from '../../src/transfer/run-log';
import { installFullDisk } from '../support/full-disk';
import { tempDirs } from '../support/temp-dirs';

const tmp = tempDirs('nos-runlog-');

const rec = (seed: number): RunRecord => ({
  task: 'lm', optimizer: 'adam', phase: 'final', lr: 0.01, seed, fingerprint: 'abc', seconds: 2, time: 't', status: 'ok', score: 1.5, curve: [{ x: 1, value: 2 }],
});

test('records appended are found again after reopening', () => {
  const dir = tmp();
  const log = RunLog.open(dir);
  log.append(rec(0));
  log.append(rec(1));
  log.close();
  const again = RunLog.open(dir);
  assert.equal(again.records().length, 2);
  assert.deepEqual(again.get(runKey(rec(1))), rec(1));
  assert.equal(again.get(runKey({ ...rec(1), fingerprint: 'other' })), undefined);
  again.close();
});

test('a torn last line (a kill mid-write) is dropped and the file cut back, so the next append is whole', () => {
  const dir = tmp();
  const log = RunLog.open(dir);
  log.append(rec(0));
  log.close();
  fs.appendFileSync(path.join(dir, RUNS_FILE), '{"task":"lm","optim');
  const notices: string[] = [];
  const reopened = RunLog.open(dir, (m) => notices.push(m));
  assert.equal(reopened.records().length, 1);
  assert.deepEqual(notices, [`${path.join(dir, RUNS_FILE)} ended in a line cut short by a crash (19 bytes); removed it (that run trains again)`]);
  reopened.append(rec(1));
  reopened.close();
  const lines = fs.readFileSync(path.join(dir, RUNS_FILE), 'utf8').trimEnd().split('\n');
  assert.equal(lines.length, 2);
  assert.deepEqual(lines.map((l) => JSON.parse(l).seed), [0, 1]);
});

test('a timed-out run is a record when it names its limit; one that does not is damage', () => {
  const dir = tmp();
  const timedOut: RunRecord = { ...rec(0), status: 'timeout', score: null, curve: [], reason: 'limit', limitSeconds: 60 };
  const log = RunLog.open(dir);
  log.append(timedOut);
  log.close();
  const again = RunLog.open(dir);
  assert.deepEqual(again.get(runKey(timedOut)), timedOut);
  again.close();
  const { limitSeconds: _, ...unlimited } = timedOut;
  fs.writeFileSync(path.join(dir, RUNS_FILE), `${JSON.stringify(unlimited)}\n${JSON.stringify(rec(1))}\n`);
  assert.throws(() => RunLog.open(dir), /runs\.jsonl: line 1 is not a run record/);
});

test('a damaged line before the last is refused with its line number', () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, RUNS_FILE), `${JSON.stringify(rec(0))}\nnot json\n${JSON.stringify(rec(1))}\n`);
  assert.throws(() => RunLog.open(dir), /runs\.jsonl: line 2 is not a run record/);
});

test('a score no run can have is damage: negative, not finite, on a failed run, or missing on a finished one', () => {
  const dir = tmp();
  const bad: unknown[] = [
    { ...rec(0), score: -1e308 }, { ...rec(0), score: 'NaN' }, { ...rec(0), score: null },
    { ...rec(0), status: 'diverged', score: 0.5 },
  ];
  for (const record of bad) {
    fs.writeFileSync(path.join(dir, RUNS_FILE), `${JSON.stringify(record)}\n${JSON.stringify(rec(1))}\n`);
    assert.throws(() => RunLog.open(dir), /runs\.jsonl: line 1 is not a run record/, JSON.stringify(record));
  }
  fs.writeFileSync(path.join(dir, RUNS_FILE), `${JSON.stringify({ ...rec(0), status: 'diverged', score: null })}\n${JSON.stringify({ ...rec(1), score: 0 })}\n`);
  RunLog.open(dir).close();
});

// Found in review: a log removed by another process while a transfer ran took every later run with it (the appends
// went into the unlinked file, exit 0, and the next run re-ran everything).
test('a log removed by another process while open is written again with every record, on append and on ensure()', () => {
  const dir = tmp();
  const notices: string[] = [];
  const log = RunLog.open(dir, (m) => notices.push(m));
  const file = path.join(dir, RUNS_FILE);
  log.append(rec(0));
  fs.rmSync(file);
  log.append(rec(1));
  assert.deepEqual(fs.readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l).seed), [0, 1]);
  fs.rmSync(file); // after the last append: ensure() (called before the transfer ends) brings it back
  log.ensure();
  log.append(rec(2));
  log.close();
  assert.deepEqual(RunLog.open(dir).records().map((r) => r.seed).sort(), [0, 1, 2]);
  assert.equal(notices.length, 2);
  assert.match(notices[0], /runs\.jsonl was removed by another process; written again with the 1 runs known/);
});

test('a log replaced by another file is merged with it; truncated in place, written again; replaced by a folder: saved aside', () => {
  const dir = tmp();
  const file = path.join(dir, RUNS_FILE);
  const log = RunLog.open(dir);
  log.append(rec(0));
  fs.writeFileSync(`${file}.other`, `${JSON.stringify(rec(5))}\n`);
  fs.renameSync(`${file}.other`, file);
  log.append(rec(1));
  assert.deepEqual(RunLog.open(dir).records().map((r) => r.seed).sort(), [0, 1, 5]);
  fs.truncateSync(file, 0); // `: > runs.jsonl`: the same file, emptied
  log.append(rec(2));
  assert.deepEqual(RunLog.open(dir).records().map((r) => r.seed).sort(), [0, 1, 2, 5]);
  fs.rmSync(file);
  fs.mkdirSync(file);
  assert.throws(() => log.append(rec(3)), /runs\.jsonl was replaced by a folder while this transfer ran: the 5 finished runs known are saved in (\S+runs-saved-\S+\.jsonl);/);
  log.close();
  const saved = fs.readdirSync(dir).find((n) => n.startsWith('runs-saved-'))!;
  fs.rmSync(file, { recursive: true });
  fs.renameSync(path.join(dir, saved), file);
  assert.deepEqual(RunLog.open(dir).records().map((r) => r.seed).sort(), [0, 1, 2, 3, 5]);
});

// Found in review: a failed append left half a line in the file (cut only when a later process reopened it).
test('an append that fails (a full disk) leaves whole lines only and names the file', () => {
  const dir = tmp();
  const log = RunLog.open(dir);
  const undo = installFullDisk({ file: RUNS_FILE, failAt: 2 });
  try {
    log.append(rec(0));
    assert.throws(() => log.append(rec(1)), /could not append the finished run to \S+runs\.jsonl: no space left on device \(ENOSPC\)/);
  } finally {
    undo();
    log.close();
  }
  assert.equal(fs.readFileSync(path.join(dir, RUNS_FILE), 'utf8'), `${JSON.stringify(rec(0))}\n`);
});

test('a log that is a folder, or damaged, is bad input (exit code 2)', () => {
  const dir = tmp();
  fs.mkdirSync(path.join(dir, RUNS_FILE));
  assert.throws(() => RunLog.open(dir), (e: Error & { exitCode?: number }) => e.exitCode === 2 && /runs\.jsonl: not a file/.test(e.message));
  const other = tmp();
  fs.writeFileSync(path.join(other, RUNS_FILE), `not json\n${JSON.stringify(rec(1))}\n`);
  assert.throws(() => RunLog.open(other), (e: Error & { exitCode?: number }) => e.exitCode === 2);
});

// Found in review: a report write that failed (full disk, a folder in its place) left its temporary file for good.
test('writeFileAtomic leaves no temporary file when it fails; temporaries of dead processes are removed', () => {
  const dir = tmp();
  fs.mkdirSync(path.join(dir, 'summary.md'));
  assert.throws(() => writeFileAtomic(path.join(dir, 'summary.md'), 'text'), /could not write \S+summary\.md: .*\(EISDIR\)/);
  assert.deepEqual(fs.readdirSync(dir), ['summary.md']);
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // a pid that has exited
  for (const name of [`summary.json.tmp-${dead}`, `lm.svg.${dead}.tmp`, `summary.json.tmp-${process.pid}`]) fs.writeFileSync(path.join(dir, name), 'x');
  assert.deepEqual(removeStaleTemporaries(dir).sort(), [`lm.svg.${dead}.tmp`, `summary.json.tmp-${dead}`]);
  assert.ok(fs.existsSync(path.join(dir, `summary.json.tmp-${process.pid}`)));
});
