// Choosing the convolution kernels by timing them (kernel-tuning.ts): every combination the model can use is timed,
// the engine keeps the fastest, and what the evaluator then computes is bit for bit what the direct kernels give;
// NOS_ENGINE_KERNELS sets the evaluators' default.
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
import { tuneConvKernels } from '../../../src/runtime/engine/kernel-tuning';

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-kernel-tuning-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

const tiny: ProtocolConfig = { ...PROTOCOLS.paper, lrs: [1e-2, 1e-1], finalEpochs: 1, trainExamples: 40, validationExamples: 40, batchSize: 10, threads: 1 };

test('tuning times the four combinations and the engine keeps the fastest', async () => {
  const model = convNet([1, 28, 28], 10, 10);
  const engine = ChildEngine.create({ device: 'host', model, capacity: 3, batchSize: 10, stepsPerRound: 4, cacheDir, threads: 1 });
  try {
    const inputs = new ChildInputs(model, engine.offsets, engine.paramCount, 40);
    const images = new Float32Array(40 * 784).map((_, i) => Math.sin(i));
    const labels = Uint8Array.from({ length: 40 }, (_, i) => i % 10);
    engine.setData({ images, labels, count: 40 }, { images: images.slice(0, 10 * 784), labels: labels.slice(0, 10), count: 10 });
    const tuning = await tuneConvKernels(engine, inputs);
    assert.deepEqual(tuning.timings.map((t) => `${t.kernels.conv}/${t.kernels.wgrad}`), ['direct/direct', 'tiled/direct', 'direct/tiled', 'tiled/tiled']);
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
