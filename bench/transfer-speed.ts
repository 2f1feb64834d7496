// Training speed of the transfer tasks' networks (convnet-large's residual network, lm's character LSTM) in nos
// (onnxruntime graphs from our builder, the fused native update) against the same networks in PyTorch, same run.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resNet } from '../src/runtime/child/models';
import { SeededRandom } from '../src/runtime/child/random';
import { ChildTrainer } from '../src/runtime/child/trainer';
import { createOptimizer } from '../src/runtime/optimizer';
import { CharLstmTrainer } from '../src/transfer/char-lstm';
import { CONVNET_LARGE_FULL } from '../src/transfer/convnet-large';
import { clipGradientNorm, LM_FULL } from '../src/transfer/lm';

const threadCounts = (process.env.NOS_BENCH_THREADS ?? '1,2').split(',').map(Number);
const steps = Number(process.env.NOS_BENCH_STEPS ?? 30);
const rounds = Number(process.env.NOS_BENCH_ROUNDS ?? 2);
/** PyTorch runs twice: with the BLAS Debian links by default, and with OpenBLAS when it is installed. */
const OPENBLAS = '/usr/lib/x86_64-linux-gnu/openblas-pthread';
const VOCAB = 114; // the fortunes corpus's characters (113) plus the catch-all id

interface Figures { perS: number; stepMs: number; cpuMs: number }

/** NOS_BENCH_WIDTHS=32,64,128 times a wider residual network than the task's; NOS_BENCH_ONLY=resnet|lm one network. */
const widths = process.env.NOS_BENCH_WIDTHS ? process.env.NOS_BENCH_WIDTHS.split(',').map(Number) : CONVNET_LARGE_FULL.network.widths;
const only = process.env.NOS_BENCH_ONLY;
const resnetShape = { channels: 1, size: 28, widths, blocks: CONVNET_LARGE_FULL.network.blocks, batch: CONVNET_LARGE_FULL.batchSize };
const lmShape = { vocab: VOCAB, embed: LM_FULL.embed, hidden: LM_FULL.hidden, steps: LM_FULL.steps, batch: LM_FULL.batch, clip: LM_FULL.clipNorm };

/** Times `steps` training steps after 5 warm-up steps: wall and process CPU time. */
async function time(step: () => Promise<void>, perStep: number): Promise<Figures> {
  for (let i = 0; i < 5; i++) await step();
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < steps; i++) await step();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  return { perS: (steps * perStep) / wall, stepMs: (1e3 * wall) / steps, cpuMs: (c.user + c.system) / 1e3 / steps };
}

/** A training step as the task runs it: batch assembly, forward and backward, the fused update. */
async function nosResnet(threads: number): Promise<Figures> {
  const s = resnetShape;
  const trainer = await ChildTrainer.create(resNet([s.channels, s.size, s.size], 10, s.batch, { widths: s.widths, blocks: s.blocks }), { batchSize: s.batch, threads });
  trainer.initialize(0);
  const r = new SeededRandom(1);
  const pixels = s.channels * s.size * s.size;
  const pool = Float32Array.from({ length: 1000 * pixels }, () => r.uniform(-1, 1));
  const labels = Uint8Array.from({ length: 1000 }, () => Math.floor(r.next() * 10));
  const optimizer = createOptimizer('sgd', { lr: 0.01, threads: 1 });
  let k = 0;
  const f = await time(async () => {
    trainer.batchOneHot.fill(0);
    for (let j = 0; j < s.batch; j++, k++) {
      const e = k % 1000;
      trainer.batchImages.set(pool.subarray(e * pixels, (e + 1) * pixels), j * pixels);
      trainer.batchOneHot[j * 10 + labels[e]] = 1;
    }
    await trainer.step();
    optimizer.update(trainer.params, trainer.grads);
  }, s.batch);
  optimizer.dispose();
  await trainer.dispose();
  return f;
}

