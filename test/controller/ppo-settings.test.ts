// PPO settings: the presets, how layers combine (preset, space file, options), the --ppo text form and its errors,
// the advantages (raw and normalized), and states saved before a setting existed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createStrategy, loadSearchSpace, validateSearchSpace } from '../../src/controller/strategy';
import { computeAdvantages, PpoStrategy } from '../../src/controller/ppo';
import { parsePpoSettings, PPO_PRESETS, resolvePpoConfig } from '../../src/controller/ppo-settings';

const small = loadSearchSpace('small');

test('the paper preset holds the paper\'s values (4.2); the default preset differs where the controller must learn', () => {
  const paper = PPO_PRESETS.paper;
  assert.equal(paper.learningRate, 1e-5);
  assert.equal(paper.batchSize, 5);
  assert.equal(paper.hiddenSize, 150);
  assert.equal(paper.initRange, 0.08);
  assert.equal(paper.entropyWeight, 0.0015);
  assert.equal(paper.advantage, 'raw');
  assert.deepEqual(resolvePpoConfig(), PPO_PRESETS.default);
  assert.ok(PPO_PRESETS.default.learningRate > paper.learningRate);
  assert.deepEqual(Object.keys(PPO_PRESETS.default).sort(), Object.keys(paper).sort());
});

test('layers: later ones win, and a layer naming a preset starts again from it', () => {
  assert.equal(resolvePpoConfig({ learningRate: 1e-3 }).learningRate, 1e-3);
  assert.equal(resolvePpoConfig({ learningRate: 1e-3 }, { epochs: 4 }).learningRate, 1e-3);
  const paperOverSpace = resolvePpoConfig({ learningRate: 1e-3, entropyWeight: 0.1 }, { preset: 'paper', epochs: 4 });
  assert.deepEqual(paperOverSpace, { ...PPO_PRESETS.paper, epochs: 4 });
  const spacePaper = resolvePpoConfig({ preset: 'paper' }, { learningRate: 2e-4 });
  assert.deepEqual(spacePaper, { ...PPO_PRESETS.paper, learningRate: 2e-4 });
  // Through createStrategy: the space's block first, then the options.
  const s = createStrategy('ppo', { ...small, ppo: { preset: 'paper', entropyWeight: 0.01 } }, 1, { learningRate: 1e-3, hiddenSize: 8 }) as PpoStrategy;
  assert.deepEqual(s.config, { ...PPO_PRESETS.paper, entropyWeight: 0.01, learningRate: 1e-3, hiddenSize: 8 });
});

