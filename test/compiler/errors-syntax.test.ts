// Tests of every front-end error kind: the message, its offset/line/column and the caret printed under the source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInfix, MAX_NESTING, MAX_TREE_DEPTH } from '../../src/compiler/parse-infix';
import { MAX_INPUT_LENGTH } from '../../src/compiler/lexer';
import { NosSyntaxError, editDistance, nearestName } from '../../src/compiler/errors';
import { parseRule } from '../../src/compiler/named-rules';
import { compileRule } from '../../src/compiler/analyze';

function errorOf(fn: () => unknown): NosSyntaxError {
  try { fn(); } catch (e) {
    assert.ok(e instanceof NosSyntaxError, `expected a NosSyntaxError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected an error');
}

/** Checks kind, offset and that format() puts the caret under the expected column. */
function expectError(text: string, kind: string, offset: number, message: RegExp, length = 1): NosSyntaxError {
  const e = errorOf(() => parseInfix(text));
  assert.equal(e.kind, kind, `${text}: ${e.message}`);
  assert.equal(e.offset, offset, `${text}: ${e.message}`);
  assert.match(e.message, message);
  assert.equal(e.length, length, `${text}: caret length`);
  const lines = e.format().split('\n');
  assert.equal(lines.length, 3);
  assert.equal(lines[1], `  ${text.split('\n')[e.line - 1].replace(/[\u0000-\u001f\u007f]/g, ' ')}`);
  assert.equal(lines[2], `  ${' '.repeat(e.column - 1)}${'^'.repeat(length)}`);
  return e;
}

test('empty input', () => {
  expectError('', 'empty', 0, /empty rule/);
  expectError('   ', 'empty', 0, /empty rule/);
});

test('unbalanced parentheses point at the unmatched one', () => {
  expectError('(g*m', 'unbalanced', 0, /never closed/);
  expectError('exp(g*(m + v)', 'unbalanced', 3, /never closed/);
  expectError('g*m)', 'unbalanced', 3, /no matching '\('/);
  expectError('exp(g))*m', 'unbalanced', 6, /no matching/);
});

test('unknown names suggest the nearest valid one', () => {
  expectError('exp(sgn(g))*g', 'unknown-name', 4, /unknown name 'sgn' \(did you mean 'sign'\?\)/, 3);
  expectError('g*mm', 'unknown-name', 2, /did you mean 'm'\?/, 2);
  expectError('adm*g', 'unknown-name', 0, /did you mean 'adam'\?/, 3);
  expectError('g*rmsprp', 'unknown-name', 2, /did you mean 'rmsprop'\?/, 6);
  expectError('g*zzzzzzzz', 'unknown-name', 2, /unknown name 'zzzzzzzz'$/, 8);
});

test('wrong arity', () => {
  expectError('exp(g, m)', 'arity', 0, /exp takes 1 argument/, 3);
  expectError('clip(g)', 'arity', 0, /clip takes 2 arguments/, 4);
  expectError('drop(g, 0.1, 0.2)', 'arity', 0, /drop takes 2 arguments/, 4);
  expectError('exp()', 'arity', 0, /got 0/, 3);
  expectError('g(1)*m', 'arity', 0, /operand, not a function/, 1);
  expectError('exp*g', 'arity', 0, /is a function: write exp\(x\)/, 3);
  expectError('rd*g', 'arity', 0, /rd\(periods\)/, 2);
});

test('trailing garbage', () => {
  expectError('g m', 'trailing', 2, /unexpected name 'm' after a complete expression \(missing operator\?\)/);
  expectError('1e-3w', 'trailing', 4, /write 1e-3\*w/);
  expectError('g*m 2', 'trailing', 4, /number '2'/);
  expectError('exp(g)(m)', 'trailing', 6, /'\('/);
});

test('out-of-range parameters and bad numbers', () => {
  expectError('clip(g, 0)', 'range', 8, /clip bound must be > 0, got 0/);
  expectError('clip(g, -1e-4)', 'range', 8, /clip bound must be > 0/, 5);
  expectError('drop(g, 1)', 'range', 8, /drop probability must be in \[0, 1\), got 1/);
  expectError('drop(g, -0.1)', 'range', 8, /drop probability/, 4);
  expectError('cd(0)*g', 'range', 3, /cd needs a number of periods > 0/);
  expectError('clip(g, m)', 'expected', 8, /bound must be a number/);
  expectError('1e999*g', 'bad-number', 0, /out of range \(float32, which the kernels compute in, reaches about 3\.4e\+38\)/, 5);
  // Finite as a double, but infinite or 0 in float32 (the kernels' type): refused, not silently inf or 0.
  expectError('g*1e39', 'bad-number', 2, /out of range \(float32/, 4);
  expectError('1e-50*g', 'bad-number', 0, /rounds to 0 in float32/, 5);
  expectError('1e-999*g', 'bad-number', 0, /rounds to 0 in float32/, 6);
  expectError('1e*g', 'bad-number', 0, /exponent has no digits/, 2);
});

test('unexpected characters and missing operands', () => {
  expectError('g # m', 'unexpected-char', 2, /unexpected character '#'/);
  expectError('g*', 'expected', 2, /unexpected end of rule/);
  expectError('g*)', 'expected', 2, /before '\)'/);
  expectError('()', 'expected', 1, /empty parentheses/);
  expectError('g + * m', 'expected', 4, /found '\*'/);
  expectError('g@1', 'expected', 1, /site label/);
  expectError('noise@x', 'expected', 6, /site number/);
});

test('errors on later lines report line and column', () => {
  const e = expectError('exp(g)\n  * mx', 'unknown-name', 11, /unknown name 'mx'/, 2);
  assert.equal(e.line, 2);
  assert.equal(e.column, 5);
});

test('limits: input size, nesting and tree depth are refused with a message, not a stack overflow', () => {
  const long = 'g+'.repeat(MAX_INPUT_LENGTH) + 'g';
  const tooLong = errorOf(() => parseInfix(long));
  assert.equal(tooLong.kind, 'too-long');
  assert.match(tooLong.message, new RegExp(`limit is ${MAX_INPUT_LENGTH}`));
  assert.equal(tooLong.offset, MAX_INPUT_LENGTH);
  assert.match(tooLong.format(), /\.\.\.$/m, 'a long line is cut around the caret');

  const deep = '('.repeat(MAX_NESTING + 1) + 'g' + ')'.repeat(MAX_NESTING + 1);
  const tooDeep = errorOf(() => parseInfix(deep));
  assert.equal(tooDeep.kind, 'too-deep');
  assert.equal(tooDeep.offset, MAX_NESTING);
  assert.doesNotThrow(() => parseInfix('('.repeat(MAX_NESTING) + 'g' + ')'.repeat(MAX_NESTING)));

  const minus = errorOf(() => parseInfix('-'.repeat(1000) + 'g'));
  assert.equal(minus.kind, 'too-deep');
  const calls = errorOf(() => parseInfix('exp('.repeat(500) + 'g' + ')'.repeat(500)));
  assert.equal(calls.kind, 'too-deep');

  const chain = errorOf(() => parseInfix('g' + '+g'.repeat(MAX_TREE_DEPTH + 1)));
  assert.equal(chain.kind, 'too-deep');
  assert.match(chain.message, new RegExp(`deeper than ${MAX_TREE_DEPTH}`));
  assert.doesNotThrow(() => parseInfix('g' + '+g'.repeat(MAX_TREE_DEPTH - 1)));
});

test('a misspelt rule name suggests the named rule', () => {
  const e = errorOf(() => parseRule('powersing'));
  assert.equal(e.kind, 'unknown-name');
  assert.match(e.message, /did you mean 'powersign'\?/);
  const f = errorOf(() => parseRule('addsign-lx'));
  assert.match(f.message, /did you mean 'addsign-ld'\?/);
  assert.equal(f.offset, 0);
  assert.equal(f.length, 'addsign-lx'.length);
});

test('compileRule refuses a non-string with a NosSyntaxError', () => {
  const e = errorOf(() => compileRule(42 as unknown as string));
  assert.match(e.message, /must be a string, got number/);
});

test('edit distance and nearest name', () => {
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(editDistance('sign', 'sign'), 0);
  assert.equal(nearestName('sgn', ['exp', 'sign', 'sqrt']), 'sign');
  assert.equal(nearestName('qqqqqq', ['exp', 'sign']), null);
});

test('characters pasted from the paper get a hint', () => {
  expectError('g \u2212 m', 'unexpected-char', 2, /unexpected character '\u2212' \(write '-'\)/);
  expectError('m\u2217e^v', 'unexpected-char', 1, /\(write '\*'\)/);
  expectError('[g + m]*v', 'unexpected-char', 0, /\(write '\('\)/);
  const emoji = errorOf(() => parseInfix('g*\u{1F600}'));
  assert.equal(emoji.message, "unexpected character '\u{1F600}'");
  assert.equal(emoji.length, 2);
  expectError('g\u0007', 'unexpected-char', 1, /'\\u0007'/);
});

test('compileRule refuses a rule whose simplified form is over the limits (so every canonical text compiles again)', () => {
  let level = Array.from({ length: 512 }, (_, i) => ['g', 'm', 'v', 'y'][i % 4] + (i % 3 ? '' : '*ld'));
  while (level.length > 1) level = level.flatMap((x, i) => (i % 2 ? [] : [`(${x}*${level[i + 1]})`]));
  assert.doesNotThrow(() => parseInfix(level[0]), 'the balanced input itself is within the limits');
  const e = errorOf(() => compileRule(level[0]));
  assert.equal(e.kind, 'too-deep');
  assert.match(e.message, /the simplified rule is \d+ levels deep; the limit is 256/);
  assert.equal(e.offset, 0);
  assert.equal(e.length, level[0].length);
});

test('control characters in the source line print as spaces, keeping the caret in place', () => {
  const e = errorOf(() => parseInfix('g\t*\r\n mx'));
  assert.equal(e.kind, 'unknown-name');
  assert.equal(e.line, 2);
  assert.equal(e.format().split('\n')[1], '   mx');
  assert.equal(e.format().split('\n')[2], '   ^^');
  const bell = errorOf(() => parseInfix('g\u0007'));
  assert.equal(bell.format().split('\n')[1], '  g ');
});
