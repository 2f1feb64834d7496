// The protocol on the child engine's CPU twin against evaluateRule (the onnxruntime path) on Fashion-MNIST subsets:
// rewards within 1 point for adam, sgd and powersign (MLP and convnet), divergence and bad rules as evaluateRule
// reports them, results streamed as rules finish, and close() while a round runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { evaluateRule, PROTOCOLS, type EvalOutcome, type ProtocolConfig } from '../../../src/runtime/child/protocol';
import { DataError, DEFAULT_DATA_PATH, fingerprintData } from '../../../src/runtime/child/data';
import { protocolModel } from '../../../src/runtime/child/protocol-data';
import { engineShape } from '../../../src/runtime/engine/child-engine';
import { EngineEvaluator, loadEngineData, type EngineResult } from '../../../src/runtime/engine/engine-evaluator';
import { manyClasses, writeManyClassesNpy } from '../../support/many-classes';

async function drain(evaluator: EngineEvaluator, count: number): Promise<EngineResult[]> {
  const out: EngineResult[] = [];
  for (let i = 0; i < count; i++) out.push(await evaluator.next());
  return out;
}

/**
 * The reward within 1 point (the bar); each swept rate's status equal and its accuracy within 2 points (the
 * two paths round differently, and a few hundred steps apart that moves a handful of held-out answers).
 */
function assertSameProtocolResult(mine: EvalOutcome, ref: EvalOutcome, where: string): void {
  const both = `engine ${JSON.stringify(mine)}\nonnxruntime ${JSON.stringify(ref)}`;
  assert.equal(mine.status, ref.status, `${where}: status\n${both}`);
  assert.ok(Math.abs(mine.reward - ref.reward) <= 0.01, `${where}: reward ${mine.reward} vs onnxruntime ${ref.reward}\n${both}`);
  assert.equal(mine.sweep.length, ref.sweep.length, where);
  mine.sweep.forEach((s, k) => {
    assert.equal(s.status, ref.sweep[k].status, `${where}: lr ${s.lr} status\n${both}`);
    assert.ok(Math.abs(s.accuracy - ref.sweep[k].accuracy) <= 0.02, `${where}: lr ${s.lr} accuracy ${s.accuracy} vs ${ref.sweep[k].accuracy}\n${both}`);
  });
}

async function compareRewards(protocol: ProtocolConfig, rules: string[], dataPath?: string): Promise<void> {
  const evaluator = EngineEvaluator.create({ device: 'host', protocol, data: { path: dataPath }, capacity: rules.length * protocol.lrs.length });
  try {
    evaluator.submit(rules.map((rule, i) => ({ id: `job-${i}`, rule, seed: 0 })));
    assert.equal(evaluator.pending(), rules.length);
    const results = await drain(evaluator, rules.length);
    assert.equal(evaluator.pending(), 0);
    assert.deepEqual(results.map((r) => r.id).sort(), rules.map((_, i) => `job-${i}`));
    for (const r of results) {
      const rule = rules[Number(r.id.slice(4))];
      const ref = await evaluateRule(rule, protocol, { path: dataPath }, { seed: 0 });
      assertSameProtocolResult(r.outcome, ref, `${protocol.model} ${rule}`);
      assert.equal(r.outcome.bestLr, ref.bestLr, `${protocol.model} ${rule}: best lr`);
      if (process.env.NOS_TEST_VERBOSE) console.log(protocol.model, rule, r.outcome.reward, ref.reward, r.outcome.sweep.map((s) => s.accuracy).join(), ref.sweep.map((s) => s.accuracy).join());
    }
  } finally {
    await evaluator.close();
  }
}

test('MLP protocol (1000 examples): adam, sgd and powersign rewards within 1 point of the onnxruntime path', async () => {
  await compareRewards({ ...PROTOCOLS.quick, trainExamples: 1000, validationExamples: 500, threads: 1 }, ['adam', 'sgd', 'powersign']);
});