test('the --ppo text form: a preset first, then key=value; every mistake is named', () => {
  assert.deepEqual(parsePpoSettings('paper'), { preset: 'paper' });
  assert.deepEqual(parsePpoSettings('learningRate=1e-4, entropyWeight=0.01,advantage=raw'), { learningRate: 1e-4, entropyWeight: 0.01, advantage: 'raw' });
  assert.deepEqual(parsePpoSettings('paper,epochs=4'), { preset: 'paper', epochs: 4 });
  const cases: Array<[string, RegExp]> = [
    ['learningrate=1', /--ppo: unknown setting 'learningrate' \(known: learningRate, /],
    ['learningRate=fast', /--ppo: learningRate=fast is not a number/],
    ['learningRate=', /--ppo: learningRate= is not a number/],
    ['epochs=4,paper', /the preset 'paper' must come first/],
    ['clip=0.1,clip=0.2', /'clip' is given twice/],
    // Names an object has from its prototype are unknown settings, not ones given before.
    ['__proto__=1', /unknown setting '__proto__'/],
    ['toString=1', /unknown setting 'toString'/],
    ['paper,,epochs=2', /empty item/],
    ['fast', /'fast' is neither a preset \(paper, default\) nor key=value/],
    ['advantage=scaled', /--ppo option advantage: must be one of raw, normalized, got "scaled"/],
    ['clip=1', /--ppo option clip: must be in \(0, 1\), got 1/],
    ['epochs=2.5', /--ppo option epochs: must be an integer from 1 to 1000, got 2.5/],
    // Sizes a run cannot allocate are named (hiddenSize=1e9 failed with 'Invalid typed array length').
    ['hiddenSize=1e9', /--ppo option hiddenSize: must be an integer from 1 to 4096, got 1000000000/],
    ['embeddingSize=5000', /--ppo option embeddingSize: must be an integer from 1 to 4096, got 5000/],
    ['epochs=1e9', /--ppo option epochs: must be an integer from 1 to 1000, got 1000000000/],
    ['learningRate=-1e-3', /--ppo option learningRate: must be > 0, got -0.001/],
  ];
  for (const [text, message] of cases) assert.throws(() => parsePpoSettings(text), message, text);
  assert.throws(() => createStrategy('ppo', small, 1, { preset: 'fast' }), /ppo: preset must be one of paper, default, got "fast"/);
});

test('a space file\'s ppo block is checked where it is loaded, naming /ppo', () => {
  const base = { name: 'x', operands: ['g', 'm'], unary: ['id'], binary: ['mul'], depth: 1 };
  assert.equal(validateSearchSpace({ ...base, ppo: { preset: 'paper', advantage: 'normalized' } }).ppo?.preset, 'paper');
  assert.throws(() => validateSearchSpace({ ...base, ppo: { advantage: 'scaled' } }, 'x.json'), /x\.json: \/ppo\/advantage: 'scaled' is not one of raw, normalized/);
  assert.throws(() => validateSearchSpace({ ...base, ppo: { preset: 'fast' } }, 'x.json'), /x\.json: \/ppo\/preset: 'fast' is not one of paper, default/);
  assert.throws(() => validateSearchSpace({ ...base, ppo: { learningrate: 1 } }, 'x.json'), /x\.json: \/ppo: unknown property 'learningrate'/);
});

test('advantages: raw is R - b; normalized divides by the RMS of R - b; both move the baseline the same way', () => {
  // First batch: b = mean = 0.4; deviations -0.2, 0.2 (mean square 0.04); then b and the mean square move on.
  const raw = computeAdvantages([0.2, 0.6], { baseline: null, meanSquare: null }, { baselineDecay: 0.5, advantage: 'raw' });
  const normalized = computeAdvantages([0.2, 0.6], { baseline: null, meanSquare: null }, { baselineDecay: 0.5, advantage: 'normalized' });
  raw.advantages.forEach((a, i) => assert.ok(Math.abs(a - [-0.2, 0.2][i]) < 1e-12));
  normalized.advantages.forEach((a, i) => assert.ok(Math.abs(a - [-1, 1][i]) < 1e-12, `${a}`));
  // b: 0.4 -> 0.3 -> 0.45; ms: 0.04 -> 0.5*0.04 + 0.5*0.04 = 0.04 -> 0.5*0.04 + 0.5*(0.6-0.3)^2 = 0.065.
  for (const r of [raw, normalized]) {
    assert.ok(Math.abs(r.baseline - 0.45) < 1e-12);
    assert.ok(Math.abs(r.meanSquare - 0.065) < 1e-12);
  }
  // Later batches divide by the running RMS from before the batch.
  const next = computeAdvantages([0.85], { baseline: 0.45, meanSquare: 0.065 }, { baselineDecay: 0.5, advantage: 'normalized' });
  assert.ok(Math.abs(next.advantages[0] - 0.4 / Math.sqrt(0.065)) < 1e-12);
  // Equal rewards: the RMS floor keeps the advantages finite.
  const flat = computeAdvantages([0.3, 0.3], { baseline: null, meanSquare: null }, { baselineDecay: 0.9, advantage: 'normalized' });
  assert.deepEqual(flat.advantages, [0, 0]);
});

test('a state saved by an older build (no advantage setting, no advantageMeanSquare) resumes with the paper\'s algorithm', () => {
  const options = { preset: 'paper' as const, learningRate: 1e-3, hiddenSize: 16 };
  const a = createStrategy('ppo', small, 4, options) as PpoStrategy;
  const batch = a.propose(5);
  a.feedback(batch.map((candidate, j) => ({ candidate, reward: j / 10 })));
  const old = a.saveState() as Record<string, unknown>;
  delete (old.config as Record<string, unknown>).advantage;
  delete old.advantageMeanSquare;
  // Resumed under today's defaults, as the search loop does: the saved settings win.
  const b = createStrategy('ppo', small, 4, { hiddenSize: 16 }) as PpoStrategy;
  assert.equal(b.config.advantage, 'normalized');
  b.loadState(JSON.parse(JSON.stringify(old)));
  assert.deepEqual(b.config, { ...PPO_PRESETS.paper, learningRate: 1e-3, hiddenSize: 16 });
  assert.equal(b.advantageMeanSquare, null);
  // And it trains as the original does.
  const next = a.propose(5);
  assert.deepEqual(b.propose(5), next);
  a.feedback(next.map((candidate, j) => ({ candidate, reward: 1 - j / 10 })));
  b.feedback(next.map((candidate, j) => ({ candidate, reward: 1 - j / 10 })));
  const strip = (s: unknown) => { const x = JSON.parse(JSON.stringify(s)); delete x.config.advantage; delete x.advantageMeanSquare; return JSON.stringify(x); };
  assert.equal(strip(b.saveState()), strip(a.saveState()));
});
