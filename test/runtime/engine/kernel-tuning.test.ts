// Choosing the convolution kernels by timing them (kernel-tuning.ts): each kernel of each layer is tried tiled in
// turn, the engine keeps the fastest combination, and what the evaluator then computes is bit for bit what the direct
// kernels give; NOS_ENGINE_KERNELS sets the evaluators' default.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PROTOCOLS, type EvalOutcome, type ProtocolConfig } from '../../../src/runtime/child/protocol';
import { convNet } from '../../../src/runtime/child/models';
import { ChildEngine } from '../../../src/runtime/engine/child-engine';
import { ChildInputs } from '../../../src/runtime/engine/child-inputs';
import { EngineEvaluator, kernelsFromEnv, type RoundReport } from '../../../src/runtime/engine/engine-evaluator';
import { chooseKernels, tuneConvKernels } from '../../../src/runtime/engine/kernel-tuning';
import { perLayer, type ConvKernelChoice } from '../../../src/runtime/engine/child-engine';

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-kernel-tuning-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

const tiny: ProtocolConfig = { ...PROTOCOLS.paper, lrs: [1e-2, 1e-1], finalEpochs: 1, trainExamples: 40, validationExamples: 40, batchSize: 10, threads: 1 };

const name = (k: ConvKernelChoice) => `${perLayer(k.conv).join('+')}/${perLayer(k.wgrad).join('+')}`;

// A fake device's seconds: 100, and what each layer's tiled kernel adds or saves.
const EFFECT = { conv: [2, -10], wgrad: [8, -30] };
const fakeSeconds = (k: ConvKernelChoice) => 100 + (['conv', 'wgrad'] as const)
  .reduce((sum, kernel) => sum + perLayer(k[kernel]).reduce((a, v, layer) => a + (v === 'tiled' ? EFFECT[kernel][layer] : 0), 0), 0);

test('each kernel of each layer is tried tiled on top of the best so far, and only what was faster stays', async () => {
  const tuning = await chooseKernels(async (k) => fakeSeconds(k));
  assert.deepEqual(tuning.timings.map((t) => `${name(t.kernels)} ${t.seconds}`), [
    'direct+direct/direct+direct 100', 'direct+direct/tiled+direct 108', 'direct+direct/direct+tiled 70',
    'tiled+direct/direct+tiled 72', 'direct+tiled/direct+tiled 60',
  ]);
  assert.deepEqual(tuning.chosen, { conv: ['direct', 'tiled'], wgrad: ['direct', 'tiled'] });
  // Where every layer agrees the choice is one variant, as callers write it.
  const allTiled = await chooseKernels(async (k) => 100 - name(k).split('tiled').length);
  assert.deepEqual(allTiled.chosen, { conv: 'tiled', wgrad: 'tiled' });
});

test('a combination the engine refuses is skipped, and stopping early keeps the best so far', async () => {
  const refused = await chooseKernels(async (k) => (perLayer(k.wgrad)[1] === 'tiled' ? null : fakeSeconds(k)));
  assert.equal(refused.timings.length, 4);
  assert.deepEqual(refused.chosen, { conv: ['direct', 'tiled'], wgrad: 'direct' });
  let calls = 0;
  const stopped = await chooseKernels(async (k) => { calls++; return fakeSeconds(k); }, () => calls >= 3);
  assert.deepEqual(stopped.timings.map((t) => t.seconds), [100, 108, 70]);
  assert.deepEqual(stopped.chosen, { conv: 'direct', wgrad: ['direct', 'tiled'] });
  const none = await chooseKernels(async () => 1, () => true);
  assert.deepEqual(none, { chosen: { conv: 'direct', wgrad: 'direct' }, timings: [] });
});

test('tuning on the twin times five combinations and the engine keeps the fastest', async () => {
  const model = convNet([1, 28, 28], 10, 10);
  const engine = ChildEngine.create({ device: 'host', model, capacity: 3, batchSize: 10, stepsPerRound: 4, cacheDir, threads: 1 });
  try {
    const inputs = new ChildInputs(model, engine.offsets, engine.paramCount, 40);
    const images = new Float32Array(40 * 784).map((_, i) => Math.sin(i));
    const labels = Uint8Array.from({ length: 40 }, (_, i) => i % 10);
    engine.setData({ images, labels, count: 40 }, { images: images.slice(0, 10 * 784), labels: labels.slice(0, 10), count: 10 });
    const tuning = await tuneConvKernels(engine, inputs);
    assert.equal(tuning.timings.length, 5);
    assert.equal(name(tuning.timings[0].kernels), 'direct+direct/direct+direct');
    assert.ok(tuning.timings.every((t) => t.seconds > 0));
    const fastest = tuning.timings.reduce((a, b) => (b.seconds < a.seconds ? b : a));
    assert.deepEqual(tuning.chosen, fastest.kernels);
    assert.deepEqual(engine.kernels, tuning.chosen);
  } finally {
    engine.close();
  }
});

async function outcomes(kernels: 'auto' | { conv: 'direct'; wgrad: 'direct' }) {
  const rounds: RoundReport[] = [];
  const evaluator = EngineEvaluator.create({ device: 'host', protocol: tiny, capacity: 4, cacheDir, kernels, onRound: (r) => rounds.push(r) });
  try {
    evaluator.submit(['adam', 'sgd'].map((rule, i) => ({ id: String(i), rule, seed: 5 })));
    const out: EvalOutcome[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await evaluator.next();
      out[Number(r.id)] = { ...r.outcome, seconds: 0 };
    }
    return { out, tuning: evaluator.kernelTuning, rounds };
  } finally {
    await evaluator.close();
  }
}

test("an evaluator with kernels: 'auto' tunes once, reports its kernels per round, and gives the direct kernels' outcomes exactly", async () => {
  const auto = await outcomes('auto');
  const direct = await outcomes({ conv: 'direct', wgrad: 'direct' });
  assert.ok(auto.tuning, 'no tuning report');
  assert.equal(direct.tuning, null);
  assert.ok(auto.rounds.length > 0 && auto.rounds.every((r) => JSON.stringify(r.kernels) === JSON.stringify(auto.tuning!.chosen)));
  assert.ok(direct.rounds.every((r) => r.kernels.conv === 'direct' && r.kernels.wgrad === 'direct'));
  assert.ok(direct.out.some((o) => o.status === 'ok'), JSON.stringify(direct.out.map((o) => o.status)));
  assert.deepEqual(auto.out, direct.out);
});

test('NOS_ENGINE_KERNELS names the evaluators\' default kernels, and a bad value is refused by name', () => {
  assert.equal(kernelsFromEnv({}), undefined);
  assert.equal(kernelsFromEnv({ NOS_ENGINE_KERNELS: 'auto' }), 'auto');
  assert.deepEqual(kernelsFromEnv({ NOS_ENGINE_KERNELS: ' tiled ' }), { conv: 'tiled', wgrad: 'tiled' });
  assert.deepEqual(kernelsFromEnv({ NOS_ENGINE_KERNELS: 'direct' }), { conv: 'direct', wgrad: 'direct' });
  assert.throws(() => kernelsFromEnv({ NOS_ENGINE_KERNELS: 'fast' }), /NOS_ENGINE_KERNELS must be 'direct', 'tiled' or 'auto', got "fast"/);
});
