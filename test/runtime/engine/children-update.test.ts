// The rule's fused update on the child engine (render-children.ts, one launch per rule over its children) against
// the optimizer's CPU kernel: on the CPU twin every child's parameters and state after several steps equal what
// createOptimizer gives for that child alone bit for bit: its own learning rate, seed, decays (totalSteps) and step
// count, Philox draws included.  Fresh random inputs on every run (the seed is in the failure message).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRule } from '../../../src/compiler';
import { NOS_SCALAR_COUNT, STATE_SLOTS } from '../../../src/compiler/kernel-abi';
import { DEFAULT_UPDATE_LAYOUT, layoutName, renderChildrenUpdate, type UpdateLayout } from '../../../src/compiler/render-children';
import { mlp } from '../../../src/runtime/child/models';
import { ChildEngine, EngineField } from '../../../src/runtime/engine/child-engine';
import { createOptimizer } from '../../../src/runtime/optimizer';
import { StepScalars } from '../../../src/runtime/scalars';
import { seededRandom } from '../../support/seeded-random';
import { EXTRA_RULES } from '../../compiler/render-rules';

// Each state slot, decay kind, sign-product table, random site and operation at least once (the renderers' own
// tests cover every rule against the interpreter; this is about the children's wiring).
const RULES = ['sgd', 'momentum', 'adam', 'rmsprop', 'powersign', 'addsign-ld', 'powersign-cd', 'powersign-rd10',
  'table6-01', 'table6-17', 'table6-24', ...EXTRA_RULES];
// Children of one rule: learning rate, seed, run length (decays see it), steps already done before this round.
const CHILDREN = [
  { lr: 1e-3, seed: 3, totalSteps: 40, t0: 0 },
  { lr: 0.1, seed: 3, totalSteps: 40, t0: 0 },
  { lr: 2.5, seed: 11, totalSteps: 9, t0: 4 },
];
const STEPS = 3;
// Another layout on a subset (each rule is one more C++ build): two groups per thread, 128 threads per block.  Its
// cache hint is CUDA-only; the twin checks the grouping and the launch shape.
const OTHER_LAYOUT: UpdateLayout = { groups: 2, cache: 'streaming', block: 128 };
const OTHER_RULES = ['sgd', 'adam', 'table6-17', 'powersign-cd', '-g + anoise + drop(noise, 0.5)', 'exp(cd(2)*rd(3))*m'];

test(`the children update equals createOptimizer per child, bit for bit (${RULES.length} rules)`, async () => {
  await checkChildrenUpdate(RULES, DEFAULT_UPDATE_LAYOUT);
});

test(`... and so does it in layout ${layoutName(OTHER_LAYOUT)} (${OTHER_RULES.length} rules)`, async () => {
  await checkChildrenUpdate(OTHER_RULES, OTHER_LAYOUT);
});

test('a layout outside UpdateLayout is refused, naming the field', () => {
  assert.throws(() => renderChildrenUpdate(compileRule('sgd'), { groups: 3, cache: 'default', block: 256 } as unknown as UpdateLayout), /groups 3 is not one of 1, 2/);
  assert.throws(() => renderChildrenUpdate(compileRule('sgd'), { groups: 1, cache: 'default', block: 100 } as unknown as UpdateLayout), /block 100/);
});

async function checkChildrenUpdate(rules: readonly string[], layout: UpdateLayout): Promise<void> {
  const runSeed = (Math.random() * 2 ** 32) >>> 0;
  const random = seededRandom(runSeed);
  const model = mlp([1, 4, 4], 3, 5); // 103 parameters in 4 tensors
  const engine = ChildEngine.create({ device: 'host', model, capacity: 4, batchSize: 1, stepsPerRound: STEPS });
  const sizes = model.params.map((p) => p.shape.reduce((a, b) => a * b, 1));
  try {
    for (const name of rules) {
      const info = compileRule(name);
      const handle = engine.ruleHandle(info, layout);
      const slots = [3, 0, 1];
      const w0 = CHILDREN.map(() => Float32Array.from({ length: engine.paramCount }, () => random() * 2 - 1));
      const grads = CHILDREN.map(() => Float32Array.from({ length: engine.paramCount }, () => (random() - 0.5) * 0.2));
      const flat = new Float32Array(slots.length * engine.paramCount);
      w0.forEach((w, k) => flat.set(w, k * engine.paramCount));
      engine.start(slots, flat);
      slots.forEach((slot, k) => engine.write(slot, EngineField.grads, grads[k]));
      const settings = (c: (typeof CHILDREN)[number]) => ({
        lr: c.lr, schedule: { kind: 'constant' as const }, betas: [0.9, 0.999, 0.999] as const, delta: 1e-8, momentum: 0.9,
        biasCorrection: true, totalSteps: c.totalSteps, seed: c.seed,
      });
      const scalars = CHILDREN.map((c) => {
        const s = new StepScalars(info, settings(c));
        const rows = new Float32Array(STEPS * NOS_SCALAR_COUNT);
        for (let t = 0; t < STEPS; t++) rows.set(s.fill(c.t0 + t + 1), t * NOS_SCALAR_COUNT);
        return rows;
      });
      await engine.runRound({ slots, orders: [], orderOf: [0, 0, 0], t0: CHILDREN.map((c) => c.t0), seeds: CHILDREN.map((c) => c.seed),
        scalars, rules: slots.map(() => handle), steps: STEPS, updateOnly: true });
      CHILDREN.forEach((c, k) => {
        // The same child through createOptimizer: the tensors of its flat vector, `t0` steps already counted.
        const opt = createOptimizer(info, { ...settings(c), betas: [0.9, 0.999, 0.999], threads: 1 });
        let at = 0;
        const params = sizes.map((n) => { const v = w0[k].slice(at, at + n); at += n; return v; });
        at = 0;
        const g = sizes.map((n) => { const v = grads[k].slice(at, at + n); at += n; return v; });
        opt.step(params.map((p) => new Float32Array(p.length)), g.map((x) => new Float32Array(x.length))); // binds the list
        opt.loadStateDict({ ...opt.stateDict(), step: c.t0, tensors: sizes.map((n) => Object.fromEntries(info.state.map((s) => [s, new Float32Array(n)]))) });
        for (let t = 0; t < STEPS; t++) opt.step(params, g);
        const where = `${name} child ${k}, layout ${layoutName(layout)} (inputs seed ${runSeed})`;
        const mine = engine.read(slots[k], EngineField.params);
        params.reduce((offset, p) => {
          p.forEach((x, i) => assert.ok(Object.is(x, mine[offset + i]), `${where}: w[${offset + i}] ${mine[offset + i]}, createOptimizer ${x}`));
          return offset + p.length;
        }, 0);
        const state = opt.stateDict();
        for (const s of info.state) {
          const slotState = engine.read(slots[k], EngineField.state0 + STATE_SLOTS.indexOf(s));
          let offset = 0;
          state.tensors.forEach((t) => {
            const bytes = Buffer.from(t[s] as string, 'base64');
            const ref = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
            ref.forEach((x, i) => assert.ok(Object.is(x, slotState[offset + i]), `${where}: state ${s}[${offset + i}]`));
            offset += ref.length;
          });
        }
        opt.dispose();
      });
      engine.dropRule(info, layout);
    }
  } finally {
    engine.close();
  }
}
