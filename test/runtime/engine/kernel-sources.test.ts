// The engine's kernel sources: they keep the rules that make the CPU twin exact, NVRTC can take them (no #include),
// the twin's table lists every kernel, and nvcc compiles them for a GPU (skipped where no CUDA toolkit is found).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compileRule } from '../../../src/compiler';
import { renderChildrenUpdate, type UpdateLayout } from '../../../src/compiler/render-children';
import { emulationSource, engineKernelSource, kernelNames } from '../../../src/runtime/engine/kernel-build';
import { which } from '../../compiler/render-native';

const RULES = ['adam', 'powersign-cd', 'table6-17', '-g + anoise + drop(noise, 0.5)'];
const STREAMING: UpdateLayout = { groups: 2, cache: 'streaming', block: 256 };

test('the kernels use nothing the CPU twin cannot run faithfully, and no #include (NVRTC)', () => {
  const sources = [engineKernelSource(), ...RULES.flatMap((r) => [renderChildrenUpdate(compileRule(r)), renderChildrenUpdate(compileRule(r), STREAMING)])];
  for (const src of sources) {
    const code = src.replace(/\/\/[^\n]*/g, '');
    // Barriers and shared memory the twin runs as fibers (emu-barrier.test.ts); warp intrinsics and atomics it cannot.
    for (const banned of ['atomic', '__shfl', '__ballot', '__any_sync', '__all_sync', '#include']) {
      assert.ok(!code.includes(banned), `${banned} in ${src.slice(0, 80)}`);
    }
  }
});

test('the twin\'s source lists every kernel of the engine in its launcher table', () => {
  const names = kernelNames(engineKernelSource());
  assert.ok(names.length >= 15 && names.includes('nos_gemm') && names.includes('nos_loss_check'), names.join());
  const twin = emulationSource(engineKernelSource());
  for (const n of names) assert.ok(twin.includes(`NOS_EMU_EXPORT(${n})`), n);
  assert.deepEqual(kernelNames(renderChildrenUpdate(compileRule('adam'))), ['nos_update_children']);
  // Fibers (emu_launch.h) where a kernel synchronizes, and not in the rule libraries a search loads by the hundred.
  assert.ok(twin.includes('#define NOS_EMU_FIBERS 1'));
  assert.ok(!emulationSource(renderChildrenUpdate(compileRule('adam'))).includes('#define NOS_EMU_FIBERS'));
});

const nvcc = which('nvcc') ?? which('/usr/local/cuda/bin/nvcc');

test('nvcc compiles the engine and children updates to PTX, and ptxas assembles them for sm_90', { skip: nvcc ? false : 'no CUDA toolkit (nvcc) found' }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-engine-nvcc-'));
  const run = (exe: string, args: string[]) => new Promise<string>((resolve) => {
    execFile(exe, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => resolve(err ? `${err.message}\n${stderr}` : ''));
  });
  try {
    const units: Array<[string, string]> = [['engine', engineKernelSource()], ...RULES.map((r, i): [string, string] => [`rule${i}`, renderChildrenUpdate(compileRule(r))]),
      ...RULES.map((r, i): [string, string] => [`streaming${i}`, renderChildrenUpdate(compileRule(r), STREAMING)])];
    for (const [name, src] of units) {
      fs.writeFileSync(path.join(dir, `${name}.cu`), src);
      // As NVRTC gets them: the flags of native/cuda/cuda_kernel.cc's nvrtcCompile.
      assert.equal(await run(nvcc!, ['-ptx', '-arch=compute_90', '--fmad=false', '-std=c++17', '-diag-suppress', '177', path.join(dir, `${name}.cu`), '-o', path.join(dir, `${name}.ptx`)]), '', `${name}: nvcc`);
      const ptxas = path.join(path.dirname(nvcc!), 'ptxas');
      if (fs.existsSync(ptxas)) assert.equal(await run(ptxas, ['-arch=sm_90', path.join(dir, `${name}.ptx`), '-o', path.join(dir, `${name}.cubin`)]), '', `${name}: ptxas`);
      const ptx = fs.readFileSync(path.join(dir, `${name}.ptx`), 'utf8');
      for (const k of kernelNames(src)) assert.match(ptx, new RegExp(`\\.entry ${k}\\(`), `${name}: ${k}`);
      // The update's 16-byte accesses, evict-first in the streaming layout.
      if (name.startsWith('rule')) assert.match(ptx, /ld\.global\.v4\.f32/, `${name}: 16-byte loads`);
      if (name.startsWith('streaming')) {
        assert.match(ptx, /ld\.global\.cs\.v4\.f32/, `${name}: streaming loads`);
        assert.match(ptx, /st\.global\.cs\.v4\.f32/, `${name}: streaming stores`);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
