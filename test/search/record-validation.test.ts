// The one validator of envelopes and ledger records: what it accepts, and that each refusal names the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Envelope } from '../../src/search/backend';
import { makeEnvelope } from '../../src/search/envelope';
import { checkedEnvelope, envelopeProblem, ledgerRecordProblem } from '../../src/search/record-validation';
import { fakeJob } from './backend-conformance';

const good: Envelope = {
  jobId: 'run:3', status: 'ok', reward: 0.8125, bestLr: 0.01, timings: { queuedMs: 2, runMs: 1500 }, attempt: 1, worker: 'local:1:pid9',
  outcome: { status: 'ok', reward: 0.8125, bestLr: 0.01, sweep: [{ lr: 0.01, accuracy: 0.8, loss: 0.5, status: 'ok' }], seconds: 1.5 },
};

test('envelopes: valid ones pass, failures at the floor or without a reward too', () => {
  assert.equal(envelopeProblem(good), null);
  assert.equal(envelopeProblem(good, 'run:3'), null);
  assert.equal(envelopeProblem({ ...good, status: 'crashed', reward: 0, bestLr: null, error: 'worker died', outcome: undefined }), null);
  assert.equal(envelopeProblem({ ...good, status: 'version-mismatch', reward: null, bestLr: null }), null);
  assert.equal(envelopeProblem({ ...good, reward: 0 }), null);
  assert.equal(envelopeProblem({ ...good, reward: 1, extraFieldFromANewerNos: true }), null);
});

test('envelopes: each kind of bad result is refused, naming the field and what it held', () => {
  const cases: Array<[unknown, string]> = [
    [{ ...good, reward: '0.9' }, 'reward must be a finite number or null (got "0.9")'],
    [{ ...good, reward: Infinity }, 'reward must be a finite number or null (got Infinity)'],
    [{ ...good, reward: NaN }, 'reward must be a finite number or null (got NaN)'],
    [{ ...good, reward: 7 }, 'reward must be <= 1 (got 7)'],
    [{ ...good, reward: -0.5 }, 'reward must be >= 0 (got -0.5)'],
    [{ ...good, reward: null }, 'reward is null but status is "ok" (an ok run has a reward)'],
    [{ ...good, status: 'diverged', reward: 0.9 }, 'reward is 0.9 but status is "diverged" (a failed run\'s reward is 0)'],
    [{ ...good, status: 'great' }, 'status must be one of "ok", "diverged", "error", "crashed", "timeout", "oom", "version-mismatch", "no-gradient", "no-descent" (got "great")'],
    [{ ...good, timings: undefined }, 'timings is missing'],
    [{ ...good, timings: { queuedMs: 0 } }, 'timings.runMs is missing'],
    [{ ...good, attempt: 0 }, 'attempt must be >= 1 (got 0)'],
    [{ ...good, worker: 42 }, 'worker must be a string (got 42)'],
    [{ ...good, outcome: { ...good.outcome, sweep: [{ lr: 'big', status: 'ok' }] } }, 'outcome.sweep[0].lr must be a finite number (got "big")'],
    ['0.9', 'the record must be an object (got "0.9")'],
    [null, 'the record must be an object (got null)'],
  ];
  for (const [value, expected] of cases) assert.equal(envelopeProblem(value), expected, JSON.stringify(value));
  assert.equal(envelopeProblem(good, 'run:4'), 'jobId is "run:3", but this is the result of job run:4');
});

test('checkedEnvelope: a bad result becomes that job\'s error with the reason; a good one passes through', () => {
  assert.equal(checkedEnvelope(good, 'run:3'), good);
  const bad = checkedEnvelope({ ...good, reward: 7, attempt: 2, worker: 'redis:rogue:1' }, 'run:3');
  assert.deepEqual({ ...bad, error: undefined }, { jobId: 'run:3', status: 'error', reward: 0, bestLr: null, timings: { queuedMs: 0, runMs: 0 }, attempt: 2, worker: 'redis:rogue:1', error: undefined });
  assert.equal(bad.error, 'invalid result from worker redis:rogue:1: reward must be <= 1 (got 7); recorded as error with reward 0');
  assert.equal(envelopeProblem(bad, 'run:3'), null, 'the replacement is itself valid');
  assert.match(checkedEnvelope('garbage', 'run:3').error!, /from worker unknown: the record must be an object/);
});

