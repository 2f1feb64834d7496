// renderRule for every target and rule, its errors, and the shared C base: drop thresholds, sign-product regrouping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ir from '../../src/compiler/ir';
import { renderRule, RENDER_TARGETS, type RenderTarget } from '../../src/compiler/render';
import { cFloatLiteral, dropThreshold } from '../../src/compiler/render-c-base';
import { regroupSignProducts } from '../../src/compiler/schedule';
import { uniform } from '../../src/compiler/philox';
import { compileRule } from '../../src/compiler/analyze';
import { fixtureRules } from './render-rules';

test('every fixture rule renders for every target, each naming its rule and ABI version', () => {
  for (const { name, info } of fixtureRules()) {
    for (const target of RENDER_TARGETS) {
      const src = renderRule(info, target);
      assert.match(src, /^\/\/ nos kernel for (the CPU|CUDA|JS), ABI \d+\. rule: /, `${name} for ${target}`);
      assert.ok(src.includes(info.hash!), `${name} for ${target}: hash missing from the header`);
    }
  }
});

test('renderRule refuses an unknown target and a rule whose state list lacks what it reads', () => {
  const info = compileRule('adam');
  assert.throws(() => renderRule(info, 'metal' as RenderTarget), /unknown render target 'metal': expected one of cpu, cuda, js/);
  assert.throws(() => renderRule({ ...info, state: ['m'] }, 'cpu'), /rule reads v but its state list \(m\) lacks it/);
  assert.throws(() => renderRule({ ...info, state: ['m', 'v', 'q' as 'm'] }, 'js'), /unknown slot 'q'/);
  assert.throws(() => renderRule('adam' as unknown as typeof info, 'cpu'), /expected a compiled rule \(compileRule\(text\)\) with root, state and decays/);
});

test('dropThreshold turns uniform(x) >= p into the exact integer test (x >>> 8) >= k', () => {
  for (const p of [0, 0.1, 0.3, 0.5, 0.999, 1, 1.5, 1e-9]) {
    const k = dropThreshold(p);
    const pf = Math.fround(p);
    if (k < 1 << 24) assert.ok(uniform((k << 8) >>> 0) >= pf, `p ${p}: k ${k} keeps`);
    if (k > 0) assert.ok(uniform(((k - 1) << 8) >>> 0) < pf, `p ${p}: k - 1 drops`);
  }
  assert.equal(dropThreshold(0), 0);
  assert.equal(dropThreshold(2), 1 << 24);
});

test('sign products are regrouped as (scalars) * (signs) so one select covers them', () => {
  const sg = ir.unary('sign', ir.input('g'));
  const sm = ir.unary('sign', ir.input('m'));
  const ld = ir.decay('ld');
  const leftDeep = ir.binary('mul', ir.binary('mul', ld, sg), sm);
  assert.equal(regroupSignProducts(leftDeep), ir.binary('mul', ld, ir.binary('mul', sg, sm)));
  const negated = ir.binary('mul', ir.unary('neg', sg), sm);
  assert.equal(regroupSignProducts(negated), ir.unary('neg', ir.binary('mul', sg, sm)));
  const withData = ir.binary('mul', ir.binary('mul', ir.input('g'), sg), sm);
  assert.equal(regroupSignProducts(withData), withData, 'a product with element data stays as it is');
});

test('C float literals read back as the same float32 value', () => {
  for (const x of [1, 0.1, 1e-8, 1e-4, 3.4028234663852886e38, 1.401298464324817e-45, -2.5, 6.2831855]) {
    const text = cFloatLiteral(x, 'INF', 'NAN');
    assert.match(text, /^\(?-?[\d.]+(e[-+]?\d+)?f\)?$/, text);
    assert.equal(Math.fround(parseFloat(text.replace(/[()f]/g, ''))), Math.fround(x), text);
  }
  assert.equal(cFloatLiteral(Infinity, 'INF', 'NAN'), 'INF');
  assert.equal(cFloatLiteral(-Infinity, 'INF', 'NAN'), '(-INF)');
  assert.equal(cFloatLiteral(NaN, 'INF', 'NAN'), 'NAN');
  assert.equal(cFloatLiteral(-0, 'INF', 'NAN'), '(-0.0f)');
});
