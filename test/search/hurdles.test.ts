// The hurdles: the static one reads the IR (which inputs are gradient-derived); the descent probe passes every named
// and Table 6 rule and refuses ascent rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRule, NAMED_RULES } from '../../src/compiler';
import { checkHurdles, dependsOnGradient, descentProbe, PROBE_STEPS } from '../../src/search/hurdles';

const SWEEP = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10];

test('static hurdle: a rule that reads no gradient-derived input is refused, whatever else it reads', () => {
  for (const rule of ['ld', '2 - exp(cd)', 'noise', '1e-4*w', 'anoise*rd(10) + 1', 'sign(0.01*w)', 'g - g', 'exp(sign(g) - sign(g))']) {
    assert.equal(dependsOnGradient(compileRule(rule).root), false, rule);
    assert.equal(checkHurdles(compileRule(rule), SWEEP)?.status, 'no-gradient', rule);
  }
  for (const rule of ['g', 'm', 'sign(v)', 'mom', 'y*ld', 'g3 + noise', 'sqrt(g2)', 'clip(0.1*w, 1e-3)^m']) {
    assert.equal(dependsOnGradient(compileRule(rule).root), true, rule);
  }
});

test('descent probe: every named rule and every rule of Table 6 passes', () => {
  const names = Object.keys(NAMED_RULES);
  assert.ok(names.length >= 40, `${names.length} named rules`);
  for (const name of names) {
    const probe = descentProbe(compileRule(name), SWEEP);
    assert.equal(probe.passed, true, `${name} (${NAMED_RULES[name]}) failed the descent probe`);
    assert.ok(probe.ratio! < 0.99);
  }
});

test('descent probe: ascent rules and rules that only push one way are refused, after every rate on every problem', () => {
  for (const rule of ['-g', '-m', '-sign(g)', '-adam', '-(exp(sign(g)*sign(m))*g)', '-rmsprop*ld']) {
    const verdict = checkHurdles(compileRule(rule), SWEEP);
    assert.equal(verdict?.status, 'no-descent', rule);
    assert.match(verdict!.reason, /lowered the loss of no probe problem/);
    assert.ok(verdict!.probe!.steps <= 3 * SWEEP.length * PROBE_STEPS, `${rule}: ${verdict!.probe!.steps} steps`);
  }
  // The probe only tries the learning rates it is given: sgd cannot descend at 1e3.
  assert.equal(descentProbe(compileRule('g'), [1000]).passed, false);
});