test('makeEnvelope: an evaluator whose reward is out of range or of the wrong type gives an error envelope', () => {
  const job = fakeJob('run:5', 'g');
  const info = { attempt: 1, worker: 'w', queuedMs: 0, runMs: 10 };
  const outcome = { status: 'ok' as const, reward: 1.5, bestLr: 0.01, sweep: [], seconds: 1 };
  const high = makeEnvelope(job, { kind: 'outcome', outcome }, info);
  assert.equal(high.status, 'error');
  assert.equal(high.reward, 0);
  assert.match(high.error!, /evaluator returned an invalid result: reward must be <= 1 \(got 1.5\)/);
  const text = makeEnvelope(job, { kind: 'outcome', outcome: { ...outcome, reward: '0.5' as unknown as number } }, info);
  assert.equal(text.status, 'error');
  assert.equal(makeEnvelope(job, { kind: 'outcome', outcome: { ...outcome, reward: 0.5 } }, info).status, 'ok');
  // A worker process that reports a "failure" called ok, or with a status nos does not know, gives an error too.
  const okFailure = makeEnvelope(job, { kind: 'failure', status: 'ok', error: 'fine really' }, info);
  assert.deepEqual([okFailure.status, okFailure.reward, okFailure.error], ['error', 0, 'worker reported a failure with status "ok": fine really']);
  assert.equal(makeEnvelope(job, { kind: 'failure', status: 'exploded' as never, error: 'x' }, info).status, 'error');
  assert.equal(makeEnvelope(job, { kind: 'failure', status: 'timeout', error: 'killed' }, info).status, 'timeout');
});

test('ledger records: every type is checked, and a bad one names its type and field', () => {
  assert.equal(ledgerRecordProblem({ type: 'start', time: 't', runId: 'r', config: {}, versions: { compiler: 1, protocol: 1 } }), null);
  assert.equal(ledgerRecordProblem({ type: 'batch', time: 't', batch: 0, candidates: [{ index: 0, id: 'r:0', tokens: ['g'], meta: null, rule: 'g', hash: 'h', bytesPerParam: 0 }] }), null);
  assert.equal(ledgerRecordProblem({ type: 'batch', time: 't', batch: 0, candidates: [{ index: 0, id: 'r:0', tokens: [1], rule: null, hash: null, bytesPerParam: null }] }),
    'batch record: candidates[0].tokens[0] must be a string (got 1)');
  assert.equal(ledgerRecordProblem({ type: 'batch', time: 't', batch: -1, candidates: [] }), 'batch record: batch must be >= 0 (got -1)');
  assert.equal(ledgerRecordProblem({ type: 'finish', time: 't' }), 'finish record: candidates is missing');
  assert.equal(ledgerRecordProblem({ type: 'stop', reason: 'x' }), 'stop record: time is missing');
  assert.equal(ledgerRecordProblem({ type: 'result', time: 't', batch: 0, index: 0, envelope: good, reusedFrom: 'x' }), 'result record: reusedFrom must be an integer (got "x")');
  assert.equal(ledgerRecordProblem([1, 2]), 'not a ledger record (got [1,2])');
  // Rule texts are printable ASCII, as nos prints them: control or direction characters would reach a terminal.
  const candidate = { index: 0, id: 'r:0', tokens: ['g'], meta: null, rule: 'g', hash: 'h', bytesPerParam: 0 };
  assert.equal(ledgerRecordProblem({ type: 'batch', time: 't', batch: 0, candidates: [{ ...candidate, rule: 'g\u0007' }] }),
    'batch record: candidates[0].rule must match pattern "^[\\x20-\\x7e]+$" (got "g\\u0007")');
  assert.match(ledgerRecordProblem({ type: 'batch', time: 't', batch: 0, candidates: [{ ...candidate, tokens: ['\u202eg'] }] })!, /candidates\[0\]\.tokens\[0\] must match pattern/);
  assert.match(ledgerRecordProblem({ type: 'confirm', time: 't', rule: 'g\u001b[2J', hash: 'h', seed: 2, envelope: good })!, /confirm record: rule must match pattern/);
  assert.equal(ledgerRecordProblem({ type: 'batch', time: 't', batch: 0, candidates: [{ ...candidate, rule: 'exp(sign(g)*sign(m))*g - 1e-4*w' }] }), null);
});
