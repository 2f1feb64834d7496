// runInChild: one job in a fresh process; crashes, hangs and bad rewards come back as envelopes, never a throw or hang.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInChild } from '../../src/search/child-runner';
import { fakeReward } from '../../src/search/fake-evaluator';
import { fakeJob } from './backend-conformance';

const limits = { timeoutMs: 1500, maxRssMb: 256 };

test('runInChild: a good job returns its reward in an ok envelope', async () => {
  const e = await runInChild(fakeJob('x:0', 'sign(g) * m'), limits);
  assert.equal(e.status, 'ok');
  assert.equal(e.reward, fakeReward('sign(g) * m', 7));
  assert.equal(e.jobId, 'x:0');
  assert.equal(e.outcome?.status, 'ok');
});

test('runInChild: crash, hang and thrown errors become crashed, timeout and error', async () => {
  const faults = { crash: ['crash'], hang: ['hang'], throw: ['throw'] };
  const [crashed, hung, threw] = await Promise.all([
    runInChild(fakeJob('x:1', 'crash', { faults }), limits),
    runInChild(fakeJob('x:2', 'hang', { faults }), limits),
    runInChild(fakeJob('x:3', 'throw', { faults }), limits),
  ]);
  assert.equal(crashed.status, 'crashed');
  assert.match(crashed.error ?? '', /SIGSEGV/);
  assert.equal(hung.status, 'timeout');
  assert.equal(threw.status, 'error');
  assert.match(threw.error ?? '', /asked to throw/);
  for (const e of [crashed, hung, threw]) assert.equal(e.reward, 0);
});

test('runInChild: a malformed fake protocol is an error envelope naming the field', async () => {
  const e = await runInChild(fakeJob('x:4', 'g', { sleepMs: -1 }), limits);
  assert.equal(e.status, 'error');
  assert.match(e.error ?? '', /sleepMs must be a number from 0 to 2147483647, got -1/);
  // Past what a timer waits (it would fire at once: a search "finished" in no time).
  const long = await runInChild(fakeJob('x:5', 'g', { sleepMs: 1e308 }), limits);
  assert.equal(long.status, 'error');
  assert.match(long.error ?? '', /sleepMs must be a number from 0 to 2147483647, got 1e\+308/);
});
