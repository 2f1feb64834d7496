// The child engine through its CUDA host code (native/engine/device_cuda.cc: driver calls, PTX modules, launches with
// CUDA's limits checked) on the fake driver, whose NVRTC builds each module's CPU twin: outcomes must equal the host
// twin's exactly.  Then the whole --device cuda path: the GPU backend with real jobs, `nos eval` and `nos search`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { KERNEL_ABI_VERSION } from '../../../src/compiler/kernel-abi';
import { evalOutput, register } from '../../../src/cli/commands/eval';
import { packageRoot } from '../../../src/runtime/binding';
import { PROTOCOL_VERSION, PROTOCOLS, type EvalOutcome, type ProtocolConfig } from '../../../src/runtime/child/protocol';
import { EngineEvaluator } from '../../../src/runtime/engine/engine-evaluator';
import { GpuUnusableError, type Envelope, type Job } from '../../../src/search/backend';
import { createGpuBackend, deviceNotes, type GpuBackend } from '../../../src/search/pool-gpu';
import { GPU_IN_FLIGHT } from '../../../src/search/search-config';
import { installFakeCuda } from '../../support/fake-cuda';

const fake = installFakeCuda();
const skip = fake === false ? 'no C compiler for the fake driver' : false;

const mlpTiny: ProtocolConfig = { ...PROTOCOLS.quick, lrs: [1e-2, 1e-1, 1e6], finalEpochs: 2, trainExamples: 300, validationExamples: 200, batchSize: 20, threads: 1 };
const convTiny: ProtocolConfig = { ...PROTOCOLS.paper, lrs: [1e-2, 1e-1], finalEpochs: 1, trainExamples: 40, validationExamples: 40, batchSize: 10, threads: 1 };

const memo = new Map<string, Promise<EvalOutcome[]>>();
/** The engine's outcomes for `rules` (seed 3); the host twin's are computed once per protocol and rule list. */
function outcomes(device: 'cuda' | 'host', protocol: ProtocolConfig, rules: string[]): Promise<EvalOutcome[]> {
  const key = JSON.stringify([protocol, rules]);
  if (device === 'host' && memo.has(key)) return memo.get(key)!;
  const made = run(device, protocol, rules);
  if (device === 'host') memo.set(key, made);
  return made;
}

async function run(device: 'cuda' | 'host', protocol: ProtocolConfig, rules: string[]): Promise<EvalOutcome[]> {
  const evaluator = EngineEvaluator.create({ device, protocol, capacity: rules.length * protocol.lrs.length });
  try {
    if (device === 'cuda') assert.equal(evaluator.deviceName, 'nos fake device (sm_90)');
    evaluator.submit(rules.map((rule, i) => ({ id: String(i), rule, seed: 3 })));
    const out: EvalOutcome[] = [];
    for (let i = 0; i < rules.length; i++) {
      const r = await evaluator.next();
      out[Number(r.id)] = { ...r.outcome, seconds: 0 };
    }
    return out;
  } finally {
    await evaluator.close();
  }
}

test('through the CUDA host code the engine gives the CPU twin\'s outcomes exactly (MLP and convnet)', { skip }, async () => {
  for (const protocol of [mlpTiny, convTiny]) {
    const rules = ['adam', 'powersign-cd', 'sgd'];
    assert.deepEqual(await outcomes('cuda', protocol, rules), await outcomes('host', protocol, rules), protocol.model);
  }
});

const POOL_RULES = ['adam', 'powersign-cd', 'sgd'];

/** Submits POOL_RULES (seed 3) to `pool`; each envelope, checked against the host twin's outcome. */
async function poolOutcomes(pool: GpuBackend, protocol = mlpTiny) {
  await pool.submit(POOL_RULES.map((rule, i): Job => ({
    id: `run:${i}`, rule, protocol, data: {}, device: 'cuda', seed: 3, versions: { compiler: KERNEL_ABI_VERSION, protocol: PROTOCOL_VERSION },
  })));
  const expected = await outcomes('host', protocol, POOL_RULES);
  const envelopes: Envelope[] = [];
  for (let i = 0; i < POOL_RULES.length; i++) {
    const e = await pool.next();
    const k = Number(e.jobId.slice(4));
    assert.equal(e.status, expected[k].status, `${POOL_RULES[k]}: ${e.error ?? ''}`);
    assert.equal(e.reward, expected[k].reward);
    assert.deepEqual(e.outcome?.sweep, expected[k].sweep);
    assert.match(e.worker, /^gpu\d*:pid\d+$/);
    envelopes.push(e);
  }
  return envelopes;
}

