// Multi-fidelity, the search's side: the protocol of each stage, the funnel's promotion rule, the screened reward.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkProtocol, PROTOCOLS } from '../../src/runtime/child/protocol';
import { InputError } from '../../src/errors';
import { buildSearchConfig } from '../../src/search/search-inputs';
import { DEFAULT_FIDELITY, outcomeLabel, Promoter, PROMOTE_FRACTION, PROMOTE_WARMUP, screenedReward, stageProtocol } from '../../src/search/fidelity';

test('stage protocols: full as is; halving inside the sweep; the funnel screens on the MLP (paper) or with the sweep alone (quick)', () => {
  const { paper, quick } = PROTOCOLS;
  assert.deepEqual(stageProtocol(paper, 'full', 'full'), paper);
  assert.deepEqual(stageProtocol(quick, 'halving', 'full'), { ...quick, sweep: 'halving' });
  const paperScreen = stageProtocol(paper, 'funnel', 'screen');
  assert.deepEqual(paperScreen, { ...paper, name: 'paper:screen', sweep: 'halving', model: 'mlp', threads: 1, maxSeconds: 120 });
  assert.deepEqual(stageProtocol(paper, 'funnel', 'full', 0.01), { ...paper, sweep: 'halving' });
  // A narrower convnet screens on quick's MLP all the same (the filters are the convnet's; the MLP would refuse them).
  const narrowScreen = stageProtocol({ ...paper, filters: 16 }, 'funnel', 'screen');
  assert.deepEqual(narrowScreen, paperScreen);
  checkProtocol(narrowScreen as typeof paper);
  // A wider MLP screens at its own width.
  assert.equal((stageProtocol({ ...quick, hidden: 300 }, 'funnel', 'screen') as typeof quick).hidden, 300);
  assert.deepEqual(stageProtocol(quick, 'funnel', 'screen'), { ...quick, name: 'quick:screen', sweep: 'halving', finalEpochs: 0 });
  // A promoted quick rule trains only the final run, at the rate its screen (quick's own sweep) chose.
  assert.deepEqual(stageProtocol(quick, 'funnel', 'full', 0.001), { ...quick, sweep: 'none', lrs: [0.001] });
  assert.deepEqual(stageProtocol({ name: 'fake', sleepMs: 1 }, 'funnel', 'screen'), { name: 'fake', sleepMs: 1, screen: true });
  assert.deepEqual(stageProtocol({ name: 'fake', sleepMs: 1 }, 'funnel', 'full'), { name: 'fake', sleepMs: 1 });
});

test('promotion: the first screens all go on; then a screen goes on when fewer than the fraction of screens so far did better', () => {
  const promoter = new Promoter();
  for (let i = 0; i < PROMOTE_WARMUP; i++) assert.equal(promoter.decide(0.1 + i / 100).promote, true, `warm-up screen ${i}`);
  assert.equal(promoter.decide(0.05).promote, false, 'the worst of nine');
  assert.equal(promoter.decide(0.9).promote, true, 'the best so far');
  // 10 screens so far; an 11th that 2 beat (fewer than 0.25 x 11) goes on, one that 3 beat does not.
  assert.equal(promoter.decide(0.165).promote, true);
  assert.equal(promoter.decide(0.155).promote, false);
  assert.ok(PROMOTE_FRACTION > 0 && PROMOTE_FRACTION < 1);
});

test('a rule stopped at the screen is worth less than 0.5 whatever it scored, and is counted as screened-out', () => {
  assert.equal(screenedReward(0), 0);
  assert.ok(screenedReward(1) < 0.5 + 1e-12 && screenedReward(0.99) < 0.5);
  assert.ok(screenedReward(0.8) > screenedReward(0.6), 'it keeps the order of the screen');
  assert.equal(outcomeLabel('ok', 'screen'), 'screened-out');
  assert.equal(outcomeLabel('diverged', 'screen'), 'diverged');
  assert.equal(outcomeLabel('ok', 'full'), 'ok');
  assert.equal(outcomeLabel('ok', undefined), 'ok');
});

test('fidelity settings: funnel by default on the CPU, full with the CUDA child engine (which trains the whole protocol); a bad one is refused', () => {
  const inputs = { budget: 5, strategy: 'random', space: 'small', protocol: 'quick', device: 'cpu', seed: 1, workers: 1 };
  assert.equal(buildSearchConfig(inputs).fidelity, DEFAULT_FIDELITY);
  assert.equal(buildSearchConfig({ ...inputs, fidelity: 'halving' }).fidelity, 'halving');
  // (With a queue: the search itself needs no GPU, so none is looked for here.)
  assert.equal(buildSearchConfig({ ...inputs, device: 'cuda', queue: 'redis://127.0.0.1:6379' }).fidelity, 'full');
  assert.throws(() => buildSearchConfig({ ...inputs, device: 'cuda', fidelity: 'funnel' }), (e: Error) => e instanceof InputError && /--fidelity funnel is not available with --device cuda/.test(e.message));
  assert.throws(() => buildSearchConfig({ ...inputs, fidelity: 'fast' }), (e: Error) => e instanceof InputError && /--fidelity must be one of full, halving, funnel, got "fast"/.test(e.message));
});
