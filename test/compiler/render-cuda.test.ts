// The CUDA renderer: every named, Table 6 and extra rule compiles to PTX with nvcc (skipped only without a CUDA toolkit).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { cudaLaunchPlan, cudaLaunchPlanC, renderCuda } from '../../src/compiler/render-cuda';
import { fixtureRules, seededRandom } from './render-rules';
import { checkRuns, cudaEmulationSource, prepareRuns, runAll, which } from './render-native';

const nvcc = which('nvcc') ?? which('/usr/local/cuda/bin/nvcc');
const compiler = which(process.env.CXX ?? 'g++');

/**
 * All kernels in one translation unit (one nvcc start instead of fifty): each rule's source in its own namespace,
 * its entry point renamed nos_update_<k>.  The source is otherwise exactly what renderCuda emits.
 */
function bundle(sources: string[]): string {
  return sources.map((src, k) => {
    assert.equal(src.match(/extern "C" __global__ void nos_update\(/g)?.length, 1, 'one entry point per kernel');
    return `namespace rule${k} {\n${src.replace('void nos_update(', `void nos_update_${k}(`)}\n}\n`;
  }).join('\n');
}

test('CUDA kernels of every fixture rule compile with nvcc -ptx', { skip: nvcc ? false : 'no CUDA toolkit (nvcc) found' }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-render-cuda-'));
  try {
    const rules = fixtureRules();
    const sources = rules.map(({ info }) => renderCuda(info));
    fs.writeFileSync(path.join(dir, 'all.cu'), bundle(sources));
    // Two rules also compile alone, exactly as emitted (what NVRTC gets at run time).
    const alone = ['powersign-ld', '-g + anoise + drop(noise, 0.5)'].map((name) => rules.findIndex((r) => r.name === name));
    alone.forEach((k) => fs.writeFileSync(path.join(dir, `rule${k}.cu`), sources[k]));
    const commands: Array<[string, string[]]> = [
      [nvcc!, ['-ptx', '-diag-suppress', '177', path.join(dir, 'all.cu'), '-o', path.join(dir, 'all.ptx')]],
      ...alone.map((k): [string, string[]] => [nvcc!, ['-ptx', '-diag-suppress', '177', path.join(dir, `rule${k}.cu`), '-o', path.join(dir, `rule${k}.ptx`)]]),
    ];
    const errors = await runAll(commands, 2);
    assert.equal(errors[0], '', 'the bundle of all kernels failed to compile');
    alone.forEach((k, j) => assert.equal(errors[j + 1], '', `rule ${rules[k].name} failed to compile alone`));
    const ptx = fs.readFileSync(path.join(dir, 'all.ptx'), 'utf8');
    rules.forEach((r, k) => assert.match(ptx, new RegExp(`\\.entry nos_update_${k}\\(`), `no PTX entry for rule ${r.name}`));
    for (const k of alone) assert.match(fs.readFileSync(path.join(dir, `rule${k}.ptx`), 'utf8'), /\.entry nos_update\(/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('CUDA source is self-contained for NVRTC and follows the ABI', () => {
  const rules = new Map(fixtureRules().map((r) => [r.name, r.info]));
  const src = renderCuda(rules.get('table6-17')!);
  assert.ok(!/#include/.test(src), 'NVRTC sources must not include headers');
  assert.match(src, /struct nos_tensor \{ float\* w; const float\* g; float\* s\[4\]; long long n; unsigned long long rng_base; \};/);
  assert.match(src, /extern "C" __global__ void nos_update\(const nos_tensor\* ts, int count, nos_scalars sc,\s+unsigned int seed, unsigned int step\)/);
  assert.match(src, /ts\[blockIdx\.y\]/);
  // Four elements per thread with 16-byte loads and stores where the arrays allow, runs of 2^30 for 32-bit indices.
  assert.match(src, /nos_load4\(gp \+ first, gp_r\);/);
  assert.match(src, /nos_store4\(wp \+ first, wp_r\);/);
  assert.match(src, /at \+= 1073741824ll/);
  // powersign's exp of the sign product is a table in the prologue, not an expf per element.
  const loop = src.slice(src.indexOf('for (long long at'));
  assert.ok(!/expf/.test(loop), 'expf per element');
});

test('CUDA kernels run on the host (null device) match the interpreter over 4 steps', { skip: compiler ? false : 'no C++ compiler on PATH' }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-render-cuda-host-'));
  try {
    const rules = fixtureRules();
    fs.writeFileSync(path.join(dir, 'emulate.cc'), cudaEmulationSource(rules.map(({ info }) => renderCuda(info))));
    // Same float semantics as the CUDA build would have with --fmad=false; -O1 keeps this one big compile short.
    const [err] = await runAll([[compiler!, ['-O1', '-ffp-contract=off', '-fno-math-errno', path.join(dir, 'emulate.cc'), '-o', path.join(dir, 'emulate')]]]);
    assert.equal(err, '', 'the host build of the CUDA kernels failed');
    const runSeed = (Math.random() * 2 ** 32) >>> 0;
    const runs = prepareRuns(rules, dir, seededRandom(runSeed));
    const errors = await runAll(runs.map((r, k) => [path.join(dir, 'emulate'), [String(k), r.input, r.output]]), 2);
    checkRuns(runs, errors, `CUDA on host (inputs seed ${runSeed})`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// The launch plan has two spellings (TypeScript for the addon's launch, C++ for the PyTorch export's launcher): the
// C++ one, compiled here, must cut the same tensors into the same chunks, with each chunk's pointers and rng_base
// moved by its offset in the tensor.
test('the C++ launch plan cuts tensors into the chunks cudaLaunchPlan says', { skip: compiler ? false : 'no C++ compiler on PATH' }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-launch-plan-'));
  try {
    const program = `#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <vector>
struct nos_tensor { float* w; const float* g; float* s[4]; long long n; unsigned long long rng_base; };
${cudaLaunchPlanC()}
// argv: sizes; tensor k's arrays sit at fake addresses k << 40 (w), + 2^36 (g), + 2^37 (s1), and its rng_base is 1000 k.
int main(int argc, char** argv) {
  std::vector<nos_tensor> ts;
  for (int k = 1; k < argc; ++k) {
    const uintptr_t at = (uintptr_t)k << 40;
    nos_tensor t = {(float*)at, (const float*)(at + (1ull << 36)), {nullptr, (float*)(at + (1ull << 37)), nullptr, nullptr}, atoll(argv[k]), 1000ull * k};
    ts.push_back(t);
  }
  long long blocks = -1;
  const std::vector<nos_tensor> out = nos_update_entries(ts.data(), ts.size(), &blocks);
  printf("%lld %zu\\n", blocks, out.size());
  for (const nos_tensor& e : out) {
    const uintptr_t w = (uintptr_t)e.w, k = w >> 40, offset = (w - (k << 40)) / 4;
    const bool moved = (uintptr_t)e.g == (k << 40) + (1ull << 36) + 4 * offset && (uintptr_t)e.s[1] == (k << 40) + (1ull << 37) + 4 * offset && !e.s[0];
    printf("%llu %llu %lld %llu %d\\n", (unsigned long long)k - 1, (unsigned long long)offset, e.n, e.rng_base - 1000ull * k, moved ? 1 : 0);
  }
  return 0;
}
`;
    fs.writeFileSync(path.join(dir, 'plan.cc'), program);
    const [err] = await runAll([[compiler!, ['-O1', path.join(dir, 'plan.cc'), '-o', path.join(dir, 'plan')]]]);
    assert.equal(err, '', 'the launch plan failed to compile');
    const cases = [[1, 3, 5, 64, 1031], [200_000, 0, 7], Array.from({ length: 40_000 }, () => 100_000), [2 ** 31 + 5]];
    for (const sizes of cases) {
      const plan = cudaLaunchPlan(sizes);
      const lines = execFileSync(path.join(dir, 'plan'), sizes.map(String), { encoding: 'utf8', maxBuffer: 64 << 20 }).trim().split('\n');
      const [blocks, entries] = lines[0].split(' ').map(Number);
      assert.deepEqual({ blocks, entries }, { blocks: plan.blocks, entries: plan.entries }, `sizes ${sizes.slice(0, 5).join(',')}...`);
      const expected: string[] = [];
      sizes.forEach((n, k) => { for (let at = 0; at < n; at += plan.chunk) expected.push(`${k} ${at} ${Math.min(plan.chunk, n - at)} ${at} 1`); });
      assert.deepEqual(lines.slice(1), expected);
    }
    assert.equal(cudaLaunchPlan(Array.from({ length: 40_000 }, () => 100_000)).chunk, 2 ** 17, 'the chunk doubles to keep 65535 entries');
    assert.throws(() => cudaLaunchPlan(new Array(65_536).fill(1)), /at most 65535 tensors per list, got 65536/);
    assert.equal(execFileSync(path.join(dir, 'plan'), new Array(65_536).fill('1'), { encoding: 'utf8' }).split('\n')[0], '-1 0', 'C++ launches nothing');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
