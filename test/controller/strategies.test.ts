// Random search and regularized evolution on the Strategy interface, and createStrategy's checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createStrategy, loadSearchSpace, presetNames, type Candidate, type Strategy } from '../../src/controller/strategy';
import { compileRule, decodeTokens, printInfix } from '../../src/compiler';
import { DecisionSpace } from '../../src/controller/decisions';
import { EvolutionStrategy } from '../../src/controller/evolution';
import { ruleProblem } from './rule-check';

const signFamily = loadSearchSpace('sign-family');
const paperFull = loadSearchSpace('paper-full');

/** A toy objective: how many of the tokens sign_m, mul and exp the rule uses (0..1). */
const toy = (c: Candidate) => ['sign_m', 'mul', 'exp'].filter((t) => c.tokens.includes(t)).length / 3;

function run(strategy: Strategy, batches: number): number[] {
  const rewards: number[] = [];
  for (let b = 0; b < batches; b++) {
    const batch = strategy.propose(5);
    const results = batch.map((candidate) => ({ candidate, reward: toy(candidate) }));
    rewards.push(...results.map((r) => r.reward));
    strategy.feedback(results);
  }
  return rewards;
}

for (const kind of ['random', 'evolution'] as const) {
  test(`${kind}: valid candidates with JSON meta, and a save/load round trip continues the same stream`, () => {
    for (const space of [signFamily, paperFull]) {
      const a = createStrategy(kind, space, 17);
      for (let b = 0; b < 8; b++) {
        const batch = a.propose(5);
        for (const c of batch) {
          assert.equal(ruleProblem(c.tokens, space), null, `${space.name}: '${c.tokens.join(' ')}'`);
          assert.deepEqual(JSON.parse(JSON.stringify(c.meta)), c.meta, 'meta is JSON');
        }
        a.feedback(batch.map((candidate) => ({ candidate, reward: toy(candidate) })));
      }
      const saved = JSON.stringify(a.saveState());
      const b = createStrategy(kind, space, 18);
      b.loadState(JSON.parse(saved));
      assert.deepEqual(run(b, 4), run(a, 4));
      assert.equal(JSON.stringify(b.saveState()), JSON.stringify(a.saveState()));
    }
  });
}

test('evolution: mutants of a tournament winner change one decision (plus only what the change forces), the oldest ages out', () => {
  const strategy = createStrategy('evolution', signFamily, 4, { populationSize: 10, tournamentSize: 3 }) as EvolutionStrategy;
  const ds = new DecisionSpace(signFamily);
  const first = strategy.propose(10);
  assert.ok(first.every((c) => (c.meta as { origin: string }).origin === 'random'), 'random until the population is full');
  strategy.feedback(first.map((candidate) => ({ candidate, reward: toy(candidate) })));
  assert.equal(strategy.population.length, 10);
  const children = strategy.propose(200);
  for (const child of children) {
    const meta = child.meta as { origin: string; parent: string; step: number };
    assert.equal(meta.origin, 'mutation');
    assert.ok(strategy.population.some((m) => m.tokens.join(' ') === meta.parent), 'the parent is a member');
    const parent = ds.pathOf(meta.parent.split(' ')), path = ds.pathOf(child.tokens);
    assert.deepEqual(path.choices.slice(0, meta.step), parent.choices.slice(0, meta.step), 'decisions before the mutated one are kept');
    assert.notEqual(path.choices[meta.step], parent.choices[meta.step], 'the mutated decision changes');
    for (let s = meta.step + 1; s < path.choices.length; s++) {
      if (path.choices[s] !== parent.choices[s]) {
        assert.equal(ds.allowed(path.choices.slice(0, s))[parent.choices[s]], 0, `decision ${s} changed only because the parent's became invalid`);
      }
    }
  }
  const oldest = strategy.population[0];
  const next = strategy.propose(3);
  strategy.feedback(next.map((candidate) => ({ candidate, reward: 0 })));
  assert.equal(strategy.population.length, 10);
  assert.ok(!strategy.population.includes(oldest), 'the oldest left');
  assert.deepEqual(strategy.population.slice(-3).map((m) => m.tokens), next.map((c) => c.tokens));
});

