// The two weight-gradient kernels of the child engine (nos_conv3x3_wgrad and nos_conv3x3_wgrad_tiled, which stages
// the images through shared memory behind barriers) give the same gradients bit for bit, on the CPU twin, over the
// shapes that stress the tiling: slabs that do not divide the height, a batch that does not divide the image chunks,
// three input channels, 8 and 16 filters.  The direct kernel is itself held to the onnxruntime path by
// engine-step.test.ts.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { convNet } from '../../../src/runtime/child/models';
import { ChildEngine, type WgradKernel } from '../../../src/runtime/engine/child-engine';
import { assertWgradKernelsAgree, WGRAD_CASES } from '../../support/wgrad-steps';

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-engine-wgrad-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

for (const { shape, filters, batch } of WGRAD_CASES) {
  test(`the tiled weight gradient equals the direct one bit for bit: ${shape.join('x')}, ${filters} filters, batch ${batch}`, async () => {
    await assertWgradKernelsAgree('host', { shape, filters, batch }, cacheDir);
  });
}

test('an unknown weight-gradient kernel is refused, naming the choices', () => {
  const model = convNet([1, 28, 28], 10, 4);
  assert.throws(() => ChildEngine.create({ device: 'host', model, capacity: 1, batchSize: 4, stepsPerRound: 1, cacheDir, wgrad: 'fast' as WgradKernel }),
    /wgrad must be 'direct' or 'tiled', got "fast"/);
});
