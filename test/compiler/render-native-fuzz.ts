// By hand, not in npm test: the C++ and host-run CUDA kernels of every fixture rule against the interpreter over many input seeds.
//
//   npx tsc -p . && node dist/test/compiler/render-native-fuzz.js [seeds=200] [first-seed=1]
//
// npm test checks one fresh seed per run; this runs the same comparison (the error bound of
// test/support/kernel-error-bound.ts) over many, compiling the kernels once, and prints the closest call: the largest
// difference as a fraction of its bound.  Exit 1 on the first failure, with the seed that replays it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { renderCpu, CPU_COMPILE_FLAGS } from '../../src/compiler/render-cpu';
import { renderCuda } from '../../src/compiler/render-cuda';
import { fixtureRules, seededRandom } from './render-rules';
import { HARNESS_SOURCE, checkRuns, cpuBundle, cudaEmulationSource, harnessOutput, prepareRuns, runAll, which } from './render-native';

async function main(): Promise<number> {
  const seeds = Number(process.argv[2] ?? 200);
  const first = Number(process.argv[3] ?? 1);
  const compiler = which(process.env.CXX ?? 'g++');
  if (!compiler) { process.stderr.write('no C++ compiler on PATH\n'); return 2; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-native-fuzz-'));
  try {
    const rules = fixtureRules();
    fs.writeFileSync(path.join(dir, 'harness.cc'), HARNESS_SOURCE);
    fs.writeFileSync(path.join(dir, 'bundle.cc'), cpuBundle(rules.map(({ info }) => renderCpu(info))));
    fs.writeFileSync(path.join(dir, 'emulate.cc'), cudaEmulationSource(rules.map(({ info }) => renderCuda(info))));
    const built = await runAll([
      [compiler, ['-O1', path.join(dir, 'harness.cc'), '-o', path.join(dir, 'harness'), '-ldl']],
      [compiler, [...CPU_COMPILE_FLAGS, '-shared', '-fPIC', path.join(dir, 'bundle.cc'), '-o', path.join(dir, 'bundle.so')]],
      [compiler, ['-O1', '-ffp-contract=off', '-fno-math-errno', path.join(dir, 'emulate.cc'), '-o', path.join(dir, 'emulate')]],
    ], 2);
    if (built.some((e) => e !== '')) { process.stderr.write(built.join('\n')); return 1; }
    let closest = { ratio: 0, where: 'none' };
    let differing = 0;
    let compared = 0;
    const started = Date.now();
    for (let seed = first; seed < first + seeds; seed++) {
      const runs = prepareRuns(rules, dir, seededRandom(seed));
      for (const [label, command] of [['C++', (k: number) => [path.join(dir, 'harness'), [path.join(dir, 'bundle.so'), runs[k].input, runs[k].output, `_${k}`]]],
        ['CUDA on host', (k: number) => [path.join(dir, 'emulate'), [String(k), runs[k].input, runs[k].output]]]] as const) {
        const errors = await runAll(runs.map((_, k) => command(k) as [string, string[]]), 2);
        try {
          checkRuns(runs, errors, `${label} (inputs seed ${seed})`);
        } catch (e) {
          process.stderr.write(`FAILED: ${(e as Error).message}\n`);
          return 1;
        }
        runs.forEach((r, k) => harnessOutput(r.output, r.shape).forEach((t, j) => t.w.forEach((a, i) => {
          const x = r.expected[j].w[i];
          const bound = r.bounds[j][i];
          compared++;
          if (a === x || !Number.isFinite(bound) || bound === 0) return;
          differing++;
          const ratio = Math.abs(a - x) / bound;
          if (ratio > closest.ratio) closest = { ratio, where: `${label} seed ${seed} rule ${rules[k].name} tensor ${j}[${i}]: kernel ${a}, interpreter ${x}, bound ${bound}` };
        })));
      }
      if ((seed - first + 1) % 20 === 0) {
        const done = seed - first + 1;
        const eta = ((Date.now() - started) / done) * (seeds - done) / 1000;
        process.stdout.write(`${done}/${seeds} seeds, ETA ${eta.toFixed(0)} s\n`);
      }
    }
    process.stdout.write(`${seeds} seeds x ${rules.length} rules on C++ and host-run CUDA: every w within its bound (${compared} values, ${differing} not bit for bit)\n`);
    process.stdout.write(`closest call: ${closest.ratio.toFixed(3)} of the bound (the test allows 2): ${closest.where}\n`);
    return 0;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then((code) => { process.exitCode = code; }, (e) => { process.stderr.write(`${String(e)}\n`); process.exitCode = 1; });