test('evolution, steady state: random for the first populationSize proposals, then mutants of whatever has been fed back', () => {
  const strategy = createStrategy('evolution', signFamily, 6, { populationSize: 8, tournamentSize: 4, batchSize: 1 }) as EvolutionStrategy;
  const inFlight: Candidate[] = [];
  const origins: string[] = [];
  // Six proposals in flight at once; each one fed back lets one more be proposed.
  for (let i = 0; i < 30; i++) {
    while (inFlight.length < 6) {
      const [c] = strategy.propose(1);
      origins.push((c.meta as { origin: string }).origin);
      inFlight.push(c);
    }
    const done = inFlight.shift()!;
    strategy.feedback([{ candidate: done, reward: toy(done) }]);
  }
  assert.deepEqual(origins.slice(0, 8), Array(8).fill('random'));
  // The ninth proposal came when only 3 results had been fed back: a tournament among those 3, not a random rule.
  assert.deepEqual([...new Set(origins.slice(8))], ['mutation']);
  assert.equal(strategy.population.length, 8);
  // A state saved before `proposed` existed continues the old rule (random until the population is full).
  const saved = strategy.saveState() as Record<string, unknown>;
  const { proposed: _p, ...old } = saved;
  const restored = createStrategy('evolution', signFamily, 1, { populationSize: 8, tournamentSize: 4, batchSize: 1 }) as EvolutionStrategy;
  restored.loadState(old);
  assert.equal(restored.proposed, 8);
});

test('evolution beats its own random start on a toy objective; random search stays flat', () => {
  const evolution = run(createStrategy('evolution', signFamily, 9), 40);
  const random = run(createStrategy('random', signFamily, 9), 40);
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const lateEvolution = mean(evolution.slice(-50)), earlyEvolution = mean(evolution.slice(0, 20));
  assert.ok(lateEvolution > earlyEvolution + 0.2, `evolution: first 20 mean ${earlyEvolution}, last 50 mean ${lateEvolution}`);
  assert.ok(lateEvolution > mean(random.slice(-50)) + 0.2, `evolution last 50 ${lateEvolution} vs random ${mean(random.slice(-50))}`);
});

test('createStrategy checks its arguments', () => {
  assert.throws(() => createStrategy('annealing' as 'ppo', signFamily, 1), /unknown strategy 'annealing' \(expected ppo, random, evolution\)/);
  assert.throws(() => createStrategy('evolution', signFamily, 1, { population: 5 }), /evolution: unknown option 'population'/);
  assert.throws(() => createStrategy('evolution', signFamily, 1, { populationSize: 3, tournamentSize: 5 }), /tournamentSize 5 exceeds populationSize 3/);
  assert.throws(() => createStrategy('random', signFamily, NaN), /seed must be a finite number/);
  assert.throws(() => createStrategy('random', { ...signFamily, operands: ['g', 'bogus'] }, 1), /\/operands\/1: 'bogus' is not an operand/);
  assert.throws(() => createStrategy('random', signFamily, 1).feedback([{ candidate: { tokens: ['g'], meta: null }, reward: 1 }]), /random feedback: result 0: rule 'g': length/);
});

test('every candidate of every strategy decodes and compiles, in every preset', () => {
  for (const name of presetNames()) {
    const space = loadSearchSpace(name);
    for (const kind of ['random', 'evolution', 'ppo'] as const) {
      const strategy = createStrategy(kind, space, 31, kind === 'ppo' ? { hiddenSize: 16 } : {});
      for (let b = 0; b < (kind === 'ppo' ? 4 : 40); b++) {
        const batch = strategy.propose(5);
        // The search loop's path to a rule's identity: decode, print as infix, compile (parse, simplify, analyse).
        for (const c of batch) assert.doesNotThrow(() => compileRule(printInfix(decodeTokens(c.tokens))), `${name}/${kind}: '${c.tokens.join(' ')}'`);
        strategy.feedback(batch.map((candidate) => ({ candidate, reward: toy(candidate) })));
      }
    }
  }
});

test('random with freshDraws: no rule twice in a small space until its rules run out, then repeats; the state keeps what was proposed', () => {
  const small = loadSearchSpace('small');
  const key = (c: Candidate) => compileRule(printInfix(decodeTokens(c.tokens))).hash;
  const plain = createStrategy('random', small, 4);
  const fresh = createStrategy('random', small, 4, { freshDraws: 50 });
  const a: Candidate[] = [], b: Candidate[] = [];
  for (let i = 0; i < 20; i++) { a.push(...plain.propose(5)); b.push(...fresh.propose(5)); }
  assert.ok(new Set(a.map(key)).size < 100, 'uniform sampling repeats itself in a space this small');
  assert.equal(new Set(b.map(key)).size, 100, 'fresh draws do not');
  const saved = JSON.parse(JSON.stringify(fresh.saveState()));
  const again = createStrategy('random', small, 99, { freshDraws: 50 });
  again.loadState(saved);
  assert.deepEqual(again.propose(10), fresh.propose(10));
  assert.throws(() => createStrategy('random', small, 1, { freshDraws: 0 }), /random option freshDraws must be a positive integer, got 0/);
  // freshDraws 1 is uniform sampling as before: the same stream as a strategy without the option.
  assert.deepEqual(createStrategy('random', small, 5, { freshDraws: 1 }).propose(20), createStrategy('random', small, 5).propose(20));
});
