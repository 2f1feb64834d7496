// The device check's verdicts on issue 11's bars (bench/gpu-bars.ts): each from the run's own figures, adam's update
// met by either size, a reward without its CPU reference not counted as met, and nothing measured said as such.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { barRows, type Measured } from '../../bench/gpu-bars';

const verdicts = (m: Measured) => barRows(m, 3).map(([name, verdict]) => `${name}: ${verdict}`);

test('the second device session\'s figures: the update short of 90%, the other bars met', () => {
  const m: Measured = {
    update: { sgd: { layout: 'g1-default-256', percent: 80.0 }, adam: { layout: 'g1-default-256', percent: 87.7 } },
    adamVsTorch: 1.44, rewardPoints: { adam: 0.30, sgd: 0.28, powersign: 0.10 }, rateTimesCpu: 114.2,
  };
  assert.deepEqual(verdicts(m), [
    'bar: adam update >= 90% copy: NOT MET', 'bar: adam >= torch fused: met', 'bar: rewards within 1 point: met', 'bar: rules/hour >= 50x CPU: met',
  ]);
  assert.equal(barRows(m, 3)[0][2], 'sgd 80.0% (g1-default-256); adam 87.7% (g1-default-256)');
});

test('adam\'s update meets the bar at either size; a reward over 1 point or without its reference does not', () => {
  const m: Measured = {
    update: { adam: { layout: 'g1-default-256', percent: 88.1, large: { layout: 'g2-streaming-256', percent: 91.3 } } },
    adamVsTorch: 0.97, rewardPoints: { adam: 0.4, sgd: 1.2, powersign: 0.1 }, rateTimesCpu: 49.9,
  };
  assert.deepEqual(verdicts(m), [
    'bar: adam update >= 90% copy: met', 'bar: adam >= torch fused: NOT MET', 'bar: rewards within 1 point: NOT MET', 'bar: rules/hour >= 50x CPU: NOT MET',
  ]);
  assert.match(barRows(m, 3)[0][2], /1 GiB arrays 91\.3% \(g2-streaming-256\)/);
  assert.equal(barRows({ update: {}, rewardPoints: { adam: 0.1, sgd: 0.1 } }, 3)[2][1], 'NOT MET', 'a rule without its reference');
});

test('a dry run measures none of the bars, and says so', () => {
  assert.deepEqual(barRows({ update: {} }, 3).map((r) => r[1]), ['not measured', 'not measured', 'not measured', 'not measured']);
});
