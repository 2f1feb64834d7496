// The evaluation protocol (paper 4.2): a learning-rate sweep, a final run at the best rate, reward = held-out accuracy.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import { createOptimizer, type Optimizer } from '../optimizer';
import { checkDataFingerprint, DEFAULT_DATA_PATH, loadTrainingData, prepareSplits, type PreparedData } from './data';
import { checkDataFitsProtocol, protocolModel } from './protocol-data';
import { SeededRandom } from './random';
import { halvingSweep, HALVING_ETA, HALVING_RUNGS } from './sweep-halving';
import { trainEpochs, type TrainResult } from './train-loop';
import type { ChildTrainer } from './trainer';
import { describeFsError, NosError } from '../../errors';

/** Bumped whenever a change could alter a reward for the same rule, protocol and seed. */
export const PROTOCOL_VERSION = 1;

/**
 * How the learning rates are swept: 'full' (the paper's: each rate trains sweepEpochs, all scored), 'halving'
 * (successive halving: sweep-halving.ts), or 'none' (no sweep: the one rate in lrs is the final run's).
 */
export type SweepMode = 'full' | 'halving' | 'none';
export const SWEEP_MODES: readonly SweepMode[] = ['full', 'halving', 'none'];

export interface ProtocolConfig {
  name: string;
  lrs: number[];
  sweepEpochs: number;
  /** 0: no final run; the reward is the best rate's held-out accuracy after the sweep. */
  finalEpochs: number;
  /** Default 'full'. */
  sweep?: SweepMode;
  trainExamples: number;
  validationExamples: number;
  batchSize: number;
  model: 'convnet' | 'mlp';
  /** The convnet's filters per convolution (default 32, the paper's); a convnet protocol's only. */
  filters?: number;
  /** The MLP's hidden units (default 100); an mlp protocol's only. */
  hidden?: number;
  threads: number;
  maxSeconds: number;
}

const DECADES = [-5, -4, -3, -2, -1, 0, 1].map((i) => Number(`1e${i}`));

export const PROTOCOLS: Record<'paper' | 'quick', ProtocolConfig> = {
  // Paper 4.2: 10^i for i = -5..1, one epoch each on 10,000 examples, the best trains 5 epochs, batch 100,
  // reward = accuracy on a fixed held-out 5,000.
  paper: {
    name: 'paper', lrs: DECADES, sweepEpochs: 1, finalEpochs: 5, trainExamples: 10000, validationExamples: 5000,
    batchSize: 100, model: 'convnet', threads: 2, maxSeconds: 1800,
  },
  // For searches in minutes: the paper's sweep, step counts and held-out set, on a small MLP (784-100-10) that
  // trains about 20x faster than the convnet; one core.
  quick: {
    name: 'quick', lrs: DECADES, sweepEpochs: 1, finalEpochs: 5, trainExamples: 10000, validationExamples: 5000,
    batchSize: 100, model: 'mlp', threads: 1, maxSeconds: 120,
  },
};

/** A run's time cap: at most what a timer can wait (2^31 - 1 ms), so the job's time limit derived from it is finite. */
export const MAX_PROTOCOL_SECONDS = 2147483;
/** onnxruntime threads per child: more cannot help on any machine here, and 100000 never starts training. */
export const MAX_PROTOCOL_THREADS = 256;