test('the GPU backend trains real jobs side by side and returns their outcomes', { skip }, async () => {
  const pool = createGpuBackend({ limits: { timeoutMs: 120_000, maxRssMb: 4096 } });
  try {
    await poolOutcomes(pool);
  } finally {
    await pool.close();
  }
});

test('an engine that faults mid-run ends its GPU worker, and a fresh one re-runs the jobs: the clean run\'s outcomes, none lost', { skip }, async () => {
  // The first worker's 40th engine launch faults (a round of the first rules' sweep), and every later one of it.
  const once = path.join(fake ? fake.dir : '/tmp', `fault-${process.pid}`);
  Object.assign(process.env, { NOS_FAKE_CUDA_FAULT_AT: '40', NOS_FAKE_CUDA_FAULT_ONCE: once });
  const notes: string[] = [];
  const pool = createGpuBackend({ limits: { timeoutMs: 120_000, maxRssMb: 4096 }, onNote: (m) => notes.push(m) });
  try {
    const envelopes = await poolOutcomes(pool);
    assert.deepEqual(envelopes.map((e) => e.attempt), [2, 2, 2], 'each job ran again on the fresh worker');
    assert.ok(fs.existsSync(once), 'the fault was injected');
    assert.equal(notes.length, 1, notes.join('\n'));
    assert.match(notes[0], /^the GPU engine failed \(the child engine failed: cuLaunchKernel: [^)]*719\); a fresh GPU worker re-runs the 3 rules it had in flight, one at a time, to find any at fault$/);
  } finally {
    delete process.env.NOS_FAKE_CUDA_FAULT_AT;
    delete process.env.NOS_FAKE_CUDA_FAULT_ONCE;
    await pool.close();
  }
});

test('a GPU whose every engine faults (the control rule\'s too) stops the search with the reason and records nothing', { skip }, async () => {
  // No _ONCE: every worker's 40th launch faults, as on a GPU that starts but cannot run the kernels.
  process.env.NOS_FAKE_CUDA_FAULT_AT = '40';
  const notes: string[] = [];
  const pool = createGpuBackend({ limits: { timeoutMs: 120_000, maxRssMb: 4096 }, onNote: (m) => notes.push(m) });
  try {
    await pool.submit(POOL_RULES.map((rule, i): Job => ({
      id: `run:${i}`, rule, protocol: mlpTiny, data: {}, device: 'cuda', seed: 3, versions: { compiler: KERNEL_ABI_VERSION, protocol: PROTOCOL_VERSION },
    })));
    const fault = String.raw`the GPU engine failed \(the child engine failed: cuLaunchKernel: [^)]*719\)`;
    await assert.rejects(pool.next(), {
      name: 'GpuUnusableError',
      message: new RegExp(`^gpu pool: the GPU cannot train even the control rule sgd alone \\(${fault}\\), after rule run:0 failed alone on its last try the same way: the GPU, its driver or this machine is at fault`),
    });
    // The three fail together, the first alone on its last try, then the control rule: no rule is recorded.
    assert.equal(notes.length, 2, notes.join('\n'));
    assert.match(notes[0], /a fresh GPU worker re-runs the 3 rules it had in flight, one at a time, to find any at fault$/);
    assert.match(notes[1], new RegExp(`^rule run:0 failed alone on its last try \\(${fault}\\); training the control rule sgd alone`));
    assert.equal(pool.pending(), 0);
  } finally {
    delete process.env.NOS_FAKE_CUDA_FAULT_AT;
    await pool.close();
  }
});

/**
 * The stall tests' protocol: rounds of 5 steps (about 0.3 s here), so that ten of them, the watchdog's wait, pass
 * quickly.  One rule alone takes 209 launches: 77 to its first round's end, 55 in the second, 77 in the third.
 */
