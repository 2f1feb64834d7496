// PPO: learns a toy reward, keeps its whole state across save/load, and rejects feedback it cannot use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createStrategy, loadSearchSpace, type Candidate } from '../../src/controller/strategy';
import { PpoStrategy } from '../../src/controller/ppo';
import { decodeTokens, hash as hashRule } from '../../src/compiler';

const small = loadSearchSpace('small');
const toyReward = (c: Candidate) => (c.tokens.includes('sign_m') ? 1 : 0);

/** The exact probability that a rule of the one-group space `small` contains sign_m under the current policy. */
function expectedToyReward(strategy: PpoStrategy): number {
  const ops = strategy.decisions.operandChoices;
  const target = ops.indexOf('sign_m');
  const first = strategy.policy.nextProbabilities([]);
  let p = 0;
  first.forEach((p1, a) => {
    if (p1 === 0) return;
    p += a === target ? p1 : p1 * strategy.policy.nextProbabilities([a])[target];
  });
  return p;
}

test('PPO raises the expected reward of a toy objective (reward 1 when the rule uses sign_m) within 200 samples', () => {
  const strategy = createStrategy('ppo', small, 42, { learningRate: 3e-3 }) as PpoStrategy;
  assert.equal(strategy.config.hiddenSize, 150);
  const before = expectedToyReward(strategy);
  // With distinct operands, uniform choices give 1/6 + 5/6 * 1/5 = 1/3; the initial policy is close to uniform.
  assert.ok(Math.abs(before - 1 / 3) < 0.05, `initial expected reward ${before}`);
  for (let batch = 0; batch < 40; batch++) {
    const candidates = strategy.propose(5);
    strategy.feedback(candidates.map((candidate) => ({ candidate, reward: toyReward(candidate) })));
  }
  const after = expectedToyReward(strategy);
  assert.ok(after > 0.9, `expected reward after 200 samples: ${after} (before ${before})`);
  assert.equal(strategy.updates, 40);
});

test('the baseline is a moving average of rewards, started at the first batch mean', () => {
  const strategy = createStrategy('ppo', small, 1, { baselineDecay: 0.5, learningRate: 1e-5 }) as PpoStrategy;
  assert.equal(strategy.baseline, null);
  const c = strategy.propose(2);
  strategy.feedback([{ candidate: c[0], reward: 0.2 }, { candidate: c[1], reward: 0.6 }]);
  // b = 0.4 (mean), then 0.5*0.4 + 0.5*0.2 = 0.3, then 0.5*0.3 + 0.5*0.6 = 0.45.
  assert.ok(Math.abs(strategy.baseline! - 0.45) < 1e-12, `baseline ${strategy.baseline}`);
  const d = strategy.propose(1);
  strategy.feedback([{ candidate: d[0], reward: 0.85 }]);
  assert.ok(Math.abs(strategy.baseline! - 0.65) < 1e-12, `baseline ${strategy.baseline}`);
});

test('save, JSON, load into a fresh strategy: the same next samples and the same training afterwards', () => {
  const space = loadSearchSpace('sign-family');
  const options = { learningRate: 1e-3, hiddenSize: 32 };
  const a = createStrategy('ppo', space, 5, options);
  for (let i = 0; i < 3; i++) {
    const batch = a.propose(5);
    a.feedback(batch.map((candidate, j) => ({ candidate, reward: (j * 0.13 + i * 0.07) % 1 })));
  }
  const saved = JSON.stringify(a.saveState());
  const b = createStrategy('ppo', space, 999, options); // another seed: everything must come from the state
  b.loadState(JSON.parse(saved));
  assert.equal(JSON.stringify(b.saveState()), saved, 'the loaded state saves back identically');
  const nextA = a.propose(5), nextB = b.propose(5);
  assert.deepEqual(nextB, nextA);
  // The meta travels as JSON (the ledger): feed b the round-tripped candidates.
  a.feedback(nextA.map((candidate, j) => ({ candidate, reward: j / 5 })));
  b.feedback((JSON.parse(JSON.stringify(nextB)) as Candidate[]).map((candidate, j) => ({ candidate, reward: j / 5 })));
  assert.equal(JSON.stringify(b.saveState()), JSON.stringify(a.saveState()), 'weights, Adam state, baseline and RNG agree after another update');
  assert.deepEqual(b.propose(3), a.propose(3));
});

