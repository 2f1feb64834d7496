// On a GPU: the child engine against its CPU twin (which CI holds to the onnxruntime path): per step, three children's
// losses and gradients within 1e-4 relative and their updates equal to the CPU optimizer's on the same gradients
// within a few ulps (the GPU's expf and logf differ from glibc's); a small protocol's rewards within 1 point; the
// children update of several rules against createOptimizer; every update layout against the default; the tiled
// convolution kernels against the direct ones; `nos eval --device cuda` through its worker process.  Skips itself
// where no CUDA driver or GPU is present.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compileRule } from '../../src/compiler';
import { NOS_SCALAR_COUNT } from '../../src/compiler/kernel-abi';
import { DEFAULT_UPDATE_LAYOUT, layoutName, type UpdateLayout } from '../../src/compiler/render-children';
import { loadAddon } from '../../src/runtime/binding';
import type { PreparedData } from '../../src/runtime/child/data';
import { createModel, type ModelKind } from '../../src/runtime/child/models';
import { loadProtocol, PROTOCOLS, type EvalOutcome, type ProtocolConfig } from '../../src/runtime/child/protocol';
import { evaluateRuleOnEngine } from '../../src/runtime/engine/evaluate-rule';
import { ChildEngine, EngineField, type EngineDevice } from '../../src/runtime/engine/child-engine';
import { ChildInputs } from '../../src/runtime/engine/child-inputs';
import { EngineEvaluator, loadEngineData } from '../../src/runtime/engine/engine-evaluator';
import { findCompiler } from '../../src/runtime/kernel-cache';
import { createOptimizer } from '../../src/runtime/optimizer';
import { StepScalars } from '../../src/runtime/scalars';
import { relativeError } from '../support/relative-error';
import { assertTiledKernelsAgree, TILED_CASES } from '../support/tiled-steps';

function problem(): string | false {
  try {
    loadAddon().cudaDeviceInfo();
  } catch (err) {
    return `no GPU: ${(err as Error).message.split('\n')[0]}`;
  }
  return findCompiler() ? false : 'no C++ compiler for the CPU twin';
}
const skip = problem();
const DATA = process.env.NOS_TEST_DATA; // the device check points this at its carried Fashion-MNIST
const CHILDREN = [{ rule: 'adam', lr: 0.01, seed: 1 }, { rule: 'sgd', lr: 0.1, seed: 1 }, { rule: 'powersign-cd', lr: 0.02, seed: 7 }];

/** The top-left `height` x `width` of each 28x28 image. */
function crop(split: PreparedData['train'], height: number, width: number): PreparedData['train'] {
  const images = new Float32Array(split.count * height * width);
  for (let i = 0; i < split.count; i++)
    for (let y = 0; y < height; y++) images.set(split.images.subarray(i * 784 + y * 28, i * 784 + y * 28 + width), (i * height + y) * width);
  return { ...split, images };
}

