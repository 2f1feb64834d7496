// The stall clock: when a GPU worker's silence means a hung engine (pool-gpu.ts acts on it; engine-fake-cuda.test.ts
// hangs a real engine on the fake driver).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StallClock } from '../../src/search/gpu-stall';

test('stall clock: before any round the silence may last the time limit; after, ten times the longest round, never under the floor', () => {
  const clock = new StallClock({ rounds: 10, floorMs: 60_000 }, 1_800_000);
  clock.newWorker();
  clock.busy(0);
  assert.deepEqual(clock.limit(), { ms: 1_800_000, why: 'killed after 1800 s without word from the GPU engine' });
  assert.equal(clock.stalled(1_800_000), null);
  assert.equal(clock.stalled(1_800_001), 'killed after 1800 s without word from the GPU engine');
  clock.round(2, 40_000); // short rounds: the floor
  assert.equal(clock.limit().ms, 60_000);
  clock.round(30, 70_000);
  assert.deepEqual(clock.limit(), { ms: 300_000, why: 'killed after 300 s without word from the GPU engine, whose longest round so far took 30 s' });
  assert.equal(clock.stalled(370_000), null, 'the silence counts from the last word');
  assert.match(clock.stalled(370_001) ?? '', /^killed after 300 s/);
  clock.word(370_000);
  assert.equal(clock.stalled(370_001), null);
  clock.round(500, 400_000); // 10 x 500 s is past the time limit: the time limit
  assert.deepEqual(clock.limit(), { ms: 1_800_000, why: 'killed after 1800 s without word from the GPU engine' });
});

test('stall clock: a fresh worker is given ten times the slowest start to a first round so far', () => {
  const clock = new StallClock({ rounds: 10, floorMs: 1000 }, 1_800_000);
  clock.newWorker();
  clock.busy(1000);
  clock.round(0.5, 3000); // 2 s from its first job to its first round
  clock.newWorker();
  clock.busy(10_000);
  assert.deepEqual(clock.limit(), { ms: 20_000, why: 'killed after 20 s without word from the GPU engine, whose workers took at most 2.0 s to a first round so far' });
  assert.match(clock.stalled(30_001) ?? '', /^killed after 20 s/);
  clock.round(0.4, 13_000);
  assert.deepEqual(clock.limit(), { ms: 5000, why: 'killed after 5.0 s without word from the GPU engine, whose longest round so far took 0.5 s' });
  assert.throws(() => new StallClock({ rounds: 0, floorMs: 1 }, 1000), /stall.rounds must be >= 1/);
});
