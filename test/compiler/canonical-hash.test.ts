// Tests of the canonical text and hash: two spellings one hash, reparse to the same root, the same hash in another process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { canonicalize, hashText, hash, canonicalText } from '../../src/compiler/canonical';
import { compileRule } from '../../src/compiler/analyze';
import { parseInfix } from '../../src/compiler/parse-infix';
import { parseRule, NAMED_RULES } from '../../src/compiler/named-rules';
import { printLatex } from '../../src/compiler/print';
import { createHash } from 'node:crypto';

test('hash is 16 hex of sha256 of the canonical text', () => {
  const info = compileRule('powersign');
  assert.equal(info.hash, createHash('sha256').update(info.canonical).digest('hex').slice(0, 16));
  assert.equal(hashText('g'), createHash('sha256').update('g').digest('hex').slice(0, 16));
  assert.equal(hash(parseInfix('g*1')), hashText('g'));
  assert.equal(canonicalText(parseInfix('m*sign(g)*sign(m)')), 'm*sign(g)*sign(m)');
});

test('two spellings (infix, tokens, names) of one rule get one hash', () => {
  const spellings = [
    'powersign', 'exp(sign(g)*sign(m))*g', 'g*e^(sign_m*sign_g)', 'sign_g sign_m id id mul | o1 g exp id mul',
    'sign_m sign_g id id mul | g o1 id exp mul', 'table6-16',
  ];
  const hashes = new Set(spellings.map((s) => compileRule(s).hash));
  assert.equal(hashes.size, 1);
  assert.equal(compileRule('adam').hash, compileRule('v v sqrt id keep | m o1 id id div').hash, "Figure 2's two Adams");
  assert.notEqual(compileRule('powersign').hash, compileRule('addsign').hash);
  assert.notEqual(compileRule('g/m').hash, compileRule('m/g').hash);
});

test('canonical text parses back to the same root', () => {
  for (const name of Object.keys(NAMED_RULES)) {
    const { root, text } = canonicalize(parseRule(name));
    assert.equal(parseInfix(text), root, `${name}: ${text}`);
  }
});

test('the same hashes in a fresh process (ordering never depends on node ids)', () => {
  const rules = ['powersign', 'addsign-ld', 'table6-21', 'noise*drop(g, 0.1) + m*v - y', 'g3 g2 exp log div | o1 m id sign mul'];
  const expected = rules.map((r) => compileRule(r).hash);
  const ext = path.extname(__filename);
  const index = path.join(__dirname, '..', '..', 'src', 'compiler', `index${ext}`);
  // The child interns other nodes first, so its node ids differ from ours.
  const script = `const c = require(${JSON.stringify(index)});
    c.parseInfix('y*y + v*v - m*m + exp(g3)*log(g2) + rd(3)*cd(7)');
    process.stdout.write(JSON.stringify(${JSON.stringify(rules)}.reverse().map((r) => c.compileRule(r).hash).reverse()));`;
  const execArgv = ext === '.ts' ? ['--import', 'tsx'] : [];
  const out = execFileSync(process.execPath, [...execArgv, '-e', script], { encoding: 'utf8' });
  assert.deepEqual(JSON.parse(out), expected);
});

test('LaTeX', () => {
  assert.equal(printLatex(compileRule('powersign').root), 'e^{\\operatorname{sign}\\left(g\\right) \\cdot \\operatorname{sign}\\left(\\hat{m}\\right)} \\cdot g');
  assert.equal(printLatex(compileRule('adam').root), '\\frac{\\hat{m}}{\\sqrt{\\left|\\hat{v}\\right|} + \\delta}');
  assert.equal(printLatex(parseInfix('drop(m, 0.3)*exp(1e-3*w)')), '\\operatorname{drop}\\left(\\hat{m}, 0.3\\right) \\cdot e^{10^{-3} \\cdot w}');
  assert.equal(printLatex(parseInfix('(g - m)*ld - clip(g2, 1e-4)')), '\\left(g - \\hat{m}\\right) \\cdot \\mathrm{ld} - \\operatorname{clip}\\left(g^2, 10^{-4}\\right)');
});

test('folded constants print as a person writes them, and the text folds back to the same double', () => {
  const cases: Array<[string, string]> = [
    ['exp(2)^sign(g)', 'exp(2)^sign(g)'],
    ['e - sign(g - sign(g))', 'e - sign(g - sign(g))'],
    ['1 1 exp exp add | o1 g id id mul', '2*e*g'],
    ['log(2)*g', 'log(2)*g'],
    ['-sqrt(2)*m', '-sqrt(2)*m'],
    ['sigmoid(1)*g', 'sigmoid(1)*g'],
    ['(1 + e)^g', '(e + 1)^g'],
    ['(exp(2) - 1)*g', '(exp(2) - 1)*g'],
    ['exp(1e-4)*m', 'exp(1e-4)*m'],
    ['0.1234567*g', '0.1234567*g'],
    // Decimal sums are not function values: 1.3 - 1 is not sqrt(1.69) - 1.
    ['(0.1 + 0.2)*g', '0.30000000000000004*g'],
    ['(1.2 - 1)*g', '0.19999999999999996*g'],
    ['(0.2 + 0.4)*g', '0.6000000000000001*g'],
  ];
  for (const [source, printed] of cases) {
    const info = compileRule(source);
    assert.equal(info.canonical, printed, source);
    assert.equal(compileRule(info.canonical).root, info.root, `${source}: ${info.canonical} folds back`);
  }
  assert.equal(printLatex(compileRule('exp(2)^sign(g)').root), '{\\left(e^{2}\\right)}^{\\operatorname{sign}\\left(g\\right)}');
});

test('every folded constant of nested functions of small numbers round-trips through its printed text', () => {
  const fns = ['exp', 'log', 'sqrt', 'sigmoid', 'neg'];
  const args = ['1', '2', '3', '0.5', '1e-3', 'e', '10'];
  let named = 0;
  for (const f of fns) {
    for (const a of args) {
      for (const outer of ['', ...fns]) {
        for (const around of ['X', '2*X', 'X + 1', 'X - 3', '-X', 'X*X']) {
          const expr = around.replace(/X/g, `${outer}${outer ? '(' : ''}${f}(${a})${outer ? ')' : ''}`);
          let info;
          try { info = compileRule(`(${expr})*g`); } catch { continue; } // folded to a non-finite value: refused
          if (/exp\(|log\(|sqrt\(|sigmoid\(|\be\b/.test(info.canonical)) named++;
          assert.equal(compileRule(info.canonical).root, info.root, `${expr}: ${info.canonical}`);
        }
      }
    }
  }
  assert.ok(named > 100, `only ${named} constants printed by name`);
});