async function steps(kind: ModelKind, batch: number, count: number, [height, width] = [28, 28]): Promise<void> {
  const full = loadEngineData({ ...PROTOCOLS.quick, trainExamples: 200, validationExamples: 100 }, DATA);
  const data = { ...full, height, width, train: crop(full.train, height, width), validation: crop(full.validation, height, width) };
  const model = createModel(kind, [1, height, width], 10, batch);
  const make = (device: EngineDevice) => ChildEngine.create({ device, model, capacity: 4, batchSize: batch, stepsPerRound: 1 });
  const gpu = make('cuda');
  const twin = make('host');
  try {
    const inputs = new ChildInputs(model, gpu.offsets, gpu.paramCount, data.train.count);
    const slots = [3, 0, 1];
    const flat = new Float32Array(3 * gpu.paramCount);
    CHILDREN.forEach((c, k) => flat.set(inputs.initialWeights(c.seed), k * gpu.paramCount));
    const infos = CHILDREN.map((c) => compileRule(c.rule));
    const scalars = CHILDREN.map((c, k) => new StepScalars(infos[k], { lr: c.lr, schedule: { kind: 'constant' }, betas: [0.9, 0.999, 0.999], delta: 1e-8, momentum: 0.9, biasCorrection: true, totalSteps: 50, seed: c.seed }));
    for (const e of [gpu, twin]) { e.setData(data.train, data.validation); e.start(slots, flat); }
    const views = (f: Float32Array) => gpu.offsets.map((o, i) => f.subarray(o, o + model.params[i].shape.reduce((a, b) => a * b, 1)));
    for (let step = 0; step < count; step++) {
      const orders = CHILDREN.map((c) => { const o = inputs.order(c.seed, 0); return Uint32Array.from(o, (_, i) => o[(i + step * batch) % o.length]); });
      const rows = scalars.map((s) => s.fill(step + 1).slice(0, NOS_SCALAR_COUNT));
      const before = slots.map((s) => gpu.read(s, EngineField.params));
      const round = async (e: ChildEngine) => e.runRound({ slots, orders, orderOf: [0, 1, 2], t0: slots.map(() => step), seeds: CHILDREN.map((c) => c.seed), scalars: rows, rules: infos.map((i) => e.ruleHandle(i)), steps: 1 });
      const [g, t] = [await round(gpu), await round(twin)];
      for (let k = 0; k < 3; k++) {
        const where = `${kind} ${CHILDREN[k].rule} step ${step + 1}`;
        assert.ok(Math.abs(g.lastLoss[k] / t.lastLoss[k] - 1) <= 1e-4, `${where}: loss ${g.lastLoss[k]} vs twin ${t.lastLoss[k]}`);
        const gg = views(gpu.read(slots[k], EngineField.grads));
        const tg = views(twin.read(slots[k], EngineField.grads));
        model.params.forEach((p, i) => assert.ok(relativeError(gg[i], tg[i]) <= 1e-4, `${where}: gradient of ${p.name} off by ${relativeError(gg[i], tg[i])}`));
        // The first update against the CPU optimizer on the GPU's own gradients, from the same parameters and state.
        if (step > 0) continue;
        const opt = createOptimizer(infos[k], { lr: CHILDREN[k].lr, totalSteps: 50, seed: CHILDREN[k].seed, threads: 1 });
        const params = views(before[k].slice());
        opt.step(params, gg);
        const after = views(gpu.read(slots[k], EngineField.params));
        params.forEach((p, i) => assert.ok(relativeError(after[i], p) <= 1e-6, `${where}: update of ${model.params[i].name} off by ${relativeError(after[i], p)}`));
        opt.dispose();
      }
    }
  } finally {
    gpu.close();
    twin.close();
  }
}

test('GPU engine vs its CPU twin, step by step (MLP): losses, gradients, updates', { skip }, () => steps('mlp', 25, 4));
test('GPU engine vs its CPU twin, step by step (convnet): losses, gradients, updates', { skip }, () => steps('convnet', 20, 3));
test('GPU engine vs its CPU twin on odd sides (27x25 crops): losses, gradients, updates', { skip }, () => steps('convnet', 20, 2, [27, 25]));

test('a small protocol on the GPU gives the CPU twin\'s rewards within 1 point', { skip }, async () => {
  const protocol: ProtocolConfig = { ...PROTOCOLS.quick, trainExamples: 1000, validationExamples: 500, threads: 1 };
  const run = async (device: EngineDevice) => {
    const e = EngineEvaluator.create({ device, protocol, data: { path: DATA }, capacity: 21 });
    try {
      e.submit(['adam', 'sgd', 'powersign'].map((rule) => ({ id: rule, rule, seed: 0 })));
      const out: Record<string, { reward: number; bestLr: number | null }> = {};
      for (let i = 0; i < 3; i++) { const r = await e.next(); out[r.id] = r.outcome; }
      return out;
    } finally {
      await e.close();
    }
  };
  const [gpu, twin] = [await run('cuda'), await run('host')];
  for (const rule of ['adam', 'sgd', 'powersign']) {
    assert.ok(Math.abs(gpu[rule].reward - twin[rule].reward) <= 0.01, `${rule}: GPU ${gpu[rule].reward}, twin ${twin[rule].reward}`);
    assert.equal(gpu[rule].bestLr, twin[rule].bestLr, rule);
  }
});