const mlpStall: ProtocolConfig = { ...mlpTiny, trainExamples: 100, validationExamples: 100 };
/** The settings of a hang that HANG_AT's launch of a worker starts, in a rule's second round (only the first worker's with `once`). */
const HANG_AT = '100';
function hangEnv(once?: string): Record<string, string> {
  return { NOS_FAKE_CUDA_FAULT_AT: HANG_AT, NOS_FAKE_CUDA_HANG: '1', ...(once ? { NOS_FAKE_CUDA_FAULT_ONCE: once } : {}) };
}
/** The stall watchdog's settings in these tests: ten of the longest round, at least a second. */
const STALL = { rounds: 10, floorMs: 1000 };

test('an engine that hangs mid-run is found by its silence, not the time limit; the control rule trains and the rules run again: the clean run\'s outcomes', { skip }, async () => {
  const once = path.join(fake ? fake.dir : '/tmp', `hang-${process.pid}`);
  const env = hangEnv(once);
  Object.assign(process.env, env);
  const notes: string[] = [];
  const pool = createGpuBackend({ limits: { timeoutMs: 120_000, maxRssMb: 4096 }, stall: STALL, onNote: (m) => notes.push(m) });
  try {
    const envelopes = await poolOutcomes(pool, mlpStall);
    assert.ok(fs.existsSync(once), 'the hang was injected');
    assert.deepEqual(envelopes.map((e) => e.attempt), [2, 2, 2], 'each job ran again on a fresh worker');
    assert.equal(notes.length, 2, notes.join('\n'));
    // Ten times the longest round (the floor, a second, is less): tens of seconds at most, against the 120 s time limit.
    const silence = String.raw`killed after [\d.]+ s without word from the GPU engine, whose longest round so far took [\d.]+ s`;
    assert.match(notes[0], new RegExp(`^rule run:0 and 2 others stalled with the engine \\(${silence}\\); training the control rule sgd alone to tell whether the rule or the GPU is at fault$`));
    assert.equal(notes[1], 'the control rule trained: rule run:0 and 2 others run again');
  } finally {
    for (const name of Object.keys(env)) delete process.env[name];
    await pool.close();
  }
});

test('a rule whose engine stalls twice alone is recorded as timeout once the control rule trains', { skip }, async () => {
  // The first worker hangs in the rule's second round; the second trains the control rule (209 launches), then hangs
  // in the rule's second round again.
  const env = { NOS_FAKE_CUDA_FAULT_IN: `${path.join(fake ? fake.dir : '/tmp', `hang-twice-${process.pid}`)}:1@100,2@309`, NOS_FAKE_CUDA_HANG: '1' };
  Object.assign(process.env, env);
  const notes: string[] = [];
  const pool = createGpuBackend({ limits: { timeoutMs: 120_000, maxRssMb: 4096 }, stall: STALL, onNote: (m) => notes.push(m) });
  try {
    await pool.submit([{ id: 'run:0', rule: 'adam', protocol: mlpStall, data: {}, device: 'cuda', seed: 3, versions: { compiler: KERNEL_ABI_VERSION, protocol: PROTOCOL_VERSION } }]);
    const e = await pool.next();
    const silence = String.raw`killed after [\d.]+ s without word from the GPU engine, whose longest round so far took [\d.]+ s`;
    assert.deepEqual([e.status, e.attempt], ['timeout', 2]);
    assert.match(e.error ?? '', new RegExp(`^${silence}$`));
    assert.equal(notes.length, 4, notes.join('\n'));
    assert.match(notes[0], new RegExp(`^rule run:0 stalled with the engine \\(${silence}\\); training the control rule sgd alone`));
    assert.equal(notes[1], 'the control rule trained: rule run:0 runs again');
    assert.match(notes[2], new RegExp(`^rule run:0 stalled the engine alone, a second time \\(${silence}\\); training the control rule sgd alone`));
    assert.equal(notes[3], 'the control rule trained: rule run:0 is recorded as timeout');
  } finally {
    for (const name of Object.keys(env)) delete process.env[name];
    await pool.close();
  }
});

