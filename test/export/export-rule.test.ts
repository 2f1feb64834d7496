// exportRule's options and class names: a name the target's language or the file itself reserves is refused by name;
// every name it takes gives a file that parses (Python's ast, a JS function body) and defines the class.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { exportRule } from '../../src/export';

const RULE = 'drop(exp(sign(g)*sign(m)), 0.1)*g*cd + noise*ld';

test('class names a language or the file reserves are refused, with the reason', () => {
  const refused: Array<[string, 'pytorch' | 'tfjs', RegExp]> = [
    ['None', 'pytorch', /None is a Python keyword or builtin/], ['lambda', 'pytorch', /keyword or builtin/],
    ['ValueError', 'pytorch', /keyword or builtin/], ['float', 'pytorch', /keyword or builtin/],
    ['torch', 'pytorch', /the file itself uses torch/], ['_f32', 'pytorch', /names beginning with _/],
    ['function', 'tfjs', /function is a reserved word in JavaScript/], ['arguments', 'tfjs', /reserved word/],
    ['Math', 'tfjs', /Math is a JavaScript global/], ['RangeError', 'tfjs', /JavaScript global/],
    ['tf', 'tfjs', /the file itself uses tf/], ['SLOTS', 'tfjs', /the file itself uses SLOTS/], ['_ld', 'tfjs', /names beginning with _/],
    ['a-b', 'tfjs', /must be an identifier/], ['9Lives', 'pytorch', /must be an identifier/],
  ];
  for (const [name, target, reason] of refused) {
    assert.throws(() => exportRule(RULE, target, { className: name }), (e: Error) => e instanceof RangeError && e.message.includes(`${name}`) && reason.test(e.message), `${name} for ${target}`);
  }
});

test('options are checked: unknown keys, a fused that is not a boolean, and options that are not an object', () => {
  assert.throws(() => exportRule('adam', 'pytorch', { classname: 'X' } as never), /unknown option 'classname' \(known: className, fused\)/);
  assert.throws(() => exportRule('adam', 'pytorch', { fused: 'no' } as never), /fused must be true or false, got "no"/);
  assert.throws(() => exportRule('adam', 'pytorch', null as never), /options must be an object, got null/);
  assert.throws(() => exportRule('adam', 'pytorch', { className: 7 } as never), /className must be a string, got number/);
  assert.throws(() => exportRule('adam', 'onnx' as never), /unknown target "onnx": expected one of pytorch, tfjs/);
  assert.throws(() => exportRule(undefined as never, 'pytorch'), /exportRule: rule must be a rule text, a rule name or a compiled rule \(compileRule\), received undefined/);
  assert.throws(() => exportRule({ root: 1 } as never, 'tfjs'), /exportRule: rule must be .* received object/);
});

// Names a careless check would refuse (they are attributes, locals or words of comments in the files) are taken.
const TAKEN = ['Optimizer', 'Adam', 'HASH', 'x', 'lr', 'step', 'Nos', 'optimizer'];

test('every name taken gives a TensorFlow.js file that compiles and defines the class under that name', () => {
  for (const name of TAKEN) {
    const text = exportRule(RULE, 'tfjs', { className: name });
    const module = { exports: {} as Record<string, (tf: unknown) => { name: string }> };
    new Function('module', 'exports', 'require', text)(module, module.exports, require);
    const registered: string[] = [];
    const fakeTf = { Optimizer: class {}, serialization: { registerClass: (c: { name: string }) => registered.push(c.name) } };
    const defined = module.exports[`define${name}`](fakeTf);
    assert.equal(defined.name, name);
    assert.deepEqual(registered, [name]);
  }
});

test('every name taken gives a PyTorch file that Python parses, fused or not', { skip: spawnSync('python3', ['-c', '1']).status !== 0 && 'no python3' }, () => {
  const files = TAKEN.flatMap((name) => [false, true].map((fused) => exportRule(RULE, 'pytorch', { className: name, fused })));
  const script = 'import ast, json, sys\nfor text in json.load(sys.stdin):\n    tree = ast.parse(text)\n    print([n.name for n in tree.body if isinstance(n, ast.ClassDef)][0])\n';
  const run = spawnSync('python3', ['-c', script], { input: JSON.stringify(files), encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(run.stdout.trim().split('\n'), TAKEN.flatMap((name) => [name, name]));
});
