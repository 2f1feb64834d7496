// The utilization bench's breakdown of a fleet's time: its parts add up to workers x wall, each where it belongs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitFleetTime, type TimedJob } from '../../bench/utilization-trace';

test('a fleet\'s time splits into run, overhead, gaps, lead-in and tail that add up to workers x wall', () => {
  // Search from 0 to 1000 ms; worker a: jobs 100-400 (ran 250 of it) and 450-800 (ran 350); worker b: 200-900 (ran 700).
  const jobs: TimedJob[] = [
    { worker: 'a', added: 50, started: 100, finished: 400, runMs: 250, recorded: 410 },
    { worker: 'a', added: 50, started: 450, finished: 800, runMs: 350, recorded: 830 },
    { worker: 'b', added: 60, started: 200, finished: 900, runMs: 700, recorded: 905 },
  ];
  const b = splitFleetTime(jobs, 0, 1000, 3, 905); // three workers: one never got a job
  assert.equal(b.runSeconds, 1.3);
  assert.equal(b.inJobOverheadSeconds, 0.05);
  assert.equal(b.gapSeconds, 0.05);
  assert.equal(b.gapMaxMs, 50);
  assert.equal(b.leadInSeconds, 1.3); // 0.1 + 0.2, and the idle worker idles the whole wall
  assert.equal(b.tailSeconds, 0.3);
  assert.ok(Math.abs(b.runSeconds + b.inJobOverheadSeconds + b.gapSeconds + b.leadInSeconds + b.tailSeconds - 3 * b.wallSeconds) < 1e-9);
  assert.ok(Math.abs(b.wrapUpSeconds - 0.095) < 1e-9);
  assert.equal(b.pickupMaxMs, 30);
  assert.ok(Math.abs(b.pickupMeanMs - 15) < 1e-9);
  // From the first start (100) to the last add (60): nothing to sample after the adds, so no depth is claimed.
  assert.equal(b.waitingMin, 0);
  assert.equal(b.results, 3);
});
