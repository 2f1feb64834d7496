// The Redis queue's pure pieces: job ids in BullMQ, job options, job validation, and how failures map to statuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBullJobId, jobOptions, statusOfFailure, toBullJobId, validateJob } from '../../src/search/queue-redis';
import { fakeJob } from './backend-conformance';

test('candidate ids become BullMQ job ids without ":" nor bare integers, and decode back', () => {
  for (const id of ['ppo-1-91c72ad2:0', '12', 'a%3Ab:7', 'run:with space:9', 'é:1']) {
    const bullId = toBullJobId(id);
    assert.ok(!bullId.includes(':'), bullId);
    assert.ok(!/^\d+$/.test(bullId), bullId);
    assert.equal(decodeBullJobId(bullId), id);
  }
  assert.notEqual(toBullJobId('a:b'), toBullJobId('a%3Ab'));
  assert.equal(decodeBullJobId('someone-else-s-job'), null);
});

test('job options: stable id, retries with exponential backoff, finished jobs kept for --resume', () => {
  const options = jobOptions(fakeJob('run:3', 'g'), {});
  assert.equal(options.jobId, toBullJobId('run:3'));
  assert.equal(options.attempts, 2);
  assert.deepEqual(options.backoff, { type: 'exponential', delay: 5000 });
  assert.deepEqual(options.removeOnComplete, { age: 7 * 24 * 3600 });
  assert.deepEqual(options.removeOnFail, { age: 7 * 24 * 3600 });
  assert.equal(jobOptions(fakeJob('run:3', 'g'), { attempts: 4, backoffMs: 100 }).attempts, 4);
});

test('a malformed job is refused before it reaches Redis, naming the field and the job', () => {
  assert.throws(() => validateJob(null, 'submit(jobs[0])'), /submit\(jobs\[0\]\): a job must be an object/);
  assert.throws(() => validateJob({ ...fakeJob('x:1', 'g'), device: 'tpu' }, 'submit(jobs[2])'), /submit\(jobs\[2\]\): job x:1: device must be 'cpu' or 'cuda', got "tpu"/);
  assert.throws(() => validateJob({ ...fakeJob('x:1', 'g'), versions: { compiler: 1 } }, 'w'), /job x:1: versions must be/);
  assert.throws(() => validateJob({ ...fakeJob('x:1', 'g'), rule: '' }, 'w'), /job x:1: rule must be a non-empty string/);
  assert.throws(() => validateJob({ ...fakeJob('x:1', 'g'), data: { fingerprint: 7 } }, 'w'), /job x:1: data\.fingerprint must be a string, got 7/);
  assert.throws(() => validateJob({ ...fakeJob('x:1', 'g'), data: { path: ['a'] } }, 'w'), /job x:1: data\.path must be a string, got \["a"\]/);
  assert.equal(validateJob({ ...fakeJob('x:1', 'g'), data: { path: '/d', fingerprint: '0123456789abcdef' } }, 'w').data.fingerprint, '0123456789abcdef');
  const job = fakeJob('x:1', 'g');
  assert.equal(validateJob(job, 'w'), job);
});

test('a final failure maps to the status the worker wrote, and a lost worker to crashed', () => {
  assert.deepEqual(statusOfFailure('crashed: worker died (signal SIGSEGV)'), { status: 'crashed', error: 'worker died (signal SIGSEGV)' });
  assert.deepEqual(statusOfFailure('version-mismatch: job made for compiler version 2, this worker has 1'),
    { status: 'version-mismatch', error: 'job made for compiler version 2, this worker has 1' });
  assert.equal(statusOfFailure('job stalled more than allowable limit').status, 'crashed');
  assert.deepEqual(statusOfFailure('ok: not a failure'), { status: 'error', error: 'ok: not a failure' });
  assert.deepEqual(statusOfFailure('Missing lock for job 7'), { status: 'error', error: 'Missing lock for job 7' });
});
