// From runs to the table: the tuned learning rate, mean and spread over seeds, ranks, states, mean curves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunRecord } from '../../src/transfer/run-log';
import { meanCurve, pickBestLr, summarizeTask } from '../../src/transfer/summary';
import type { Metric } from '../../src/transfer/task';

const lower: Metric = { name: 'loss', short: 'loss', better: 'lower', digits: 4 };
const higher: Metric = { name: 'accuracy', short: 'acc', better: 'higher', digits: 4 };

test('pickBestLr: the best score by the metric\'s direction; the first of equals; diverged rates never win', () => {
  const grid = [
    { lr: 1e-3, status: 'ok' as const, score: 0.5 }, { lr: 1e-2, status: 'ok' as const, score: 0.2 },
    { lr: 1e-1, status: 'ok' as const, score: 0.2 }, { lr: 1, status: 'diverged' as const, score: null },
  ];
  assert.equal(pickBestLr(grid, lower), 1e-2);
  assert.equal(pickBestLr(grid, higher), 1e-3);
  assert.equal(pickBestLr([{ lr: 1, status: 'diverged', score: null }], lower), null);
  assert.equal(pickBestLr([], lower), null);
});

function record(optimizer: string, phase: 'tune' | 'final', lr: number, seed: number, score: number | null, fingerprint = 'f'): RunRecord {
  return {
    task: 't', optimizer, phase, lr, seed, fingerprint, seconds: 1, time: '', status: score === null ? 'diverged' : 'ok', score,
    curve: score === null ? [] : [{ x: 1, value: score + 1 }, { x: 2, value: score }],
  };
}

test('summarizeTask: tuned rate, mean and sample deviation over seeds, ranks (ties share), states', () => {
  const task = { name: 't', metric: higher, lrs: [0.01, 0.1], settings: {} };
  const records = [
    record('a', 'tune', 0.01, 0, 0.5), record('a', 'tune', 0.1, 0, 0.7),
    record('a', 'final', 0.1, 0, 0.8), record('a', 'final', 0.1, 1, 0.9), record('a', 'final', 0.1, 2, 0.7),
    record('b', 'tune', 0.01, 0, 0.6), record('b', 'tune', 0.1, 0, null),
    record('b', 'final', 0.01, 0, 0.8), record('b', 'final', 0.01, 1, 0.8), record('b', 'final', 0.01, 2, 0.8),
    record('c', 'tune', 0.01, 0, null), record('c', 'tune', 0.1, 0, null),
    record('d', 'tune', 0.01, 0, 0.9),
    record('e', 'tune', 0.01, 0, 0.1), record('e', 'tune', 0.1, 0, 0.2), record('e', 'final', 0.1, 0, 0.95),
    // Another fingerprint (other settings): ignored.
    record('e', 'final', 0.1, 1, 0.99, 'other'),
  ];
  const opts = ['a', 'b', 'c', 'd', 'e'].map((label) => ({ label, rule: label, fingerprint: 'f' }));
  const s = summarizeTask(task, opts, [0, 1, 2], records);
  const [a, b, c, d, e] = s.rows;
  assert.equal(a.bestLr, 0.1);
  assert.ok(Math.abs(a.mean! - 0.8) < 1e-12);
  assert.ok(Math.abs(a.sd! - 0.1) < 1e-12);
  assert.deepEqual([a.min, a.max, a.state], [0.7, 0.9, 'done']);
  assert.equal(b.bestLr, 0.01);
  assert.ok(b.sd! < 1e-12);
  // a and b tie at 0.8; e (one seed so far) leads with 0.95.
  assert.deepEqual([e.rank, a.rank, b.rank], [1, 2, 2]);
  assert.deepEqual([e.state, e.finals.length], ['final', 1]);
  assert.deepEqual([c.state, c.bestLr, c.rank], ['failed', null, null]);
  assert.deepEqual([d.state, d.bestLr, d.tuning.length], ['tuning', null, 1]);
  assert.equal(a.bestAtEdge, true); // 0.1 is the top of the grid
});

test('meanCurve: the mean over seeds that finished ok, with the band from lowest to highest', () => {
  const finals = [
    { seed: 0, status: 'ok' as const, score: 1, curve: [{ x: 1, value: 2 }, { x: 2, value: 1 }] },
    { seed: 1, status: 'ok' as const, score: 3, curve: [{ x: 1, value: 4 }, { x: 2, value: 3 }] },
    { seed: 2, status: 'diverged' as const, score: null, curve: [{ x: 1, value: 100 }] },
  ];
  const m = meanCurve(finals);
  assert.deepEqual(m.points, [{ x: 1, value: 3 }, { x: 2, value: 2 }]);
  assert.deepEqual(m.band, [{ x: 1, low: 2, high: 4 }, { x: 2, low: 1, high: 3 }]);
});
