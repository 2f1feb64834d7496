// A fast, deterministic stand-in for child training (reward from the rule text and seed), for trying the machinery.
import { createHash } from 'node:crypto';
import type { EvalOutcome } from '../runtime/child/protocol';
import type { FakeProtocol } from './backend';
import { MAX_TIMEOUT_MS } from './limits';

/** Bumped when the fake reward function changes; plays the part of PROTOCOL_VERSION for fake jobs. */
export const FAKE_PROTOCOL_VERSION = 1;

export interface FakeProtocolConfig extends FakeProtocol {
  name: 'fake';
  /** Milliseconds each evaluation sleeps, to stand for training time. */
  sleepMs?: number;
  /** The funnel's screen of this protocol: the reward is 0.9 of the full one (so it ranks rules the same way). */
  screen?: boolean;
}

export const DEFAULT_FAKE_PROTOCOL: FakeProtocolConfig = { name: 'fake', sleepMs: 20 };

/**
 * The test seam (test/support/fake-job-hooks.ts, the only implementation): settings of a fake protocol beyond
 * sleepMs and screen belong to it; it checks them, acts before a job (crash, hang, exhaust memory, write the worker's
 * pid) and may replace the reward (NaN, infinity).  A process finds it through NOS_FAKE_JOB_HOOKS, the module's path,
 * which forked workers and spawned commands inherit.
 */
export interface FakeJobHooks {
  /** Throws naming a bad setting; the names of the settings it takes. */
  validate(protocol: FakeProtocolConfig, where: string): string[];
  beforeJob(rule: string, protocol: FakeProtocolConfig, context: { jobId: string; attempt: number }): Promise<void>;
  reward(rule: string, protocol: FakeProtocolConfig, reward: number): number;
}
export const FAKE_JOB_HOOKS_ENV = 'NOS_FAKE_JOB_HOOKS';

function fakeJobHooks(): FakeJobHooks | null {
  const file = process.env[FAKE_JOB_HOOKS_ENV];
  return file ? (require(file) as { fakeJobHooks: FakeJobHooks }).fakeJobHooks : null;
}

/** The reward the fake evaluator gives a rule: a deterministic number in [0.1, 0.9) from the rule text and seed. */
export function fakeReward(rule: string, seed: number): number {
  const digest = createHash('sha256').update(`${rule}\u0000${seed}`).digest();
  return 0.1 + 0.8 * (digest.readUInt32BE(0) / 2 ** 32);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Checks the fake protocol's shape; throws naming the bad field. */
export function validateFakeProtocol(p: unknown, where = 'fake protocol'): FakeProtocolConfig {
  if (!p || typeof p !== 'object' || (p as { name?: unknown }).name !== 'fake') {
    throw new Error(`${where}: expected an object with name "fake"`);
  }
  const config = p as FakeProtocolConfig;
  // A timer cannot wait longer than 2^31 - 1 ms (a longer one fires at once).
  if (config.sleepMs !== undefined && (typeof config.sleepMs !== 'number' || !(config.sleepMs >= 0 && config.sleepMs <= MAX_TIMEOUT_MS))) {
    throw new Error(`${where}: sleepMs must be a number from 0 to ${MAX_TIMEOUT_MS}, got ${JSON.stringify(config.sleepMs)}`);
  }
  if (config.screen !== undefined && typeof config.screen !== 'boolean') throw new Error(`${where}: screen must be true or false`);
  const hooks = fakeJobHooks();
  const known = new Set(['name', 'sleepMs', 'screen', ...(hooks ? hooks.validate(config, where) : [])]);
  const unknown = Object.keys(config).find((key) => !known.has(key));
  if (unknown !== undefined) throw new Error(`${where}: unknown setting "${unknown}" (a fake protocol takes sleepMs and screen)`);
  return config;
}

/** Runs one fake evaluation in this process (a test's hooks may crash, hang or exhaust it: call it in a worker). */
export async function fakeEvaluate(rule: string, protocol: FakeProtocolConfig, seed: number,
  context: { jobId: string; attempt: number }): Promise<EvalOutcome> {
  const started = Date.now();
  const hooks = fakeJobHooks();
  await hooks?.beforeJob(rule, protocol, context);
  await sleep(protocol.sleepMs ?? 0);
  const fair = fakeReward(rule, seed) * (protocol.screen ? 0.9 : 1);
  const reward = hooks ? hooks.reward(rule, protocol, fair) : fair;
  return {
    status: 'ok', reward, bestLr: 0.01,
    sweep: [{ lr: 0.01, accuracy: reward, loss: 1 - reward, status: 'ok' }],
    seconds: (Date.now() - started) / 1000,
  };
}