test('a GPU whose every engine hangs (the control rule\'s too) stops the search by the silence, long before the time limit, and records nothing', { skip }, async () => {
  const env = hangEnv();
  Object.assign(process.env, env);
  const notes: string[] = [];
  const pool = createGpuBackend({ limits: { timeoutMs: 120_000, maxRssMb: 4096 }, stall: STALL, onNote: (m) => notes.push(m) });
  try {
    const runs = POOL_RULES.map((rule, i) => pool.runJob({
      id: `run:${i}`, rule, protocol: mlpStall, data: {}, device: 'cuda', seed: 3, versions: { compiler: KERNEL_ABI_VERSION, protocol: PROTOCOL_VERSION },
    }, 1));
    const silence = String.raw`killed after [\d.]+ s without word from the GPU engine, whose (longest round so far took|workers took at most) [\d.]+ s( to a first round so far)?`;
    const blame = new RegExp(`^gpu pool: the GPU cannot train even the control rule sgd alone \\(${silence}\\), after rule run:0 and 2 others stalled with the engine (the same way|\\(${silence}\\)): the GPU, its driver or this machine is at fault`);
    for (const settled of await Promise.allSettled(runs)) {
      assert.equal(settled.status, 'rejected');
      const error = (settled as PromiseRejectedResult).reason as Error;
      assert.ok(error instanceof GpuUnusableError && blame.test(error.message), error.message);
    }
    assert.equal(notes.length, 1, notes.join('\n'));
    assert.match(notes[0], new RegExp(`^rule run:0 and 2 others stalled with the engine \\(${silence}\\); training the control rule`));
  } finally {
    for (const name of Object.keys(env)) delete process.env[name];
    await pool.close();
  }
});

test('an engine that faults while timing its kernels (NOS_ENGINE_KERNELS=auto): the fresh worker keeps the direct ones', { skip }, async () => {
  const once = path.join(fake ? fake.dir : '/tmp', `tuning-fault-${process.pid}`);
  // The 10th launch: the tuning's first warm-up step, before any job's child trains.
  Object.assign(process.env, { NOS_ENGINE_KERNELS: 'auto', NOS_FAKE_CUDA_FAULT_AT: '10', NOS_FAKE_CUDA_FAULT_ONCE: once });
  const notes: string[] = [];
  const pool = createGpuBackend({ limits: { timeoutMs: 120_000, maxRssMb: 4096 }, capacity: 6, onNote: (m) => notes.push(m), onRound: deviceNotes((m) => notes.push(m)) });
  try {
    const envelopes = await poolOutcomes(pool, convTiny);
    assert.deepEqual(envelopes.map((e) => e.attempt), [2, 2, 2]);
    assert.ok(fs.existsSync(once), 'the fault was injected');
    assert.match(notes[0], /^the GPU engine failed \(the child engine failed: while timing the convolution kernels \(kernels: 'auto'\): .*719\); a fresh GPU worker re-runs the 3 rules it had in flight, with the direct convolution kernels from now on$/);
    assert.deepEqual(notes.slice(1), ['training on nos fake device (sm_90), 6 child slots: convolutions direct, weight gradients direct'], 'and no tuning after');
  } finally {
    for (const name of ['NOS_ENGINE_KERNELS', 'NOS_FAKE_CUDA_FAULT_AT', 'NOS_FAKE_CUDA_FAULT_ONCE']) delete process.env[name];
    await pool.close();
  }
});

test('a control rule whose worker faults while timing its kernels runs again on the direct ones, and then decides', { skip }, async () => {
  // On convTiny with kernels 'auto' one rule takes 670 launches (the tuning's first at 10, its round 1 ends at 530): the
  // first worker faults in the rule's second round (so it fails alone on its only try), the second while the control
  // rule's worker times its kernels, the third runs clean.
  const env = { NOS_ENGINE_KERNELS: 'auto', NOS_FAKE_CUDA_FAULT_IN: `${path.join(fake ? fake.dir : '/tmp', `control-tuning-${process.pid}`)}:1@600,2@10` };
  Object.assign(process.env, env);
  const notes: string[] = [];
  const pool = createGpuBackend({ limits: { timeoutMs: 120_000, maxRssMb: 4096 }, capacity: 6, maxAttempts: 1, onNote: (m) => notes.push(m) });
  try {
    await pool.submit([{ id: 'run:0', rule: 'adam', protocol: convTiny, data: {}, device: 'cuda', seed: 3, versions: { compiler: KERNEL_ABI_VERSION, protocol: PROTOCOL_VERSION } }]);
    const e = await pool.next();
    assert.deepEqual([e.status, e.attempt], ['crashed', 1]);
    assert.match(e.error ?? '', /^the GPU engine failed \(the child engine failed: cuLaunchKernel: [^)]*719\)$/);
    assert.equal(notes.length, 3, notes.join('\n'));
    assert.match(notes[0], /^rule run:0 failed alone on its last try \(the GPU engine failed \(the child engine failed: cuLaunchKernel: [^)]*719\)\); training the control rule sgd alone/);
    assert.match(notes[1], /^the GPU engine failed \(the child engine failed: while timing the convolution kernels \(kernels: 'auto'\): .*719\); a fresh GPU worker re-runs the 1 rule it had in flight, with the direct convolution kernels from now on$/);
    assert.equal(notes[2], 'the control rule trained: rule run:0 is recorded as crashed');
  } finally {
    for (const name of Object.keys(env)) delete process.env[name];
    await pool.close();
  }
});

