// The functional equivalence cache: spellings of one function merge; no two different named or Table 6 rules do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRule, NAMED_RULES } from '../../src/compiler';
import { EquivalenceCache, fingerprint, FINGERPRINT_RTOL, sameFunction } from '../../src/search/fingerprint';

test('fingerprint: sqrt(g2)*sign(g), g*sign(g)*sign(g) and g are one function (three canonical rules, one fingerprint)', () => {
  const spellings = ['sqrt(g2)*sign(g)', 'g*sign(g)*sign(g)', 'g'].map((r) => compileRule(r));
  assert.equal(new Set(spellings.map((s) => s.hash)).size, 3, 'the canonical forms differ: only the cache can merge them');
  const prints = spellings.map(fingerprint);
  for (const p of prints.slice(1)) assert.ok(sameFunction(prints[0], p));
  const cache = new EquivalenceCache<string>();
  cache.add(prints[0], spellings[0].canonical);
  assert.equal(cache.find(prints[1]), spellings[0].canonical);
  assert.equal(cache.find(prints[2]), spellings[0].canonical);
  assert.equal(cache.find(fingerprint(compileRule('sign(g)'))), undefined);
});

test('fingerprint: no two different named or Table 6 rules merge, and the closest pair is far above the tolerance', () => {
  const rules = Object.keys(NAMED_RULES).map((name) => ({ name, info: compileRule(name) }));
  const byHash = new Map(rules.map((r) => [r.info.hash, r]));
  const distinct = [...byHash.values()];
  assert.ok(distinct.length >= 38, `${distinct.length} distinct named rules`);
  const prints = distinct.map((r) => fingerprint(r.info));
  let closest = Infinity;
  for (let i = 0; i < distinct.length; i++) {
    for (let j = i + 1; j < distinct.length; j++) {
      assert.equal(sameFunction(prints[i], prints[j]), false, `${distinct[i].name} and ${distinct[j].name} merged`);
      // The largest relative difference between the two: how far from merging they are.
      let most = 0;
      for (let k = 0; k < prints[i].length; k++) {
        const [x, y] = [prints[i][k], prints[j][k]];
        if (Number.isFinite(x) && Number.isFinite(y) && x !== y) most = Math.max(most, Math.abs(x - y) / Math.max(Math.abs(x), Math.abs(y)));
        else if (x !== y && !(Number.isNaN(x) && Number.isNaN(y))) most = Infinity;
      }
      closest = Math.min(closest, most);
    }
  }
  assert.ok(closest > 4 * FINGERPRINT_RTOL, `the closest two named rules differ by ${closest} at most, within 4x the tolerance`);
});

test('fingerprint: the same rule gives the same fingerprint every time; noise and dropout are keyed by a fixed seed', () => {
  for (const rule of ['g + noise', 'drop(m, 0.3)*anoise', 'adam']) {
    const a = fingerprint(compileRule(rule));
    const b = fingerprint(compileRule(rule));
    assert.deepEqual(a, b, rule);
  }
  assert.equal(sameFunction(fingerprint(compileRule('drop(g, 0.3)')), fingerprint(compileRule('drop(g, 0.5)'))), false);
});
