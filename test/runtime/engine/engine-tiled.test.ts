// The child engine's tiled convolution kernels (nos_conv3x3_tiled: the weights in shared memory;
// nos_conv3x3_wgrad_tiled: the images) give their direct twins' gradients and updates bit for bit, on the CPU twin,
// over shapes that stress the tiling: slabs that do not divide the height, a batch that does not divide the image
// chunks, two and three input channels, 8, 16 and 32 filters.  The direct kernels are themselves held to the
// onnxruntime path by engine-step.test.ts.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { convNet } from '../../../src/runtime/child/models';
import { ChildEngine, type KernelVariant, type LayerVariants } from '../../../src/runtime/engine/child-engine';
import { assertTiledKernelsAgree, TILED_CASES } from '../../support/tiled-steps';

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-engine-wgrad-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

for (const c of TILED_CASES) {
  const what = `${c.shape.join('x')}, ${c.filters} filters, batch ${c.batch}`;
  test(`the tiled convolution equals the direct one bit for bit (forward and input gradient): ${what}`, () => assertTiledKernelsAgree('host', { conv: 'tiled', wgrad: 'direct' }, c, cacheDir));
  test(`the tiled weight gradient equals the direct one bit for bit: ${what}`, () => assertTiledKernelsAgree('host', { conv: 'direct', wgrad: 'tiled' }, c, cacheDir));
}
test('kernels chosen per layer give the direct kernels\' bits too (the paper\'s child)', () =>
  assertTiledKernelsAgree('host', { conv: ['tiled', 'direct'], wgrad: ['direct', 'tiled'] }, TILED_CASES[0], cacheDir));

test('an unknown kernel variant is refused, naming the choices', () => {
  const model = convNet([1, 28, 28], 10, 4);
  const make = (o: { conv?: LayerVariants; wgrad?: LayerVariants }) => () => ChildEngine.create({ device: 'host', model, capacity: 1, batchSize: 4, stepsPerRound: 1, cacheDir, ...o });
  assert.throws(make({ wgrad: 'fast' as KernelVariant }), /wgrad must be 'direct' or 'tiled', or 2 of them \(one per convolution layer\), got "fast"/);
  assert.throws(make({ conv: 'shared' as KernelVariant }), /conv must be 'direct' or 'tiled', or 2 of them \(one per convolution layer\), got "shared"/);
  assert.throws(make({ conv: ['tiled'] }), /conv must be .*, got \["tiled"\]/);
  assert.throws(make({ wgrad: ['tiled', 'fast' as KernelVariant] }), /wgrad must be .*, got \["tiled","fast"\]/);
});

test('a layer too wide for the tiled weight gradient is refused by name; the other layer may still use it', () => {
  // 200 columns: a row of the first convolution (1 channel) fits the tile's shared memory, one of the second (32) not.
  const model = convNet([1, 8, 200], 10, 2);
  const engine = ChildEngine.create({ device: 'host', model, capacity: 1, batchSize: 2, stepsPerRound: 1, cacheDir, wgrad: ['tiled', 'direct'] });
  try {
    assert.deepEqual(engine.kernels, { conv: 'direct', wgrad: ['tiled', 'direct'] });
    assert.throws(() => engine.setKernels({ wgrad: ['direct', 'tiled'] }), /too wide for the tiled weight gradient's shared memory in convolution 2; use the direct one/);
    assert.deepEqual(engine.kernels, { conv: 'direct', wgrad: ['tiled', 'direct'] }, 'a refused choice changes nothing');
  } finally {
    engine.close();
  }
});