test('with several GPUs (CUDA_VISIBLE_DEVICES) each trains its share on its own worker: the one GPU\'s outcomes', { skip }, async () => {
  process.env.NOS_FAKE_CUDA_DEVICES = '2';
  const notes: string[] = [];
  const pool = createGpuBackend({ limits: { timeoutMs: 120_000, maxRssMb: 4096 }, onNote: (m) => notes.push(m), onRound: deviceNotes((m) => notes.push(m)) });
  try {
    const envelopes = await poolOutcomes(pool);
    assert.deepEqual([...new Set(envelopes.map((e) => e.worker.replace(/:pid\d+$/, '')))].sort(), ['gpu0', 'gpu1']);
    assert.deepEqual(notes.map((n) => n.replace(/\d+ child slots/, 'N child slots')).sort(), [0, 1].map((k) =>
      `training on nos fake device ${k} (sm_90), GPU ${k}, N child slots: convolutions direct, weight gradients direct`), 'each worker sees its own GPU');
  } finally {
    delete process.env.NOS_FAKE_CUDA_DEVICES;
    await pool.close();
  }
});

test('a GPU that cannot train is left out and its rules go to the others; with none left the search stops', { skip }, async () => {
  Object.assign(process.env, { NOS_FAKE_CUDA_DEVICES: '2', NOS_FAKE_CUDA_BROKEN: '1' });
  const notes: string[] = [];
  const pool = createGpuBackend({ limits: { timeoutMs: 120_000, maxRssMb: 4096 }, onNote: (m) => notes.push(m) });
  const cannot = String.raw`gpu pool: the GPU engine could not start: [^;]*no GPU is visible[^;]*`;
  try {
    const envelopes = await poolOutcomes(pool);
    assert.deepEqual(envelopes.map((e) => [e.worker.replace(/:pid\d+$/, ''), e.attempt]), [['gpu0', 1], ['gpu0', 1], ['gpu0', 1]], 'no try spent on the GPU that cannot train');
    assert.equal(notes.length, 1, notes.join('\n'));
    assert.match(notes[0], new RegExp(`^GPU 1 cannot train and is left out \\(${cannot}\\); its 1 rule in flight goes to the other GPU$`));
    assert.equal(pool.inFlightHint?.(), GPU_IN_FLIGHT, 'the search keeps in flight only what the GPU left can train');
  } finally {
    await pool.close();
  }
  process.env.NOS_FAKE_CUDA_BROKEN = '0,1';
  const none = createGpuBackend({ limits: { timeoutMs: 120_000, maxRssMb: 4096 } });
  try {
    await none.submit(POOL_RULES.map((rule, i): Job => ({
      id: `run:${i}`, rule, protocol: mlpTiny, data: {}, device: 'cuda', seed: 3, versions: { compiler: KERNEL_ABI_VERSION, protocol: PROTOCOL_VERSION },
    })));
    await assert.rejects(none.next(), { name: 'GpuUnusableError', message: new RegExp(`^gpu pools: no GPU can train: GPU 0: ${cannot}; GPU 1: ${cannot}$`) });
    assert.equal(none.pending(), 0);
  } finally {
    delete process.env.NOS_FAKE_CUDA_DEVICES;
    delete process.env.NOS_FAKE_CUDA_BROKEN;
    await none.close();
  }
});