const positiveInt = { type: 'integer', minimum: 1 };
/** Widths past these only exhaust memory on the machines nos runs on (a child of 1024 filters is 38M weights). */
export const MAX_FILTERS = 1024;
export const MAX_HIDDEN = 65536;
const PROTOCOL_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    extends: { enum: ['paper', 'quick'] },
    // Shown in headers and reports: no control or direction characters.
    name: { type: 'string', minLength: 1, pattern: '^[^\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069]+$' },
    lrs: { type: 'array', minItems: 1, items: { type: 'number', exclusiveMinimum: 0 } },
    sweepEpochs: positiveInt,
    finalEpochs: { type: 'integer', minimum: 0 },
    sweep: { enum: [...SWEEP_MODES] },
    trainExamples: positiveInt,
    validationExamples: positiveInt,
    batchSize: positiveInt,
    model: { enum: ['convnet', 'mlp'] },
    filters: { ...positiveInt, maximum: MAX_FILTERS },
    hidden: { ...positiveInt, maximum: MAX_HIDDEN },
    threads: { ...positiveInt, maximum: MAX_PROTOCOL_THREADS },
    maxSeconds: { type: 'number', exclusiveMinimum: 0, maximum: MAX_PROTOCOL_SECONDS },
  },
};
const validateProtocol = new Ajv({ allErrors: true }).compile(PROTOCOL_SCHEMA);
/** A protocol to run (not a file's fields over a preset): every field but sweep, and no extends. */
const RUN_FIELDS: ReadonlyArray<Exclude<keyof ProtocolConfig, 'sweep'>> = [
  'name', 'lrs', 'sweepEpochs', 'finalEpochs', 'trainExamples', 'validationExamples', 'batchSize', 'model', 'threads', 'maxSeconds',
];
const validateRunProtocol = new Ajv({ allErrors: true }).compile({ ...PROTOCOL_SCHEMA, required: RUN_FIELDS, not: { required: ['extends'] } });

/** A bad protocol name or file; the message says which and why. */
export class ProtocolError extends NosError {
  constructor(message: string) {
    super(message, 2);
  }
}

/**
 * 'paper', 'quick', or a JSON file: any subset of the ProtocolConfig fields, on top of the preset named by
 * "extends" (default 'paper').  Unknown fields and bad values are refused with their JSON path.
 */