test('a state saved between propose and feedback (a checkpoint mid-batch) resumes into the same update', () => {
  const space = loadSearchSpace('sign-family');
  const a = createStrategy('ppo', space, 8, { learningRate: 1e-3, hiddenSize: 24 });
  const batch = a.propose(5);
  const checkpoint = JSON.stringify(a.saveState());
  const ledger = JSON.stringify(batch);
  const b = createStrategy('ppo', space, 8, { learningRate: 1e-3, hiddenSize: 24 });
  b.loadState(JSON.parse(checkpoint));
  a.feedback(batch.map((candidate, j) => ({ candidate, reward: 0.1 * j })));
  b.feedback((JSON.parse(ledger) as Candidate[]).map((candidate, j) => ({ candidate, reward: 0.1 * j })));
  assert.equal(JSON.stringify(b.saveState()), JSON.stringify(a.saveState()));
  assert.notEqual(JSON.stringify(a.saveState()), checkpoint, 'the update changed the state');
});

test('loadState rejects a state from another space, strategy or configuration, and leaves the strategy as it was', () => {
  const a = createStrategy('ppo', small, 1, { hiddenSize: 16 });
  const before = JSON.stringify(a.saveState());
  const otherSpace = createStrategy('ppo', loadSearchSpace('sign-family'), 1, { hiddenSize: 16 });
  assert.throws(() => a.loadState(otherSpace.saveState()), /ppo loadState: the state was saved for another search space/);
  assert.throws(() => a.loadState(createStrategy('ppo', small, 1, { hiddenSize: 8 }).saveState()), /saved hiddenSize 8 differs from this strategy's 16/);
  assert.throws(() => a.loadState(createStrategy('random', small, 1).saveState()), /saved by strategy 'random'/);
  assert.throws(() => a.loadState({ hello: 1 }), /not a controller state/);
  const broken = JSON.parse(before);
  broken.params['lstm.weight'].base64 = broken.params['lstm.weight'].base64.slice(8);
  assert.throws(() => a.loadState(broken), /params\.lstm\.weight|bytes do not hold/);
  assert.equal(JSON.stringify(a.saveState()), before);
});

test('feedback rejects non-finite rewards, foreign candidates and invalid tokens, naming the result', () => {
  const s = createStrategy('ppo', small, 3, { hiddenSize: 16 });
  const [c] = s.propose(1);
  assert.throws(() => s.feedback([{ candidate: c, reward: NaN }]), /ppo feedback: result 0: reward must be a finite number, got NaN/);
  assert.throws(() => s.feedback([{ candidate: c, reward: 0.5 }, { candidate: c, reward: Infinity }]), /result 1: reward must be a finite number, got Infinity/);
  assert.throws(() => s.feedback([{ candidate: { tokens: c.tokens, meta: { strategy: 'random' } }, reward: 1 }]), /result 0: candidate.meta has no PPO log-probabilities/);
  assert.throws(() => s.feedback([{ candidate: { tokens: ['g', 'g', 'id', 'id', 'add'], meta: c.meta }, reward: 1 }]), /result 0: rule 'g g id id add': token 1 \('g'\): breaks a constraint/);
  assert.throws(() => createStrategy('ppo', small, 1, { learningrate: 1 }), /ppo: unknown option 'learningrate'/);
  assert.throws(() => createStrategy('ppo', small, 1, { clip: 1.5 }), /ppo option clip: must be in \(0, 1\), got 1.5/);
  assert.throws(() => s.propose(-1), /count must be a non-negative integer/);
});

test('a space\'s ppo settings are defaults that options override', () => {
  const space = { ...small, ppo: { learningRate: 0.01, epochs: 2 } };
  const s = createStrategy('ppo', space, 1, { epochs: 4, hiddenSize: 8 }) as PpoStrategy;
  assert.equal(s.config.learningRate, 0.01);
  assert.equal(s.config.epochs, 4);
  assert.equal(s.batchSize, 5);
  assert.equal(s.config.entropyWeight, 0.0015);
  assert.equal(s.config.clip, 0.2);
});

/** Canonical rule hashes of candidates, as the search loop identifies rules. */
const ruleHashes = (cs: Candidate[]) => cs.map((c) => hashRule(decodeTokens(c.tokens)));

/** Trains on the toy reward until the policy has collapsed; returns every proposal. */
function trainToy(freshDraws: number): Candidate[] {
  const strategy = createStrategy('ppo', small, 42, { learningRate: 3e-3, freshDraws, hiddenSize: 32 });
  const all: Candidate[] = [];
  for (let batch = 0; batch < 40; batch++) {
    const candidates = strategy.propose(5);
    all.push(...candidates);
    strategy.feedback(candidates.map((candidate) => ({ candidate, reward: toyReward(candidate) })));
  }
  return all;
}

test('freshDraws: a learning controller keeps proposing rules it has not proposed before; freshDraws 1 resamples its favourites', () => {
  const taking = trainToy(1);
  const fresh = trainToy(20);
  const distinct = (cs: Candidate[]) => new Set(ruleHashes(cs)).size;
  // Both learn the toy reward: most late proposals use sign_m.
  for (const cs of [taking, fresh]) assert.ok(cs.slice(100).filter((c) => toyReward(c) === 1).length >= 80, 'late proposals mostly use sign_m');
  // Taking every draw, the collapsed policy repeats itself; with 20 draws per rule nearly every proposal is new.
  assert.ok(distinct(taking) < 150, `freshDraws 1: ${distinct(taking)} distinct rules of 200`);
  assert.ok(distinct(fresh) > distinct(taking) + 30, `freshDraws 20: ${distinct(fresh)} distinct against ${distinct(taking)}`);
});

test('freshDraws: no rule is proposed twice, across batches or within one, while fresh ones are easy to draw', () => {
  const strategy = createStrategy('ppo', loadSearchSpace('sign-family'), 7, { hiddenSize: 16, freshDraws: 20 });
  const all: Candidate[] = [];
  for (let batch = 0; batch < 20; batch++) {
    const candidates = strategy.propose(5);
    all.push(...candidates);
    strategy.feedback(candidates.map((candidate, j) => ({ candidate, reward: j / 5 })));
  }
  assert.equal(new Set(ruleHashes(all)).size, all.length);
});

test('freshDraws: the proposed rules travel in the state; a state saved before freshDraws loads with none', () => {
  const space = loadSearchSpace('sign-family');
  const options = { hiddenSize: 16, learningRate: 3e-3, freshDraws: 5 };
  const a = createStrategy('ppo', space, 3, options);
  for (let i = 0; i < 6; i++) {
    const batch = a.propose(5);
    a.feedback(batch.map((candidate) => ({ candidate, reward: candidate.tokens.includes('sign_m') ? 1 : 0 })));
  }
  const saved = a.saveState() as { proposed: string[] };
  assert.equal(saved.proposed.length, 30);
  const b = createStrategy('ppo', space, 3, options);
  b.loadState(JSON.parse(JSON.stringify(saved)));
  assert.deepEqual(b.propose(20), a.propose(20), 'a loaded strategy avoids the same rules');
  const old = JSON.parse(JSON.stringify(saved));
  delete old.proposed;
  old.config = Object.fromEntries(Object.entries(old.config).filter(([k]) => k !== 'freshDraws'));
  const c = createStrategy('ppo', space, 3, options) as PpoStrategy;
  c.loadState(old);
  assert.equal(c.config.freshDraws, 1, 'an old state ran the paper\'s sampling, and goes on with it');
  assert.throws(() => c.loadState({ ...JSON.parse(JSON.stringify(saved)), proposed: [1] }), /proposed must be an array of rule hashes/);
  assert.throws(() => createStrategy('ppo', small, 1, { freshDraws: 0 }), /ppo option freshDraws: must be an integer from 1 to 1000, got 0/);
  assert.throws(() => createStrategy('ppo', small, 1, { freshDraws: 2.5 }), /freshDraws: must be an integer/);
});