async function nosLm(threads: number): Promise<Figures> {
  const s = lmShape;
  const trainer = await CharLstmTrainer.create({ vocab: s.vocab, embed: s.embed, hidden: s.hidden, steps: s.steps }, { batch: s.batch, threads });
  trainer.initialize(0);
  const r = new SeededRandom(1);
  const text = Uint16Array.from({ length: 100000 }, () => Math.floor(r.next() * s.vocab));
  const optimizer = createOptimizer('sgd', { lr: 0.01, threads: 1 });
  const batch = new Array<Uint16Array>(s.batch);
  const f = await time(async () => {
    for (let j = 0; j < s.batch; j++) {
      const start = Math.floor(r.next() * (text.length - s.steps - 1));
      batch[j] = text.subarray(start, start + s.steps + 1);
    }
    await trainer.step(batch);
    clipGradientNorm(trainer.grads, s.clip);
    optimizer.update(trainer.params, trainer.grads);
  }, s.batch * s.steps);
  optimizer.dispose();
  await trainer.dispose();
  return f;
}

function torch(kind: 'resnet' | 'lm', threads: number, openblas: boolean): Figures {
  const local = path.join(__dirname, 'transfer_speed_torch.py');
  const file = fs.existsSync(local) ? local : path.join(__dirname, '..', '..', 'bench', 'transfer_speed_torch.py');
  const env = { ...process.env, ...(openblas ? { LD_LIBRARY_PATH: OPENBLAS, OPENBLAS_NUM_THREADS: String(threads) } : {}) };
  const res = spawnSync('/usr/bin/python3', [file, kind, String(threads), String(steps), JSON.stringify(kind === 'resnet' ? resnetShape : lmShape)], { encoding: 'utf8', env });
  if (res.status !== 0) throw new Error(`PyTorch peer failed (${file}): ${res.stderr || res.error}`);
  const j = JSON.parse(res.stdout.trim().split('\n').pop()!);
  return { perS: j.per_s, stepMs: j.step_ms, cpuMs: j.cpu_ms };
}

async function main(): Promise<void> {
  const withOpenblas = fs.existsSync(path.join(OPENBLAS, 'libblas.so.3'));
  const best = (a: Figures | undefined, b: Figures) => (!a || b.perS > a.perS ? b : a);
  console.log(`transfer networks, ${steps} timed steps, best of ${rounds} alternating rounds; PyTorch with the default BLAS${withOpenblas ? ` and with OpenBLAS (${OPENBLAS})` : ' (OpenBLAS not installed: apt-get install libopenblas0-pthread for the second column)'}`);
  console.log(`resnet ${JSON.stringify(resnetShape)}; lm ${JSON.stringify(lmShape)}`);
  console.log('network  threads  nos /s      nos ms  nos cpu ms | torch /s    ms      cpu ms | torch+openblas /s  ms     cpu ms | nos/torch  nos/torch+openblas');
  for (const kind of (['resnet', 'lm'] as const).filter((k) => !only || k === only)) {
    for (const threads of threadCounts) {
      let ours: Figures | undefined;
      let theirs: Figures | undefined;
      let theirsOpen: Figures | undefined;
      for (let round = 0; round < rounds; round++) {
        theirs = best(theirs, torch(kind, threads, false));
        if (withOpenblas) theirsOpen = best(theirsOpen, torch(kind, threads, true));
        ours = best(ours, kind === 'resnet' ? await nosResnet(threads) : await nosLm(threads));
      }
      const n = (x: number, w: number, d = 0) => x.toFixed(d).padStart(w);
      const open = theirsOpen ? `${n(theirsOpen.perS, 17)} ${n(theirsOpen.stepMs, 6, 1)} ${n(theirsOpen.cpuMs, 7, 1)}` : `${'-'.padStart(17)} ${'-'.padStart(6)} ${'-'.padStart(7)}`;
      console.log(`${kind.padEnd(8)} ${String(threads).padStart(7)}  ${n(ours!.perS, 8)}  ${n(ours!.stepMs, 8, 1)}  ${n(ours!.cpuMs, 10, 1)} | ${n(theirs!.perS, 8)} ${n(theirs!.stepMs, 7, 1)} ${n(theirs!.cpuMs, 9, 1)} | ${open} | ${n(ours!.perS / theirs!.perS, 8, 2)}x  ${theirsOpen ? `${n(ours!.perS / theirsOpen.perS, 8, 2)}x` : '-'}`);
    }
  }
  console.log('/s = images per second (resnet) or characters per second (lm); ratio > 1: nos is faster');
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
