// Models the engine's kernels cannot run are refused when the engine is made, each with an error that names the
// limit: before any device memory is taken, and where a GPU would otherwise fail a launch or wrap a 32-bit index.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { convNet, mlp, type ModelSpec } from '../../../src/runtime/child/models';
import { ChildEngine } from '../../../src/runtime/engine/child-engine';

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-engine-shape-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

const make = (model: ModelSpec, batchSize: number) => () =>
  ChildEngine.create({ device: 'host', model, capacity: 1, batchSize, stepsPerRound: 1, cacheDir }).close();

test('the kernels\' shape limits are refused by name: filters, input channels and classes', () => {
  assert.throws(make(convNet([1, 28, 28], 10, 8, 64), 8), /model\.filters must be an integer in \[8, 32\]/);
  assert.throws(make(convNet([1, 28, 28], 10, 8, 12), 8), /filters must be a multiple of 8 in \[8, 32\]/);
  assert.throws(make(convNet([40, 28, 28], 10, 8, 32), 8), /too many input channels/);
  assert.throws(make(mlp([1, 28, 28], 2000), 8), /model\.classes must be an integer in \[2, 1024\], received 2000/);
  assert.doesNotThrow(make(mlp([1, 28, 28], 1000), 8), 'downsampled ImageNet\'s 1000 classes');
});

test('a child whose tensors would reach 2^31 elements is refused, naming the tensor (the kernels index a child in 32 bits)', () => {
  // 100 x 32 x 1024 x 1024 = 3.4e9 activations of the first convolution; its parameters are few.
  assert.throws(make(convNet([1, 1024, 1024], 10, 100), 100),
    /a child's first convolution's output \(batch x filters x height x width\) would hold 3355443200 values; .* at most 2\^31 - 1/);
  // 4096 x 600,000 hidden activations; 470M parameters, under the limit.
  assert.throws(make(mlp([1, 28, 28], 10, 600_000), 4096), /a child's hidden activations \(batch x hidden\) would hold 2457600000 values/);
});