export function loadProtocol(nameOrFile: string): ProtocolConfig {
  if (nameOrFile === 'paper' || nameOrFile === 'quick') return { ...PROTOCOLS[nameOrFile], lrs: [...PROTOCOLS[nameOrFile].lrs] };
  if (typeof nameOrFile !== 'string' || nameOrFile === '') {
    throw new ProtocolError(`protocol must be a preset name (paper, quick) or a JSON file's path, received ${JSON.stringify(nameOrFile) ?? String(nameOrFile)}`);
  }
  if (!fs.existsSync(nameOrFile)) {
    throw new ProtocolError(`protocol '${nameOrFile}': not a preset (paper, quick) and no such file`);
  }
  let text: string;
  try {
    text = fs.readFileSync(nameOrFile, 'utf8');
  } catch (e) {
    throw new ProtocolError(`protocol file ${nameOrFile}: cannot be read: ${describeFsError(e)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new ProtocolError(`protocol file ${nameOrFile}: not valid JSON (${(e as Error).message})`);
  }
  if (!validateProtocol(parsed)) {
    const problems = (validateProtocol.errors ?? []).map((e) => {
      const where = e.instancePath || '/';
      const extra = e.keyword === 'additionalProperties' ? ` '${(e.params as { additionalProperty: string }).additionalProperty}'` : '';
      return `${where} ${e.message}${extra}`;
    });
    throw new ProtocolError(`protocol file ${nameOrFile}: ${problems.join('; ')}`);
  }
  const { extends: base = 'paper', ...fields } = parsed as Partial<ProtocolConfig> & { extends?: 'paper' | 'quick' };
  const protocol: ProtocolConfig = { ...PROTOCOLS[base], lrs: [...PROTOCOLS[base].lrs], name: path.basename(nameOrFile, '.json'), ...fields };
  // Checked here too, so a file no run could use is refused when it is named, not as an error on every rule.
  const problem = protocolProblem(protocol);
  if (problem) throw new ProtocolError(`protocol file ${nameOrFile}: ${problem}`);
  return protocol;
}

/** What makes a protocol that passes the schema impossible to run, or null. */
function protocolProblem(p: ProtocolConfig): string | null {
  // The kernels take the rate as a float32: 1e-50 would train with a rate of 0, 1e39 with an infinite one.
  const unusable = p.lrs.findIndex((lr) => Math.fround(lr) === 0 || !Number.isFinite(Math.fround(lr)));
  if (unusable >= 0) return `/lrs/${unusable} ${p.lrs[unusable]} is ${Math.fround(p.lrs[unusable]) === 0 ? '0' : 'infinite'} as a float32 (the kernels' rate): no step would train with it`;
  // Two rates one float32 apart train the same child twice (and a tie in the sweep picks either).
  const repeat = p.lrs.findIndex((lr, i) => p.lrs.slice(0, i).some((earlier) => Math.fround(earlier) === Math.fround(lr)));
  if (repeat >= 0) return `/lrs/${repeat} ${p.lrs[repeat]} is already in /lrs (as a float32, the kernels' rate): each rate once`;
  if (p.trainExamples < p.batchSize) return `/batchSize ${p.batchSize} is larger than /trainExamples ${p.trainExamples}: not one batch could be trained (trainExamples is smaller than one batch)`;
  if (p.sweep === 'none' && p.lrs.length !== 1) return `/sweep "none" trains one learning rate, but /lrs has ${p.lrs.length}`;
  if (p.sweep === 'none' && p.finalEpochs === 0) return '/sweep "none" with /finalEpochs 0 trains nothing';
  if (p.filters !== undefined && p.model !== 'convnet') return `/filters is the convnet's width; the ${p.model}'s is /hidden`;
  if (p.hidden !== undefined && p.model !== 'mlp') return `/hidden is the mlp's width; the ${p.model}'s is /filters`;
  return null;
}

/** Epochs of training one evaluation runs at most (for progress bars): the sweep's share for each rate, and the final run. */
export function epochsToTrain(p: ProtocolConfig): number {
  const mode = p.sweep ?? 'full';
  let sweep = mode === 'none' ? 0 : p.lrs.length * p.sweepEpochs;
  if (mode === 'halving') {
    sweep = 0;
    let alive = p.lrs.length;
    let before = 0;
    for (const fraction of HALVING_RUNGS) {
      sweep += alive * (fraction - before) * p.sweepEpochs;
      before = fraction;
      alive = Math.ceil(alive / HALVING_ETA);
    }
  }
  return sweep + p.finalEpochs;
}

/** epochs: how much of the sweep the rate trained, when a halving sweep stopped it early (its accuracy is then on the first HALVING_SUBSET held-out examples). */
export interface SweepEntry { lr: number; accuracy: number; loss: number; status: 'ok' | 'diverged'; epochs?: number }

export interface EvalOutcome {
  status: 'ok' | 'diverged' | 'error';
  reward: number;
  bestLr: number | null;
  sweep: SweepEntry[];
  seconds: number;
  /** CPU seconds this process used during the evaluation (user + system, every thread of onnxruntime included). */
  cpuSeconds?: number;
  error?: string;
}

export interface EvalProgress { phase: 'sweep' | 'final'; lr: number; epoch: number; batch: number; batches: number }

export interface EvalOptions {
  device?: 'cpu' | 'cuda';
  seed?: number;
  onProgress?: (p: EvalProgress) => void;
}

// A worker evaluates many rules in one process: keep the prepared data and the onnxruntime sessions.
const dataCache = new Map<string, PreparedData>();
const trainerCache = new Map<string, { trainer: ChildTrainer; busy: boolean }>();

/** Loads and splits the data for a protocol (cached per path and split sizes); throws DataError on bad files or sizes. */
export function loadProtocolData(protocol: ProtocolConfig, dataPath: string = DEFAULT_DATA_PATH): PreparedData {
  const key = `${path.resolve(dataPath)}|${protocol.trainExamples}|${protocol.validationExamples}`;
  let data = dataCache.get(key);
  if (!data) {
    data = prepareSplits(loadTrainingData(dataPath), protocol.trainExamples, protocol.validationExamples);
    dataCache.set(key, data);
  }
  return checkDataFitsProtocol(protocol, data);
}

async function acquireTrainer(protocol: ProtocolConfig, data: PreparedData): Promise<{ trainer: ChildTrainer; release: () => void }> {
  const key = `${protocol.model}|${protocol.filters ?? '-'}|${protocol.hidden ?? '-'}|${data.channels}x${data.height}x${data.width}|${data.classes}|${protocol.batchSize}|${protocol.threads}`;
  const cached = trainerCache.get(key);
  if (cached && !cached.busy) {
    cached.busy = true;
    return { trainer: cached.trainer, release: () => { cached.busy = false; } };
  }
  const model = protocolModel(protocol, data);
  // Loaded on first use: the GPU path (device 'cuda', src/runtime/engine) reads this file but never loads onnxruntime.
  const { ChildTrainer } = require('./trainer') as typeof import('./trainer');
  const trainer = await ChildTrainer.create(model, { batchSize: protocol.batchSize, threads: protocol.threads });
  if (cached) return { trainer, release: () => void trainer.dispose() }; // the cached one is in use: a private one
  const entry = { trainer, busy: true };
  trainerCache.set(key, entry);
  return { trainer, release: () => { entry.busy = false; } };
}

/** Throws a ProtocolError naming what makes `p` no protocol (the schema's field paths) or impossible to run. */
export function checkProtocol(p: ProtocolConfig): void {
  // (Passed as unknown: the validator is a type guard and would narrow p to never on failure.)
  if (!validateRunProtocol(p as unknown)) {
    const problems = (validateRunProtocol.errors ?? []).map((e) => e.keyword === 'not' ? "'extends' is for protocol files (loadProtocol)" : `${e.instancePath || '/'} ${e.message}`);
    throw new ProtocolError(`protocol '${(p as { name?: unknown })?.name}': ${problems.join('; ')}`);
  }
  const problem = protocolProblem(p);
  if (problem) throw new ProtocolError(`protocol '${p.name}': ${problem}`);
}

/** Loss recorded for a diverged run: the loss that tripped the check if finite, else the largest double (JSON-safe). */
function divergedLoss(r: TrainResult): number {
  return Number.isFinite(r.lastLoss) ? r.lastLoss : Number.MAX_VALUE;
}

class TimeLimit extends Error {}

/** What one evaluation needs while it runs. */
interface EvalRun {
  rule: string; protocol: ProtocolConfig; trainer: ChildTrainer; prepared: PreparedData; seed: number;
  device: 'cpu' | 'cuda'; deadline: number; onProgress?: (p: EvalProgress) => void;
  /** The sweep's entries as they come (kept when a later step fails). */
  sweep: SweepEntry[];
}

function makeOptimizer(r: EvalRun, lr: number, totalSteps: number): Optimizer {
  return createOptimizer(r.rule, { lr, totalSteps, seed: r.seed, device: r.device, threads: 1 });
}

/** One run from a fresh init: a rate of the full sweep, or the final run. */
async function trainFresh(r: EvalRun, phase: 'sweep' | 'final', lr: number, epochs: number): Promise<TrainResult> {
  r.trainer.initialize(r.seed);
  const batches = Math.floor(r.protocol.trainExamples / r.protocol.batchSize);
  let optimizer: Optimizer | undefined;
  try {
    optimizer = makeOptimizer(r, lr, epochs * batches);
    const result = await trainEpochs(r.trainer, optimizer, r.prepared.train, {
      epochs, rng: new SeededRandom(r.seed + 1), deadline: r.deadline,
      onBatch: r.onProgress ? (epoch, batch, total) => r.onProgress!({ phase, lr, epoch, batch, batches: total }) : undefined,
    });
    if (result.status === 'timeout') throw new TimeLimit(`exceeded maxSeconds (${r.protocol.maxSeconds} s) during the ${phase} run at lr ${lr}`);
    return result;
  } finally {
    optimizer?.dispose();
  }
}

/** The paper's sweep: every rate trains sweepEpochs from a fresh init and is scored on the held-out set. */
async function fullSweep(r: EvalRun): Promise<{ bestLr: number | null; bestAccuracy: number }> {
  let bestLr: number | null = null;
  let bestAccuracy = -1;
  for (const lr of r.protocol.lrs) {
    const result = await trainFresh(r, 'sweep', lr, r.protocol.sweepEpochs);
    if (result.status === 'diverged') {
      r.sweep.push({ lr, accuracy: 0, loss: divergedLoss(result), status: 'diverged' });
      continue;
    }
    const score = await r.trainer.evaluate(r.prepared.validation);
    r.sweep.push({ lr, accuracy: score.accuracy, loss: score.loss, status: 'ok' });
    if (score.accuracy > bestAccuracy) {
      bestAccuracy = score.accuracy;
      bestLr = lr;
    }
  }
  return { bestLr, bestAccuracy };
}

/** The sweep as the protocol says: full, by successive halving, or none (its one rate). */
async function sweepRates(r: EvalRun): Promise<{ bestLr: number | null; bestAccuracy: number }> {
  const mode = r.protocol.sweep ?? 'full';
  if (mode === 'none') return { bestLr: r.protocol.lrs[0], bestAccuracy: NaN };
  if (mode === 'full') return fullSweep(r);
  const halving = await halvingSweep({
    trainer: r.trainer, data: r.prepared, lrs: r.protocol.lrs, sweepEpochs: r.protocol.sweepEpochs, seed: r.seed, deadline: r.deadline,
    makeOptimizer: (lr, totalSteps) => makeOptimizer(r, lr, totalSteps),
    onBatch: r.onProgress ? (lr, epoch, batch, batches) => r.onProgress!({ phase: 'sweep', lr, epoch, batch, batches }) : undefined,
  });
  r.sweep.push(...halving.sweep);
  const best = halving.sweep.find((e) => e.lr === halving.bestLr && e.epochs === r.protocol.sweepEpochs);
  return { bestLr: halving.bestLr, bestAccuracy: best?.accuracy ?? NaN };
}

/**
 * Runs the protocol for one rule.  Never throws for a rule that fails to train: divergence and errors come back as
 * the status with reward 0 (the floor).  Bad input (rule, data, protocol) comes back as status 'error' too; callers
 * that want to refuse it up front check it first (the CLI does).
 */
export async function evaluateRule(rule: string, protocol: ProtocolConfig, data: { path?: string; fingerprint?: string }, options: EvalOptions = {}): Promise<EvalOutcome> {
  if (options.device === 'cuda') {
    // The network trains on the GPU too: the child engine (onProgress is not called; it reports whole rounds).
    const engine = require('../engine/evaluate-rule') as typeof import('../engine/evaluate-rule');
    return engine.evaluateRuleOnEngine(rule, protocol, data, { device: 'cuda', seed: options.seed });
  }
  const started = Date.now();
  const cpuStart = process.cpuUsage();
  const seconds = () => (Date.now() - started) / 1000;
  const cpuSeconds = () => { const used = process.cpuUsage(cpuStart); return (used.user + used.system) / 1e6; };
  const sweep: SweepEntry[] = [];
  let bestLr: number | null = null;
  let lease: { trainer: ChildTrainer; release: () => void } | undefined;
  const end = (status: EvalOutcome['status'], reward: number, error?: string): EvalOutcome =>
    ({ status, reward, bestLr, sweep, seconds: seconds(), cpuSeconds: cpuSeconds(), ...(error !== undefined ? { error } : {}) });
  try {
    checkProtocol(protocol);
    const prepared = loadProtocolData(protocol, data.path);
    checkDataFingerprint(prepared, data.fingerprint, data.path ?? DEFAULT_DATA_PATH);
    lease = await acquireTrainer(protocol, prepared);
    const r: EvalRun = { rule, protocol, trainer: lease.trainer, prepared, seed: options.seed ?? 0, device: options.device ?? 'cpu',
      deadline: started + protocol.maxSeconds * 1000, onProgress: options.onProgress, sweep };
    const swept = await sweepRates(r);
    bestLr = swept.bestLr;
    if (bestLr === null) return end('diverged', 0, 'every learning rate of the sweep diverged');
    if (protocol.finalEpochs === 0) return end('ok', swept.bestAccuracy);
    const final = await trainFresh(r, 'final', bestLr, protocol.finalEpochs);
    if (final.status === 'diverged') return end('diverged', 0, `final run diverged: ${final.reason}`);
    const score = await lease.trainer.evaluate(prepared.validation);
    return end('ok', score.accuracy);
  } catch (e) {
    return end('error', 0, e instanceof Error ? e.message : String(e));
  } finally {
    lease?.release();
  }
}
