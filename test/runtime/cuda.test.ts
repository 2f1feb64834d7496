// CUDA without a GPU: clean errors naming what is missing, and NVRTC compiling the CUDA renderer's output when the
// library is present (NOS_LIBNVRTC or the usual toolkit folders); the GPU runs themselves are in test/gpu.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRule, NAMED_RULES } from '../../src/compiler';
import { renderRule } from '../../src/compiler/render';
import { loadAddon } from '../../src/runtime/binding';
import { createOptimizer } from '../../src/runtime/optimizer';

const addon = loadAddon();
function gpuProblem(): string | undefined {
  try {
    addon.cudaDeviceInfo();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
const problem = gpuProblem();

test('with no driver or GPU, CUDA calls fail with an error that names what is missing', { skip: problem === undefined && 'a GPU is present (see test/gpu)' }, () => {
  assert.match(problem!, /CUDA driver not found: could not load libcuda\.so\.1|cuInit failed|no GPU is visible/);
  assert.throws(() => createOptimizer('adam', { device: 'cuda' }), (err: Error) => err.message === problem);
  assert.throws(() => new addon.CudaKernel('.version 8.0'), (err: Error) => err.message === problem);
  assert.throws(() => new addon.CudaTensors(new Float64Array([4]), [0], new Float64Array([0]), 65536), (err: Error) => err.message === problem);
});

function nvrtcProblem(): string | undefined {
  try {
    addon.nvrtcCompile('extern "C" __global__ void nos_probe() {}', 'compute_80');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
const nvrtcMissing = nvrtcProblem();

test('without NVRTC the error says so and how to point at it', { skip: nvrtcMissing === undefined && 'NVRTC is present' }, () => {
  assert.match(nvrtcMissing!, /NVRTC not found: could not load libnvrtc\.so .*NOS_LIBNVRTC/);
});

test('NVRTC compiles every named rule rendered for CUDA to PTX with the nos_update entry', { skip: nvrtcMissing !== undefined && `NVRTC not available: ${nvrtcMissing!.split('\n')[0]}` }, () => {
  for (const name of Object.keys(NAMED_RULES)) {
    const { ptx } = addon.nvrtcCompile(renderRule(compileRule(name), 'cuda'), 'compute_80', `${name}.cu`);
    assert.match(ptx, /\.entry nos_update\(/, name);
  }
});

test('NVRTC compile errors come back with the compiler log', { skip: nvrtcMissing !== undefined && 'NVRTC not available' }, () => {
  assert.throws(() => addon.nvrtcCompile('extern "C" __global__ void f( {', 'compute_80', 'broken.cu'),
    /NVRTC could not compile broken\.cu for compute_80: NVRTC_ERROR_COMPILATION\n[^]*error/);
  assert.throws(() => addon.nvrtcCompile(3 as never, 'compute_80'), /expected strings/);
});
