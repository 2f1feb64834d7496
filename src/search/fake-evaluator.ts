// A fast, deterministic stand-in for child training (reward from the rule text and seed), with fault knobs for tests.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EvalOutcome } from '../runtime/child/protocol';
import type { FakeProtocol } from './backend';
import { MAX_TIMEOUT_MS } from './limits';

/** Bumped when the fake reward function changes; plays the part of PROTOCOL_VERSION for fake jobs. */
export const FAKE_PROTOCOL_VERSION = 1;

/**
 * Fault knobs. Each list holds substrings; a fault fires when the rule text contains one of them.
 * crash: the process kills itself with SIGSEGV (like a native crash). crashOnce: same, but only on attempt 1.
 * hang: the thread blocks forever without using CPU. oomHeap: the JS heap grows until V8 aborts.
 * oomRss: off-heap memory grows (caught only by RSS polling). nan / inf: the evaluator returns a NaN / +Infinity
 * reward. throw: the evaluator throws.
 */
export interface FakeFaults {
  crash?: string[]; crashOnce?: string[]; hang?: string[]; oomHeap?: string[]; oomRss?: string[];
  nan?: string[]; inf?: string[]; throw?: string[];
}

export interface FakeProtocolConfig extends FakeProtocol {
  name: 'fake';
  /** Milliseconds each evaluation sleeps, to stand for training time. */
  sleepMs?: number;
  faults?: FakeFaults;
  /** When set, the worker writes `<pidDir>/<jobId with ':' as '_'>.pid` holding its pid before evaluating. */
  pidDir?: string;
  /** The funnel's screen of this protocol: the reward is 0.9 of the full one (so it ranks rules the same way). */
  screen?: boolean;
}

export const DEFAULT_FAKE_PROTOCOL: FakeProtocolConfig = { name: 'fake', sleepMs: 20 };

/** The reward the fake evaluator gives a rule: a deterministic number in [0.1, 0.9) from the rule text and seed. */
export function fakeReward(rule: string, seed: number): number {
  const digest = createHash('sha256').update(`${rule}\u0000${seed}`).digest();
  return 0.1 + 0.8 * (digest.readUInt32BE(0) / 2 ** 32);
}

function matches(rule: string, patterns: string[] | undefined): boolean {
  return !!patterns && patterns.some((p) => rule.includes(p));
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
  if (config.faults !== undefined) {
    if (!config.faults || typeof config.faults !== 'object') throw new Error(`${where}: faults must be an object`);
    for (const [key, list] of Object.entries(config.faults)) {
      if (!['crash', 'crashOnce', 'hang', 'oomHeap', 'oomRss', 'nan', 'inf', 'throw'].includes(key)) {
        throw new Error(`${where}: unknown fault "${key}"`);
      }
      if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) {
        throw new Error(`${where}: faults.${key} must be an array of strings`);
      }
    }
  }
  return config;
}

/** Runs one fake evaluation in this process. Faults really crash, hang or exhaust memory: call it in a worker. */
export async function fakeEvaluate(rule: string, protocol: FakeProtocolConfig, seed: number,
  context: { jobId: string; attempt: number }): Promise<EvalOutcome> {
  const started = Date.now();
  if (protocol.pidDir) {
    // Written whole or not at all (temp file, then rename), so a reader never sees a partial pid.
    const file = path.join(protocol.pidDir, `${context.jobId.replace(/[^\w.-]/g, '_')}.pid`);
    fs.writeFileSync(`${file}.tmp-${process.pid}`, String(process.pid));
    fs.renameSync(`${file}.tmp-${process.pid}`, file);
  }
  const faults = protocol.faults ?? {};
  if (matches(rule, faults.crash) || (context.attempt === 1 && matches(rule, faults.crashOnce))) {
    process.kill(process.pid, 'SIGSEGV');
    await sleep(60_000); // the signal lands asynchronously
  }
  if (matches(rule, faults.hang)) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // blocks the thread for good, like a native hang
  }
  if (matches(rule, faults.oomHeap)) {
    const hog: number[][] = [];
    for (;;) hog.push(new Array(1 << 20).fill(1.5));
  }
  if (matches(rule, faults.oomRss)) {
    const hog: Buffer[] = [];
    for (;;) { hog.push(Buffer.alloc(32 << 20, 1)); await sleep(5); }
  }
  if (matches(rule, faults.throw)) throw new Error(`fake evaluator: asked to throw for rule ${rule}`);
  await sleep(protocol.sleepMs ?? 0);
  let reward = fakeReward(rule, seed) * (protocol.screen ? 0.9 : 1);
  if (matches(rule, faults.nan)) reward = NaN;
  if (matches(rule, faults.inf)) reward = Infinity;
  return {
    status: 'ok', reward, bestLr: 0.01,
    sweep: [{ lr: 0.01, accuracy: reward, loss: 1 - reward, status: 'ok' }],
    seconds: (Date.now() - started) / 1000,
  };
}