test('more classes than a byte holds (320, 16-bit labels): the MLP protocol\'s rewards within 1 point of the onnxruntime path', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-engine-classes-'));
  try {
    writeManyClassesNpy(dir, manyClasses(320, 4));
    await compareRewards({ ...PROTOCOLS.quick, name: 'many', trainExamples: 960, validationExamples: 320, batchSize: 32, lrs: [1e-3, 1e-2], finalEpochs: 2, threads: 1 }, ['adam'], dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('convnet protocol (200 examples, batch 20): adam, sgd and powersign rewards within 1 point of the onnxruntime path', async () => {
  await compareRewards({ ...PROTOCOLS.paper, lrs: [1e-3, 1e-2, 1e-1], finalEpochs: 1, trainExamples: 200, validationExamples: 400, batchSize: 20, threads: 1 },
    ['adam', 'sgd', 'powersign']);
});

test('a protocol\'s width reaches the engine: an MLP of 24 hidden units and a convnet of 8 filters, rewards within 1 point', async () => {
  const data = loadEngineData(PROTOCOLS.quick);
  assert.equal((engineShape(protocolModel({ ...PROTOCOLS.quick, hidden: 24 }, data)) as { hidden: number }).hidden, 24);
  assert.equal((engineShape(protocolModel({ ...PROTOCOLS.paper, filters: 8 }, data)) as { filters: number }).filters, 8);
  await compareRewards({ ...PROTOCOLS.quick, hidden: 24, trainExamples: 1000, validationExamples: 500, threads: 1 }, ['adam']);
  await compareRewards({ ...PROTOCOLS.paper, filters: 8, lrs: [1e-2, 1e-1], finalEpochs: 1, trainExamples: 200, validationExamples: 400, batchSize: 20, threads: 1 }, ['sgd']);
});

const tiny: ProtocolConfig = { ...PROTOCOLS.quick, lrs: [1e-3, 1e-1, 1e6], finalEpochs: 2, trainExamples: 400, validationExamples: 200, batchSize: 20, threads: 1 };

test('an engine made for a search refuses other data than the search\'s (its fingerprint), naming both', () => {
  assert.throws(() => EngineEvaluator.create({ device: 'host', protocol: tiny, data: { fingerprint: '0123456789abcdef' } }),
    (e: Error) => e instanceof DataError && new RegExp(`^${DEFAULT_DATA_PATH}: not the search's data \\(fingerprint [0-9a-f]{16} here, the search's 0123456789abcdef\\)`).test(e.message));
  const fingerprint = fingerprintData(loadEngineData(tiny));
  const evaluator = EngineEvaluator.create({ device: 'host', protocol: tiny, data: { fingerprint } });
  return evaluator.close();
});

test('divergence, a rule that never trains, and a bad rule come back as evaluateRule reports them', async () => {
  const rules = ['sgd', 'exp(g)*1e30 + g', 'sign(g)*sgn(m)'];
  const evaluator = EngineEvaluator.create({ device: 'host', protocol: tiny });
  try {
    evaluator.submit(rules.map((rule, i) => ({ id: String(i), rule, seed: 5 })));
    const results = await drain(evaluator, rules.length);
    // The bad rule is answered at once, before any training.
    assert.equal(results[0].id, '2');
    for (const r of results) {
      const rule = rules[Number(r.id)];
      const ref = await evaluateRule(rule, tiny, {}, { seed: 5 });
      assertSameProtocolResult(r.outcome, ref, rule);
      assert.equal(r.outcome.error, ref.error, `${rule}: error`);
      r.outcome.sweep.forEach((s, k) => {
        if (s.status === 'diverged') assert.ok(Math.abs(s.loss / ref.sweep[k].loss - 1) < 1e-4, `${rule}: lr ${s.lr}: the loss that tripped the check, ${s.loss} vs ${ref.sweep[k].loss}`);
      });
    }
    assert.equal(results.find((r) => r.id === '0')!.outcome.sweep[2].status, 'diverged', 'lr 1e6 diverges');
    assert.equal(results.find((r) => r.id === '1')!.outcome.status, 'diverged');
  } finally {
    await evaluator.close();
  }
  await assert.rejects(evaluator.next(), /after close/);
  assert.throws(() => evaluator.submit([{ id: 'x', rule: 'sgd', seed: 0 }]), /after close/);
});

test('rules submitted while others train join at the next round; close() stops a running round', async () => {
  const rounds: number[] = [];
  let aStarted: () => void = () => undefined;
  const started = new Promise<void>((resolve) => { aStarted = resolve; });
  const evaluator = EngineEvaluator.create({
    device: 'host', protocol: { ...tiny, lrs: [1e-2, 1e-1] }, capacity: 2, onRound: (r) => rounds.push(r.children),
    onStart: (id) => { if (id === 'a') aStarted(); },
  });
  evaluator.submit([{ id: 'a', rule: 'sgd', seed: 1 }]);
  const first = evaluator.next();
  await started; // a's kernel is built and its sweep holds both slots (kernels of rules submitted together build in any order)
  evaluator.submit([{ id: 'b', rule: 'adam', seed: 1 }]);
  assert.equal(evaluator.pending(), 2);
  const [r1, r2] = [await first, await evaluator.next()];
  assert.deepEqual([r1.id, r2.id], ['a', 'b'], 'with 2 slots, a\'s sweep runs first; its final run goes ahead of b\'s sweep');
  assert.ok(rounds.every((n) => n <= 2));
  evaluator.submit([{ id: 'c', rule: 'powersign', seed: 1 }]);
  const waiting = evaluator.next();
  await evaluator.close();
  await assert.rejects(waiting, /closed while waiting/);
});