test('nos eval --device cuda, in its GPU worker process, gives the in-process engine\'s outcome', { skip }, async () => {
  // The worker path (fork, ready, time limit, NVRTC found by the worker itself) has otherwise run on the fake driver only.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-gpu-eval-'));
  try {
    const file = path.join(dir, 'small.json');
    fs.writeFileSync(file, JSON.stringify({ extends: 'quick', name: 'small', trainExamples: 1000, validationExamples: 500 }));
    const nos = path.join(__dirname, '..', '..', 'src', 'cli', 'nos' + path.extname(__filename));
    const execArgv = path.extname(__filename) === '.ts' ? ['--import', 'tsx'] : [];
    const args = [...execArgv, nos, 'eval', 'adam', '--protocol', file, '--device', 'cuda', '--json', '--no-progress', ...(DATA ? ['--data', DATA] : [])];
    const printed = JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8', timeout: 120_000 })) as EvalOutcome;
    const inProcess = await evaluateRuleOnEngine('adam', loadProtocol(file), { path: DATA }, { device: 'cuda', seed: 0 });
    assert.equal(printed.status, 'ok', printed.error);
    assert.equal(printed.bestLr, inProcess.bestLr);
    assert.ok(Math.abs(printed.reward - inProcess.reward) <= 1e-6, `worker ${printed.reward}, in process ${inProcess.reward}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// Every update layout (render-children.ts) on the GPU gives the default layout's parameters and state bit for bit:
// the same element code and flags, only the spread over threads and the cache hints differ.
const LAYOUTS: UpdateLayout[] = [
  { groups: 1, cache: 'streaming', block: 256 }, { groups: 2, cache: 'default', block: 256 },
  { groups: 2, cache: 'streaming', block: 128 }, { groups: 1, cache: 'default', block: 512 },
];
test('every update layout gives the default layout\'s update on the GPU, bit for bit', { skip }, async () => {
  const model = createModel('convnet', [1, 28, 28], 10, 1); // 25,322 parameters: most children start unaligned
  const engine = ChildEngine.create({ device: 'cuda', model, capacity: 5, batchSize: 1, stepsPerRound: 2 });
  try {
    const slots = [4, 1, 2];
    const p = engine.paramCount;
    const flat = Float32Array.from({ length: slots.length * p }, () => Math.random() * 2 - 1);
    const grads = slots.map(() => Float32Array.from({ length: p }, () => (Math.random() - 0.5) * 0.2));
    for (const rule of ['sgd', 'adam', 'powersign-cd', '-g + anoise + drop(noise, 0.5)']) {
      const info = compileRule(rule);
      const rows = slots.map((_, k) => {
        const s = new StepScalars(info, { lr: 0.01 * (k + 1), schedule: { kind: 'constant' }, betas: [0.9, 0.999, 0.999], delta: 1e-8, momentum: 0.9, biasCorrection: true, totalSteps: 20, seed: k });
        return Float32Array.from([...s.fill(1), ...s.fill(2)]);
      });
      const run = async (layout: UpdateLayout) => {
        engine.start(slots, flat);
        slots.forEach((s, k) => engine.write(s, EngineField.grads, grads[k]));
        const handle = await engine.ruleHandleAsync(info, layout);
        await engine.runRound({ slots, orders: [], orderOf: [0, 0, 0], t0: [0, 0, 0], seeds: [0, 1, 2], scalars: rows, rules: slots.map(() => handle), steps: 2, updateOnly: true });
        const fields = [EngineField.params, EngineField.state0, EngineField.state0 + 1];
        return slots.map((s) => fields.map((f) => engine.read(s, f)));
      };
      const want = await run(DEFAULT_UPDATE_LAYOUT);
      for (const layout of LAYOUTS) {
        const got = await run(layout);
        want.forEach((child, k) => child.forEach((field, f) => field.forEach((x, i) => {
          if (!Object.is(x, got[k][f][i])) assert.fail(`${rule}, layout ${layoutName(layout)}, child ${k}, field ${f}, element ${i}: ${got[k][f][i]}, default layout ${x}`);
        })));
      }
    }
  } finally {
    engine.close();
  }
});

test('the tiled convolution kernels (shared memory, barriers) give the direct ones\' gradients on the GPU, bit for bit', { skip }, async () => {
  for (const c of TILED_CASES) {
    await assertTiledKernelsAgree('cuda', { conv: 'tiled', wgrad: 'direct' }, c);
    await assertTiledKernelsAgree('cuda', { conv: 'direct', wgrad: 'tiled' }, c);
  }
  await assertTiledKernelsAgree('cuda', { conv: ['tiled', 'direct'], wgrad: ['direct', 'tiled'] }, TILED_CASES[0]); // per layer
});