test('nos eval --device cuda trains on the engine and prints the table the CPU path prints', { skip }, async () => {
  const dir = fs.mkdtempSync(path.join(fake ? fake.dir : '/tmp', 'eval-'));
  const file = path.join(dir, 'tiny.json');
  fs.writeFileSync(file, JSON.stringify({ extends: 'quick', lrs: [1e-2, 1e-1], finalEpochs: 2, trainExamples: 300, validationExamples: 200, batchSize: 20 }));
  const run = async (device: string) => {
    const program = new Command('nos').exitOverride().configureOutput({ writeErr: () => undefined });
    register(program);
    let stdout = '';
    let stderr = '';
    evalOutput.stdout = { write: (s: string) => { stdout += s; return true; } };
    evalOutput.stderr = { write: (s: string) => { stderr += s; return true; }, isTTY: false };
    await program.parseAsync(['node', 'nos', 'eval', 'adam', '--protocol', file, '--device', device, '--json']);
    return { json: JSON.parse(stdout) as EvalOutcome & { rule: string }, stderr };
  };
  const cuda = await run('cuda');
  const cpu = await run('cpu');
  assert.match(cuda.stderr, /^round 1\/3: 2 children side by side, [\d.]+ s; \d+s, ETA \d+s$/m);
  assert.match(cuda.stderr, /^round 3\/3: 1 children side by side/m);
  assert.equal(cuda.json.status, 'ok');
  assert.ok(Math.abs(cuda.json.reward - cpu.json.reward) <= 0.01, `cuda ${cuda.json.reward}, cpu ${cpu.json.reward}`);
  assert.equal(cuda.json.bestLr, cpu.json.bestLr);
});

/** Runs the built `nos` CLI with `args` (and extra environment); its exit code and output. */
function runNos(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const nos = path.join(packageRoot(), 'dist', 'src', 'cli', 'nos.js');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [nos, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let so = '';
    let se = '';
    child.stdout.on('data', (c: Buffer) => { so += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { se += c.toString(); });
    child.on('exit', (c) => resolve({ code: c, stdout: so, stderr: se }));
  });
}

/** A protocol file for `nos eval` on the fake driver: one rule alone is 209 launches, its first round ends at the 77th. */
function evalProtocolFile(prefix: string): string {
  const file = path.join(fs.mkdtempSync(path.join(fake ? fake.dir : '/tmp', prefix)), 'stall.json');
  const { lrs, finalEpochs, trainExamples, validationExamples, batchSize } = mlpStall;
  fs.writeFileSync(file, JSON.stringify({ extends: 'quick', lrs, finalEpochs, trainExamples, validationExamples, batchSize }));
  return file;
}

let warmed: Promise<unknown> | undefined;
/**
 * The engine's and the rule's (adam) and control rule's (sgd) kernels in the cache before a test whose time limit is
 * a few seconds: a cold build (the CPU twin, compiled with -O1) must not count as a silent engine.
 */
function warmKernels(file: string): Promise<unknown> {
  warmed ??= Promise.all(['adam', 'sgd'].map((rule) => runNos(['eval', rule, '--protocol', file, '--device', 'cuda', '--no-progress'])));
  return warmed;
}

test('nos eval --device cuda stops a rule whose engine hangs at the time limit and, the control rule having trained, reports it as timeout', { skip }, async () => {
  // The first engine hangs in the rule's second round; the second (the control rule's) trains clean.
  const file = evalProtocolFile('eval-hang-');
  const faults = `${path.join(path.dirname(file), 'launches')}:1@100`;
  await warmKernels(file);
  const started = Date.now();
  const { code, stdout, stderr } = await runNos(['eval', 'adam', '--protocol', file, '--device', 'cuda', '--timeout', '8', '--json'],
    { NOS_FAKE_CUDA_FAULT_IN: faults, NOS_FAKE_CUDA_HANG: '1' });
  assert.equal(code, 1, `${stdout}\n${stderr}`);
  const json = JSON.parse(stdout) as EvalOutcome;
  assert.deepEqual([json.status, json.reward, json.bestLr], ['error', 0, null]);
  assert.equal(json.error, 'timeout: killed after the 8000 ms time limit');
  assert.match(stderr, /^nos eval: rule adam passed the time limit \(killed after the 8000 ms time limit\); training the control rule sgd alone to tell whether the rule or the GPU is at fault$/m);
  assert.match(stderr, /^nos eval: the control rule trained: rule adam is recorded as timeout$/m);
  assert.ok(Date.now() - started < 60_000, 'stopped at the limit, not left hanging');
});

