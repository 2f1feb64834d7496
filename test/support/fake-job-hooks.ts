// Fault injection for fake jobs (src/search/fake-evaluator.ts's test seam): a fake protocol's `faults` crash, hang,
// exhaust memory or corrupt the reward of the rules they name, and `pidDir` records each worker's pid.  Importing
// this module installs it for this process and every worker it forks or command it spawns (NOS_FAKE_JOB_HOOKS).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FAKE_JOB_HOOKS_ENV, type FakeJobHooks, type FakeProtocolConfig } from '../../src/search/fake-evaluator';

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

/** A fake protocol with this module's settings. */
export interface FaultyFakeProtocol extends FakeProtocolConfig {
  faults?: FakeFaults;
  /** When set, the worker writes `<pidDir>/<jobId with ':' as '_'>.pid` holding its pid before evaluating. */
  pidDir?: string;
}

const FAULT_KINDS = ['crash', 'crashOnce', 'hang', 'oomHeap', 'oomRss', 'nan', 'inf', 'throw'];

function matches(rule: string, patterns: string[] | undefined): boolean {
  return !!patterns && patterns.some((p) => rule.includes(p));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function validate(protocol: FaultyFakeProtocol, where: string): string[] {
  const faults = protocol.faults;
  if (faults !== undefined) {
    if (!faults || typeof faults !== 'object') throw new Error(`${where}: faults must be an object`);
    for (const [key, list] of Object.entries(faults)) {
      if (!FAULT_KINDS.includes(key)) throw new Error(`${where}: unknown fault "${key}"`);
      if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) throw new Error(`${where}: faults.${key} must be an array of strings`);
    }
  }
  if (protocol.pidDir !== undefined && typeof protocol.pidDir !== 'string') throw new Error(`${where}: pidDir must be a folder`);
  return ['faults', 'pidDir'];
}

async function beforeJob(rule: string, protocol: FaultyFakeProtocol, context: { jobId: string; attempt: number }): Promise<void> {
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
}

function reward(rule: string, protocol: FaultyFakeProtocol, fair: number): number {
  if (matches(rule, protocol.faults?.inf)) return Infinity;
  if (matches(rule, protocol.faults?.nan)) return NaN;
  return fair;
}

export const fakeJobHooks: FakeJobHooks = { validate, beforeJob, reward };

process.env[FAKE_JOB_HOOKS_ENV] = __filename;
