// The package entry (src/index.ts): what require('nos') gives, what it loads, and its search defaults against the CLI's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../../src/runtime/binding';
import { buildProgram } from '../../src/cli/nos';
import * as os from 'node:os';
import { SEARCH_DEFAULTS, evaluateRule, loadProtocol, runSearch } from '../../src/index';

const root = packageRoot();

test("require('nos') gives the API with its types, and loads neither onnxruntime nor the search until they are used", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  assert.ok(fs.existsSync(path.join(root, pkg.types)), `the types ${pkg.types} are built`);
  assert.ok(fs.existsSync(path.join(root, pkg.main)), `the entry ${pkg.main} is built`);
  // From the package folder, require('nos') resolves to the package itself through its exports.
  const script = `const nos = require('nos');
    const loaded = () => Object.keys(require.cache).filter((f) => /onnxruntime|search-loop|child[\\\\/]protocol/.test(f)).length;
    const before = loaded();
    const opt = nos.createOptimizer('adam', { lr: 0.1, device: 'js' });
    const w = new Float32Array([1, 2]);
    opt.step([w], [new Float32Array([1, -1])]);
    process.stdout.write(JSON.stringify({ keys: Object.keys(nos).sort(), before, w: [...w], canonical: nos.compileRule('powersign').canonical }));`;
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: root }).toString());
  for (const name of ['createOptimizer', 'compileRule', 'evaluateRule', 'runSearch', 'loadProtocol', 'NAMED_RULES', 'renderRule', 'interpretStep', 'exportRule', 'NosError', 'InputError', 'NosSyntaxError']) {
    assert.ok(out.keys.includes(name), `nos exports ${name}`);
  }
  assert.equal(out.before, 0, 'onnxruntime, child training and the search load on first use');
  assert.deepEqual(out.w, [Math.fround(1 - 0.1), Math.fround(2 + 0.1)]);
  assert.equal(out.canonical, 'exp(sign(g)*sign(m))*g');
});

test("runSearch's defaults are nos search's", () => {
  const search = buildProgram().commands.find((c) => c.name() === 'search')!;
  const defaults = Object.fromEntries(search.options.map((o) => [o.attributeName(), o.defaultValue]));
  for (const [key, value] of Object.entries(SEARCH_DEFAULTS)) assert.equal(defaults[key], value, `--${key}`);
});

test('runSearch refuses a setting it does not know, naming it, before it writes anything', async () => {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nos-api-')), 'search');
  const cases: Array<[unknown, RegExp]> = [
    [{ outDir: dir, config: { protocol: 'fake', budgett: 2 } }, /unknown config setting 'budgett' \(known: budget, /],
    [{ outDir: dir, confg: { protocol: 'fake' } }, /unknown option 'confg' \(known: outDir, /],
    [{ outDir: dir, resume: true, overrides: { inflight: 3 } }, /unknown overrides setting 'inflight' \(known: budget, workers, queue, inFlight, confirm\)/],
    [{ outDir: dir, config: null }, /config must be an object, received null/],
    [{ config: { protocol: 'fake' } }, /outDir must name the search folder/],
  ];
  for (const [options, message] of cases) {
    await assert.rejects(runSearch(options as never), message);
    assert.equal(fs.existsSync(dir), false);
  }
  fs.rmSync(path.dirname(dir), { recursive: true, force: true });
});

test('evaluateRule refuses arguments it cannot use, naming them, before it trains (a misspelt data key ran on the default data)', async () => {
  const quick = loadProtocol('quick');
  const cases: Array<[unknown[], RegExp]> = [
    [['adam', 'quick', '/tmp'], /evaluateRule: data must be an object, received string/],
    [['adam', 'quick', null], /evaluateRule: data must be an object, received null/],
    [['adam', 'quick', { paht: '/tmp' }], /evaluateRule: unknown data setting 'paht' \(known: path\)/],
    [['adam', 'quick', { path: 5 }], /evaluateRule: data.path must be a dataset's path \(a folder or an \.npz file\), received 5/],
    [['adam', 'quick', {}, { seeed: 1 }], /evaluateRule: unknown option 'seeed' \(known: device, seed, onProgress\)/],
    [['adam', 'quick', {}, { device: 'gpu' }], /options.device must be 'cpu' or 'cuda', received "gpu"/],
    [['adam', 'quick', {}, { seed: 1.5 }], /options.seed must be an integer in \[0, 2\^32\), received 1.5/],
    [['adam', 'quick', {}, { onProgress: 'log' }], /options.onProgress must be a function, received string/],
    [['adam', 7], /protocol must be a preset name, a JSON file's path or a ProtocolConfig, received number/],
    // A ProtocolConfig is checked whole: a partial one trained with undefined fields (an outcome 'error' after data loading).
    [['adam', { name: 'mine', lrs: [0.1] }], /protocol 'mine': .*must have required property 'sweepEpochs'/],
    [['adam', { ...quick, batchSize: 0 }], /protocol 'quick': \/batchSize must be >= 1/],
    [['adam', { ...quick, extends: 'paper' }], /protocol 'quick': 'extends' is for protocol files \(loadProtocol\)/],
  ];
  for (const [args, message] of cases) {
    await assert.rejects((evaluateRule as (...a: unknown[]) => Promise<unknown>)(...args), message, String(message));
  }
});