test('nos eval --device cuda on a GPU that hangs for every rule exits 1 with one line naming the GPU, not the rule', { skip }, async () => {
  const file = evalProtocolFile('eval-hung-gpu-');
  await warmKernels(file);
  const { code, stdout, stderr } = await runNos(['eval', 'adam', '--protocol', file, '--device', 'cuda', '--timeout', '3', '--no-progress'],
    { NOS_FAKE_CUDA_FAULT_AT: '100', NOS_FAKE_CUDA_HANG: '1' });
  assert.equal(code, 1, `${stdout}\n${stderr}`);
  assert.equal(stdout, '', 'no table for a rule nobody could judge');
  assert.match(stderr, /--device cuda: the GPU cannot train even the control rule sgd alone \(killed after the 3000 ms time limit\), after rule adam passed the time limit the same way: the GPU, its driver or this machine is at fault, not the rules/);
});

test('a driver older than NVRTC (its PTX refused) is named with both versions and the way out: by nos eval and by the engine', { skip }, async () => {
  const file = evalProtocolFile('eval-old-driver-');
  const hint = String.raw`This driver runs CUDA 12\.4, older than the NVRTC 13\.0 \(\S+\) that made the PTX: update the driver, or set NOS_LIBNVRTC to an NVRTC of CUDA 12\.4 or older`;
  const { code, stdout, stderr } = await runNos(['eval', 'adam', '--protocol', file, '--device', 'cuda', '--no-progress'], { NOS_FAKE_CUDA_DRIVER_VERSION: '12040' });
  assert.equal(code, 1, `${stdout}\n${stderr}`);
  assert.match(stderr, new RegExp(`^nos: --device cuda: cuModuleLoadData \\(loading the compiled kernel\\): fake CUDA error 222\\. ${hint}`, 'm'));
  process.env.NOS_FAKE_CUDA_DRIVER_VERSION = '12040';
  try {
    assert.throws(() => EngineEvaluator.create({ device: 'cuda', protocol: mlpTiny, capacity: 3 }),
      new RegExp(`^Error: cuModuleLoadData \\(loading the engine's PTX\\): fake CUDA error 222\\. ${hint}`));
  } finally {
    delete process.env.NOS_FAKE_CUDA_DRIVER_VERSION;
  }
});

/** Whether `pid` runs (a zombie only waits to be reaped). */
function running(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0] !== 'Z';
  } catch {
    return false;
  }
}

async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
  const started = Date.now();
  while (!ok()) {
    if (Date.now() - started > ms) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const how of ['SIGKILL', 'SIGINT'] as const) {
  test(`nos eval --device cuda stopped by ${how === 'SIGKILL' ? 'kill -9' : 'Ctrl-C'} while its engine hangs on the device: the GPU worker is gone within seconds`, { skip }, async () => {
    // process.exit() in a worker joins libuv's threads, and one hung in a device call never returns: the worker
    // used to outlive its parent, holding the GPU.
    const file = evalProtocolFile('eval-orphan-');
    const hung = path.dirname(file);
    const nos = path.join(packageRoot(), 'dist', 'src', 'cli', 'nos.js');
    const child = spawn(process.execPath, [nos, 'eval', 'adam', '--protocol', file, '--device', 'cuda', '--no-progress'],
      { stdio: ['ignore', 'ignore', 'pipe'], detached: true, env: { ...process.env, NOS_FAKE_CUDA_FAULT_AT: '100', NOS_FAKE_CUDA_HANG: hung } });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const marks = () => fs.readdirSync(hung).filter((f) => f.startsWith('hung-'));
    try {
      await until('the GPU worker hangs', () => marks().length > 0, 60_000);
      const worker = Number(marks()[0].slice('hung-'.length));
      assert.ok(running(worker));
      if (how === 'SIGKILL') child.kill('SIGKILL');
      else process.kill(-child.pid!, 'SIGINT'); // a terminal's Ctrl-C reaches the whole group
      const code = await exited;
      if (how === 'SIGINT') {
        // As on the CPU: one line, exit 130 (the GPU worker's own stop is no error of the command's).
        assert.equal(code, 130, stderr);
        assert.match(stderr, /nos eval: stopped by Ctrl-C before the evaluation finished; no result\n$/);
      }
      await until(`worker ${worker} ends with its parent`, () => !running(worker), 5000);
    } finally {
      for (const f of marks()) { const pid = Number(f.slice('hung-'.length)); if (running(pid)) process.kill(pid, 'SIGKILL'); }
      if (running(child.pid!)) child.kill('SIGKILL');
    }
  });
}

