// Lower fidelities of the protocol on small synthetic IDX data: successive halving inside the sweep, no sweep (one
// rate), no final run; each against the full protocol on the same data and seed.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { epochsToTrain, evaluateRule, loadProtocol, ProtocolError, type ProtocolConfig } from '../../../src/runtime/child/protocol';
import { HALVING_RUNGS, HALVING_SUBSET } from '../../../src/runtime/child/sweep-halving';
import { writeBandsIdx } from '../../support/bands-idx';


const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-halving-'));
writeBandsIdx(dataDir, 1300, 1);
after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

// 900 training examples in batches of 20: 45 batches per epoch; rungs at 5, 15 and 45 batches.
const tiny: ProtocolConfig = {
  name: 'tiny', lrs: [1e-4, 1e-3, 1e-2, 1e-1, 1, 1e6, 3e-2], sweepEpochs: 1, finalEpochs: 2, trainExamples: 900, validationExamples: 400,
  batchSize: 20, model: 'mlp', threads: 1, maxSeconds: 60,
};

test('halving: every rate trains a ninth of the sweep, the best third a third, the best one all of it; the final run as usual', async () => {
  const batches: Record<string, number> = {};
  const outcome = await evaluateRule('sgd', { ...tiny, sweep: 'halving' }, { path: dataDir }, { seed: 3,
    onProgress: (p) => { if (p.phase === 'sweep') batches[p.lr] = (batches[p.lr] ?? 0) + 1; } });
  assert.equal(outcome.status, 'ok', outcome.error);
  assert.deepEqual(outcome.sweep.map((e) => e.lr), tiny.lrs, 'one entry per rate, in the protocol\'s order');
  const byLr = new Map(outcome.sweep.map((e) => [e.lr, e]));
  assert.equal(byLr.get(1e6)!.status, 'diverged');
  const trained = outcome.sweep.map((e) => e.epochs);
  assert.equal(trained.filter((e) => e === 1).length, 1, `one rate trains the whole sweep: ${trained}`);
  assert.equal(trained.filter((e) => e === 1 / 3).length, 2, `two more reach a third: ${trained}`);
  assert.equal(byLr.get(outcome.bestLr!)!.epochs, 1, 'the chosen rate is the one that trained the whole sweep');
  // Batches actually trained: 7 x 5 + 3 x 10 + 1 x 30 (a diverged rate stops at once).
  const total = Object.values(batches).reduce((a, b) => a + b, 0);
  assert.ok(total <= 7 * 5 + 3 * 10 + 30 && total > 60, `${total} sweep batches (the full sweep trains ${7 * 45})`);
  assert.ok(outcome.reward > 0.5, `reward ${outcome.reward}`);
  assert.ok(epochsToTrain({ ...tiny, sweep: 'halving' }) < epochsToTrain(tiny) / 2);
  assert.equal(HALVING_RUNGS.at(-1), 1);
  assert.ok(HALVING_SUBSET > 0);
});

test('no sweep: the final run at the one rate equals the full protocol\'s final run at that rate; no final run: the best sweep accuracy', async () => {
  const full = await evaluateRule('adam', tiny, { path: dataDir }, { seed: 4 });
  assert.equal(full.status, 'ok', full.error);
  const direct = await evaluateRule('adam', { ...tiny, sweep: 'none', lrs: [full.bestLr!] }, { path: dataDir }, { seed: 4 });
  assert.equal(direct.reward, full.reward, 'bit for bit the same final run');
  assert.deepEqual(direct.sweep, []);
  assert.equal(direct.bestLr, full.bestLr);
  const sweepOnly = await evaluateRule('adam', { ...tiny, finalEpochs: 0 }, { path: dataDir }, { seed: 4 });
  assert.equal(sweepOnly.reward, Math.max(...full.sweep.map((e) => e.accuracy)));
  assert.equal(sweepOnly.bestLr, full.bestLr);
  assert.ok(sweepOnly.cpuSeconds! > 0 && Number.isFinite(sweepOnly.cpuSeconds));
});

test('protocol files: sweep modes are checked when the file is named', () => {
  const f = path.join(dataDir, 'modes.json');
  fs.writeFileSync(f, JSON.stringify({ extends: 'quick', sweep: 'halving', finalEpochs: 0 }));
  assert.equal(loadProtocol(f).sweep, 'halving');
  fs.writeFileSync(f, JSON.stringify({ extends: 'quick', sweep: 'none' }));
  assert.throws(() => loadProtocol(f), (e: Error) => e instanceof ProtocolError && /\/sweep "none" trains one learning rate, but \/lrs has 7/.test(e.message));
  fs.writeFileSync(f, JSON.stringify({ extends: 'quick', sweep: 'none', lrs: [0.01], finalEpochs: 0 }));
  assert.throws(() => loadProtocol(f), /trains nothing/);
  fs.writeFileSync(f, JSON.stringify({ extends: 'quick', sweep: 'some' }));
  assert.throws(() => loadProtocol(f), /\/sweep must be equal to one of the allowed values/);
});
