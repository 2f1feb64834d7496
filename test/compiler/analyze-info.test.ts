// Tests of rule analysis: state slots, bytes per parameter, decays, random sites, the cost model and sign selects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRule, signSelect, isUniform, isSignProduct } from '../../src/compiler/analyze';
import { parseInfix } from '../../src/compiler/parse-infix';
import { simplify } from '../../src/compiler/simplify';
import { printInfix } from '../../src/compiler/print';
import { decay } from '../../src/compiler/ir';

test('state slots and bytes per parameter', () => {
  const cases: Array<[string, string[]]> = [
    ['sgd', []], ['momentum', ['mom']], ['adam', ['m', 'v']], ['rmsprop', ['v']], ['powersign', ['m']],
    ['sign_m*g', ['m']], ['y*g3', ['y']], ['g2 + g3', []], ['mom*v + m*y', ['m', 'v', 'y', 'mom']], ['1e-2*w', []],
  ];
  for (const [rule, state] of cases) {
    const info = compileRule(rule);
    assert.deepEqual(info.state, state, rule);
    assert.equal(info.bytesPerParam, 4 * state.length, rule);
  }
});

test('decays in first-use order of the canonical text, each once', () => {
  const info = compileRule('cd(2)*g + ld*m + cd(2)*rd(10)*v');
  assert.equal(info.canonical, 'cd(2)*g + cd(2)*rd(10)*v + ld*m');
  assert.deepEqual(info.decays, [{ name: 'cd', n: 2 }, { name: 'rd', n: 10 }, { name: 'ld', n: 0 }]);
  assert.deepEqual(compileRule('sgd').decays, []);
});

test('random sites and noise flags', () => {
  const a = compileRule('drop(g, 0.1) + noise*anoise');
  assert.equal(a.randomSites, 3);
  assert.equal(a.usesNoise, true);
  assert.equal(a.usesAnnealedNoise, true);
  const b = compileRule('drop(g, 0.1)*drop(m, 0.5)');
  assert.equal(b.randomSites, 2);
  assert.equal(b.usesNoise, false);
  assert.equal(b.usesAnnealedNoise, false);
  assert.equal(compileRule('noise@0*noise@0').randomSites, 1, 'a shared draw is one site');
});

test('cost model of flopsPerElement (docs/compiler.md)', () => {
  assert.equal(compileRule('sgd').flopsPerElement, 2); // w - lr*g
  assert.equal(compileRule('momentum').flopsPerElement, 4); // + mom update 2
  assert.equal(compileRule('rmsprop').flopsPerElement, 10); // div 2 + sqrt 1 + g2 1 + v 4 + final 2
  assert.equal(compileRule('adam').flopsPerElement, 14); // rmsprop's + m 4
  // sign, sign, mul, exp-as-select 2, mul = 6; + m 4 + final 2
  assert.equal(compileRule('powersign').flopsPerElement, 12);
  assert.equal(compileRule('exp(g)*g').flopsPerElement, 4, 'a real exp costs 1');
  assert.equal(compileRule('exp(ld*2)*g').flopsPerElement, 3, 'uniform subexpressions are hoisted');
});

test('exp of a sign product is a three-way select', () => {
  const powersign = compileRule('powersign').root;
  assert.equal(powersign.kind, 'binary');
  const expNode = (powersign as { left: import('../../src/compiler/ir').Node }).left;
  const sel = signSelect(expNode);
  assert.ok(sel);
  assert.equal(printInfix(sel.scale), '1');
  assert.equal(printInfix(sel.signs), 'sign(g)*sign(m)');

  const ld = simplify(parseInfix('exp(ld*sign(g)*sign(m))'));
  const selLd = signSelect(ld);
  assert.ok(selLd);
  assert.equal(selLd.scale, decay('ld'));
  assert.equal(printInfix(selLd.signs), 'sign(g)*sign(m)');

  const negated = signSelect(simplify(parseInfix('exp(-(cd(2)*2*sign(g)))')));
  assert.ok(negated);
  assert.equal(printInfix(negated.scale), '-2*cd(2)');

  assert.equal(signSelect(simplify(parseInfix('exp(g*sign(m))'))), null);
  assert.equal(signSelect(simplify(parseInfix('exp(m)'))), null);
  assert.equal(signSelect(simplify(parseInfix('sign(g)*sign(m)'))), null, 'only exp nodes');
});

test('isSignProduct and isUniform', () => {
  assert.equal(isSignProduct(parseInfix('sign(g)*sign(m)')), true);
  assert.equal(isSignProduct(parseInfix('-sign(g)*sign(m)*sign(v)')), true);
  assert.equal(isSignProduct(parseInfix('sign(g)*m')), false);
  assert.equal(isSignProduct(parseInfix('2*sign(g)')), false);
  assert.equal(isUniform(parseInfix('exp(ld)*cd(2) + 3')), true);
  assert.equal(isUniform(parseInfix('ld*g')), false);
  assert.equal(isUniform(parseInfix('noise')), false);
});

test('compileRule gives a RuleInfo whose canonical text compiles to the same root', () => {
  const info = compileRule('  g*sign(m)*sign(g)*exp(ld) ');
  assert.equal(info.source, '  g*sign(m)*sign(g)*exp(ld) ');
  assert.equal(compileRule(info.canonical).root, info.root);
  assert.equal(compileRule(info.canonical).hash, info.hash);
});

test('compileRule hands out one cached RuleInfo frozen to its leaves: no caller can change it for the others', () => {
  const info = compileRule('powersign-ld');
  assert.equal(compileRule('powersign-ld'), info, 'cached');
  assert.throws(() => (info.state as string[]).push('v'), TypeError);
  assert.throws(() => { (info.decays as unknown as unknown[]).length = 0; }, TypeError);
  assert.throws(() => { (info.decays[0] as { n: number }).n = 7; }, TypeError);
  assert.throws(() => { (info as { hash: string }).hash = 'x'; }, TypeError);
  assert.deepEqual(compileRule('powersign-ld').state, ['m']);
  assert.deepEqual(compileRule('powersign-ld').decays, [{ name: 'ld', n: 0 }]);
});