/** A tiny search's flags (random strategy, 4 rules in batches of 2) writing to `<out>/run`. */
function searchArgs(out: string): string[] {
  const file = path.join(out, 'tiny.json');
  fs.writeFileSync(file, JSON.stringify({ extends: 'quick', lrs: [1e-2, 1e-1], finalEpochs: 1, trainExamples: 200, validationExamples: 100, batchSize: 20 }));
  return ['search', '--device', 'cuda', '--protocol', file, '--budget', '4', '--batch-size', '2', '--strategy', 'random', '--space', 'small', '--no-hurdles', '--no-fec', '--out', path.join(out, 'run'), '--no-progress'];
}

function ledgerResults(out: string) {
  return fs.readFileSync(path.join(out, 'run', 'ledger.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; envelope?: { status: string; worker: string } })
    .filter((r) => r.type === 'result');
}

test('nos search --device cuda runs the search on the GPU backend to the end, on every GPU the machine has', { skip }, async () => {
  const out = fs.mkdtempSync(path.join(fake ? fake.dir : '/tmp', 'search-'));
  const { code, stdout, stderr } = await runNos(searchArgs(out), { NOS_FAKE_CUDA_DEVICES: '2' });
  assert.equal(code, 0, `${stdout}\n${stderr}`);
  const results = ledgerResults(out);
  assert.equal(results.length, 4, stdout);
  for (const r of results) assert.ok(['ok', 'diverged'].includes(r.envelope!.status), JSON.stringify(r));
  // Batches of 2 rules: one on each GPU's worker.
  assert.deepEqual([...new Set(results.map((r) => r.envelope!.worker.replace(/:pid\d+$/, '')))].sort(), ['gpu0', 'gpu1']);
  // Said once per GPU, where its children trained and with which kernels.
  for (const k of [0, 1]) {
    const said = new RegExp(`note: training on nos fake device ${k} \\(sm_90\\), GPU ${k}, \\d+ child slots: convolutions direct, weight gradients direct\n`, 'g');
    assert.equal(stderr.match(said)?.length, 1, stderr);
  }
});

test('nos search --device cuda on a GPU that cannot train stops with the reason, records no rule, and resumes once it works', { skip }, async () => {
  const out = fs.mkdtempSync(path.join(fake ? fake.dir : '/tmp', 'search-broken-'));
  const args = searchArgs(out);
  // Every worker's 40th launch faults: the rules and the control rule alike.
  const broken = await runNos(args, { NOS_FAKE_CUDA_FAULT_AT: '40' });
  assert.equal(broken.code, 1, `${broken.stdout}\n${broken.stderr}`);
  assert.match(broken.stderr, /the GPU cannot train even the control rule sgd alone .*\nthe search (stopped: every result recorded before this is in the ledger.*continue with: nos search --resume --out \S+|did not start \(nothing was recorded\); once the GPU works, run the same command again)\n/);
  assert.deepEqual(ledgerResults(out), [], 'no rule is blamed for the GPU');
  const resumed = await runNos([...args, '--resume']);
  assert.equal(resumed.code, 0, `${resumed.stdout}\n${resumed.stderr}`);
  const results = ledgerResults(out);
  assert.equal(results.length, 4);
  for (const r of results) assert.ok(['ok', 'diverged'].includes(r.envelope!.status), JSON.stringify(r));
});

test('nos search --device cuda on several GPUs none of which can train stops with each one\'s reason and records no rule', { skip }, async () => {
  const out = fs.mkdtempSync(path.join(fake ? fake.dir : '/tmp', 'search-none-'));
  const none = await runNos(searchArgs(out), { NOS_FAKE_CUDA_DEVICES: '2', NOS_FAKE_CUDA_BROKEN: '0,1' });
  assert.equal(none.code, 1, `${none.stdout}\n${none.stderr}`);
  assert.match(none.stderr, /gpu pools: no GPU can train: GPU 0: gpu pool: the GPU engine could not start: [^;]*no GPU is visible[^;]*; GPU 1: gpu pool: the GPU engine could not start: .*no GPU is visible/);
  assert.match(none.stderr, /once the GPU works/);
  // Each worker's answer comes after its word that it is ready; sent before that, it went unheard and the GPU looked hung.
  assert.doesNotMatch(none.stderr, /stalled|without word/);
  assert.deepEqual(ledgerResults(out), []);
});
