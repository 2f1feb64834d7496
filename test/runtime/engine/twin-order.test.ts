// The engine's kernels give the same bits whatever order their threads and blocks run in: the twin built with
// NOS_EMU_REVERSED (emu_launch.h) runs every launch's blocks and every block's threads backwards, and two training
// steps and an evaluation must match the forward build's exactly.  A kernel whose threads read what other threads or
// blocks of the same launch write, without a barrier between (a race on a GPU, where the order is anyone's), fails.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { emulationSource } from '../../../src/runtime/engine/kernel-build';
import { findCompiler } from '../../../src/runtime/kernel-cache';
import { TILED_CASES, trainTwoSteps, type Kernels, type Trained } from '../../support/tiled-steps';

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-twin-order-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

/** Runs `work` with every twin library it builds compiled with NOS_EMU_REVERSED (NOS_KERNEL_FLAGS; its own cache key). */
async function reversed<T>(work: () => Promise<T>): Promise<T> {
  const before = process.env.NOS_KERNEL_FLAGS;
  process.env.NOS_KERNEL_FLAGS = `${before ?? ''} -DNOS_EMU_REVERSED`.trim();
  try {
    return await work();
  } finally {
    if (before === undefined) delete process.env.NOS_KERNEL_FLAGS;
    else process.env.NOS_KERNEL_FLAGS = before;
  }
}

function assertSameBits(forward: Trained, backward: Trained, what: string): void {
  for (let k = 0; k < 2; k++) {
    for (const field of ['grads', 'params'] as const) {
      const at = forward[field][k].findIndex((v, i) => !Object.is(v, backward[field][k][i]));
      assert.equal(at, -1, `${what}, child ${k}: ${field}[${at}] is ${forward[field][k][at]} forwards, ${backward[field][k][at]} backwards`);
    }
  }
  assert.deepEqual(backward.evaluation, forward.evaluation, `${what}: the held-out scores`);
}

const compiler = findCompiler();
const paper = TILED_CASES[0];  // the paper's child, at a batch that leaves short chunks
for (const kernels of [{ conv: 'direct', wgrad: 'direct' }, { conv: 'tiled', wgrad: 'tiled' }] as Kernels[]) {
  test(`the engine's kernels give the same bits with blocks and threads run backwards (${kernels.conv} convolutions)`, { skip: compiler ? false : 'no C++ compiler' }, async () => {
    const forward = await trainTwoSteps('host', kernels, paper.shape, paper.filters, paper.batch, cacheDir);
    const backward = await reversed(() => trainTwoSteps('host', kernels, paper.shape, paper.filters, paper.batch, cacheDir));
    assertSameBits(forward, backward, JSON.stringify(kernels));
  });
}

test('a kernel that reads what another block writes gives other bits backwards (the check sees a race)', { skip: compiler ? false : 'no C++ compiler' }, async () => {
  // Block b adds the value block b - 1 wrote: forwards a running sum, backwards not.
  const source = String.raw`
extern "C" __global__ void chained(float* out) {
  const int b = blockIdx.x;
  out[b] = (float)(b + 1) + (b > 0 ? out[b - 1] : 0.0f);
}`;
  const run = (flags: string[]): number[] => {
    const dir = fs.mkdtempSync(path.join(cacheDir, 'race-'));
    const file = path.join(dir, 'race.cc');
    fs.writeFileSync(file, emulationSource(source) + String.raw`
#include <stdio.h>
int main() {
  static float values[8];
  float* out = values;
  void* params[] = {&out};
  const unsigned int grid[3] = {8, 1, 1}, block[3] = {1, 1, 1};
  nos_emu_kernels[0].launch(grid, block, params, 0, 8);
  for (int i = 0; i < 8; ++i) printf("%g\n", values[i]);
  return 0;
}`);
    execFileSync(compiler!.command[0], [...compiler!.command.slice(1), '-std=c++17', ...flags, file, '-o', path.join(dir, 'race')]);
    return execFileSync(path.join(dir, 'race'), { encoding: 'utf8' }).trim().split('\n').map(Number);
  };
  assert.deepEqual(run([]), [1, 3, 6, 10, 15, 21, 28, 36]);
  assert.notDeepEqual(run(['-DNOS_EMU_REVERSED']), [1, 3, 6, 10, 15, 21, 28, 36]);
});
