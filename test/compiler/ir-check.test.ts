// What the printers and the token encoder take: a node of the IR, anything else named (ir.ts checkNode).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkNode, input } from '../../src/compiler/ir';
import { printInfix, printLatex } from '../../src/compiler/print';
import { encodeTokens, printTokens } from '../../src/compiler/tokens';
import { compileRule } from '../../src/compiler';
import { parseRule } from '../../src/compiler/named-rules';

const ENTRIES: Array<[string, (x: never) => unknown]> = [
  ['printInfix', (x) => printInfix(x)], ['printLatex', (x) => printLatex(x)], ['encodeTokens', (x) => encodeTokens(x)],
];

test('nodes from the parser, the token decoder and a compiled rule pass; look-alikes do not', () => {
  for (const node of [parseRule('g*m'), parseRule('g m id id mul'), compileRule('adam').root, input('g')]) checkNode('x', node);
  // The same fields, not made by the IR's constructors (a JSON round trip): refused, not printed half right.
  const copy = JSON.parse(JSON.stringify(parseRule('g*m')));
  assert.throws(() => checkNode('x', copy), /x: expected an expression node .* received an object/);
});

test('printInfix, printLatex and encodeTokens name what they received instead of a TypeError from inside', () => {
  for (const [name, call] of ENTRIES) {
    for (const [bad, shown] of [[undefined, 'undefined'], [null, 'null'], [{}, 'an object'], [[], 'an Array'], ['g*m', 'string "g\\*m"'], [3, 'number 3']] as Array<[unknown, string]>) {
      assert.throws(() => call(bad as never), (e: Error) => e instanceof TypeError &&
        new RegExp(`^${name}: expected an expression node .* received ${shown}$`).test(e.message), `${name}(${String(bad)}): ${shown}`);
    }
    // The common slip: a compiled rule where its root was meant.
    assert.throws(() => call(compileRule('adam') as never), new RegExp(`TypeError: ${name}: .* received a compiled rule \\(pass its \\.root\\)$`));
  }
  assert.throws(() => printInfix(parseRule('g'), null as never), /printInfix: options must be an object, received null/);
});

test('printTokens takes an Array of strings', () => {
  assert.equal(printTokens(['g', 'm', 'id', 'id', 'mul', 'g', 'g', 'id', 'id', 'add']), 'g m id id mul | g g id id add');
  assert.throws(() => printTokens(null as never), /printTokens: tokens must be an Array of strings, received null/);
  assert.throws(() => printTokens('g g' as never), /printTokens: tokens must be an Array of strings, received string/);
  assert.throws(() => printTokens(['g', 4] as never), /printTokens: tokens\[1\] must be a string, received number/);
  // eslint-disable-next-line no-sparse-arrays
  assert.throws(() => printTokens(['g', , 'g'] as never), /printTokens: tokens\[1\] must be a string, received undefined/);
});
