// A protocol's data is checked against its model once: images too small for the convnet's two poolings (or feature
// rows) are one clear DataError (naming the data, the sizes and a way out), the MLP takes them, and nos eval and
// nos search stop with exit 2.  Sides not divisible by 4 pool as PyTorch's MaxPool2d(2) does (floored).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataError } from '../../../src/runtime/child/data-error';
import { loadProtocol, loadProtocolData, ProtocolError } from '../../../src/runtime/child/protocol';
import { prepareProtocolData } from '../../../src/runtime/child/protocol-data';
import { checkEngineTakes, loadEngineData } from '../../../src/runtime/engine/engine-evaluator';
import { nosCaptured } from '../../support/cli-capture';
import { writeBandsIdx } from '../../support/bands-idx';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-protocol-data-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
writeBandsIdx(dir, 60, 3, { side: 3, classes: 3, noise: 100, band: 150 }); // 3x3: pooled to 1x1, then to nothing
const sides10 = fs.mkdtempSync(path.join(dir, 'bands10-'));
writeBandsIdx(sides10, 60, 3, { side: 10, classes: 5, noise: 100, band: 150 }); // 10x10: pooled to 5x5, then 2x2
const sizes = { trainExamples: 40, validationExamples: 20, batchSize: 10, lrs: [0.1], finalEpochs: 1 };
const convnet = { ...loadProtocol('paper'), ...sizes, name: 'tiny-paper' };
const mlp = { ...loadProtocol('quick'), ...sizes, name: 'tiny-quick' };

const TOO_SMALL = /train-images-idx3-ubyte: images of 1x3x3 \(channels x height x width\) do not fit protocol 'tiny-paper': convnet: input 3x3 is too small: two 2x2 poolings need sides of at least 4; use a protocol with the mlp \(--protocol quick\)/;

test('the convnet refuses images too small for its two poolings, in every loader; the MLP takes them', () => {
  for (const load of [prepareProtocolData, loadProtocolData, loadEngineData]) {
    assert.throws(() => load(convnet, dir), (e: Error) => e instanceof DataError && TOO_SMALL.test(e.message), load.name);
    const data = load(mlp, dir);
    assert.deepEqual([data.train.count, data.validation.count, data.height, data.width], [40, 20, 3, 3], load.name);
  }
});

test('the convnet takes sides not divisible by 4 (10x10), in every loader', () => {
  for (const load of [prepareProtocolData, loadProtocolData, loadEngineData]) {
    const data = load(convnet, sides10);
    assert.deepEqual([data.train.count, data.height, data.width], [40, 10, 10], load.name);
  }
});

test('nos eval trains the convnet on 10x10 images', async () => {
  const protocolFile = path.join(dir, 'tiny-paper-10.json');
  fs.writeFileSync(protocolFile, JSON.stringify({ extends: 'paper', ...sizes }));
  const run = await nosCaptured(['eval', 'adam', '--protocol', protocolFile, '--data', sides10, '--no-progress']);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /of 1x10x10, 10 classes/);
  assert.match(run.stdout, /status: +ok/);
});

test('nos eval and nos search stop at once with exit 2 on such data, before training or writing a search folder', async () => {
  const protocolFile = path.join(dir, 'tiny-paper.json');
  fs.writeFileSync(protocolFile, JSON.stringify({ extends: 'paper', ...sizes }));
  const evalRun = await nosCaptured(['eval', 'adam', '--protocol', protocolFile, '--data', dir, '--no-progress']);
  assert.equal(evalRun.code, 2, evalRun.stderr);
  assert.match(evalRun.stderr, /do not fit protocol 'tiny-paper'/);
  assert.equal(evalRun.stdout, '');
  const out = path.join(dir, 'search');
  const searchRun = await nosCaptured(['search', '--protocol', protocolFile, '--data', dir, '--budget', '2', '--out', out, '--no-progress']);
  assert.equal(searchRun.code, 2, searchRun.stderr);
  assert.match(searchRun.stderr, /^nos: --data .*do not fit protocol 'tiny-paper'/);
  assert.equal(fs.existsSync(out), false);
});

test('--device cuda: a width the child engine has no kernels for is one error up front (exit 2), naming what it takes', async () => {
  const data = prepareProtocolData(mlp, dir);
  const eightByEight = { ...data, height: 8, width: 8 }; // the engine reads the shape only
  assert.throws(() => checkEngineTakes({ ...convnet, filters: 12 }, eightByEight),
    (e: Error) => e instanceof ProtocolError && /protocol 'tiny-paper' cannot train in the child engine \(--device cuda\): convnet: filters must be a multiple of 8 in \[8, 32\]; it trains on the CPU path/.test(e.message));
  assert.doesNotThrow(() => checkEngineTakes({ ...convnet, filters: 16 }, eightByEight));
  const protocolFile = path.join(dir, 'filters-12.json');
  fs.writeFileSync(protocolFile, JSON.stringify({ extends: 'paper', ...sizes, filters: 12 }));
  const run = await nosCaptured(['eval', 'adam', '--protocol', protocolFile, '--data', sides10, '--device', 'cuda', '--no-progress']);
  assert.equal(run.code, 2, run.stderr);
  assert.match(run.stderr, /cannot train in the child engine \(--device cuda\): convnet: filters must be a multiple of 8/);
});
