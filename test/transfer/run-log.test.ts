// The run log: records survive reopening; a torn last line is cut away; damage elsewhere is refused.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RUNS_FILE, RunLog, runKey, type RunRecord } from '../../src/transfer/run-log';

const made: string[] = [];
after(() => { for (const d of made) fs.rmSync(d, { recursive: true, force: true }); });
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-runlog-'));
  made.push(d);
  return d;
}

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
  const reopened = RunLog.open(dir);
  assert.equal(reopened.records().length, 1);
  reopened.append(rec(1));
  reopened.close();
  const lines = fs.readFileSync(path.join(dir, RUNS_FILE), 'utf8').trimEnd().split('\n');
  assert.equal(lines.length, 2);
  assert.deepEqual(lines.map((l) => JSON.parse(l).seed), [0, 1]);
});

test('a damaged line before the last is refused with its line number', () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, RUNS_FILE), `${JSON.stringify(rec(0))}\nnot json\n${JSON.stringify(rec(1))}\n`);
  assert.throws(() => RunLog.open(dir), /runs\.jsonl: line 2 is not a run record/);
});
