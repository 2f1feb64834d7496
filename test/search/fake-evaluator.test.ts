// The fake evaluator that ships takes sleepMs and screen only; fault injection is test machinery, installed through
// its one seam (NOS_FAKE_JOB_HOOKS, test/support/fake-job-hooks.ts), and a fake protocol asking for it without the
// seam is refused by name, never silently run without its faults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FAKE_JOB_HOOKS_ENV, fakeEvaluate, fakeReward, validateFakeProtocol } from '../../src/search/fake-evaluator';

const HOOKS = require.resolve('../support/fake-job-hooks');
const context = { jobId: 'j:0', attempt: 1 };

async function withHooks(installed: boolean, fn: () => Promise<void>): Promise<void> {
  const before = process.env[FAKE_JOB_HOOKS_ENV];
  if (installed) process.env[FAKE_JOB_HOOKS_ENV] = HOOKS;
  else delete process.env[FAKE_JOB_HOOKS_ENV];
  try {
    await fn();
  } finally {
    if (before === undefined) delete process.env[FAKE_JOB_HOOKS_ENV];
    else process.env[FAKE_JOB_HOOKS_ENV] = before;
  }
}

test('without the test hooks a fake protocol takes sleepMs and screen, and any other setting is refused by name', async () => {
  await withHooks(false, async () => {
    assert.deepEqual(validateFakeProtocol({ name: 'fake', sleepMs: 0, screen: true }), { name: 'fake', sleepMs: 0, screen: true });
    assert.throws(() => validateFakeProtocol({ name: 'fake', faults: { crash: ['g'] } }, '--protocol f.json'),
      /^Error: --protocol f\.json: unknown setting "faults" \(a fake protocol takes sleepMs and screen\)$/);
    assert.throws(() => validateFakeProtocol({ name: 'fake', pidDir: '/tmp' }), /unknown setting "pidDir"/);
    const outcome = await fakeEvaluate('m * g', { name: 'fake', sleepMs: 0, screen: true }, 3, context);
    assert.equal(outcome.reward, fakeReward('m * g', 3) * 0.9);
  });
});

test('with them, faults are checked by name and act: a NaN or infinite reward for the rules they name', async () => {
  await withHooks(true, async () => {
    const protocol = validateFakeProtocol({ name: 'fake', sleepMs: 0, faults: { nan: ['neg'], inf: ['v'] } });
    assert.ok(Number.isNaN((await fakeEvaluate('neg(m)', protocol, 1, context)).reward));
    assert.equal((await fakeEvaluate('m * v', protocol, 1, context)).reward, Infinity);
    assert.equal((await fakeEvaluate('m * g', protocol, 1, context)).reward, fakeReward('m * g', 1));
    assert.throws(() => validateFakeProtocol({ name: 'fake', faults: { explode: ['g'] } }), /unknown fault "explode"/);
    assert.throws(() => validateFakeProtocol({ name: 'fake', faults: { crash: 'g' } }), /faults\.crash must be an array of strings/);
    assert.throws(() => validateFakeProtocol({ name: 'fake', color: 'red' }), /unknown setting "color"/);
  });
});
