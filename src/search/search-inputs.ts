// Resolves what the user named on the command line (space, protocol, limits) into a SearchConfig, with clear errors.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_FAKE_PROTOCOL, validateFakeProtocol, type FakeProtocolConfig } from './fake-evaluator';
import { DEFAULT_FIDELITY, FIDELITIES, type Fidelity } from './fidelity';
import { defaultInFlight, defaultLimits, STRATEGY_KINDS, validateConfig, type SearchConfig, type StrategyKind } from './search-config';
import type { ProtocolConfig } from '../runtime/child/protocol';
import type { SearchSpace } from '../controller/strategy';
import { makeDirs } from '../runtime/make-dirs';
import { describeFsError, errnoWords, InputError } from '../errors';

/** Bad input from the user (flag, file): the CLI exits with code 2. */

export interface SearchInputs {
  /** batchSize: default 5 (the paper's), 1 for evolution (steady state). inFlight: default defaultInFlight. */
  budget: number; batchSize?: number; workers?: number; strategy: string; space: string; protocol: string;
  data?: string; device: string; seed: number; queue?: string; timeoutS?: number; maxRssMb?: number; inFlight?: number;
  /** PPO settings in their text form (`paper`, `learningRate=1e-4,entropyWeight=0.01`, ...): only with strategy ppo. */
  ppo?: string;
  /** Top rules to train again with two more seeds when the budget is spent (default 0 here; nos search's is 10). */
  confirm?: number;
  /** The hurdles and the equivalence cache; both on unless turned off. fidelity: default DEFAULT_FIDELITY ('full' with cuda). */
  hurdles?: boolean; fec?: boolean; fidelity?: string;
}

/** The batch size when none is given: the paper's 5; evolution breeds one child per finished rule. */
export function defaultBatchSize(strategy: string): number {
  return strategy === 'evolution' ? 1 : 5;
}

/** `fake`, a JSON file whose name is "fake", or anything child training's loadProtocol accepts (paper, quick, FILE). */
export function resolveProtocol(nameOrFile: string): ProtocolConfig | FakeProtocolConfig {
  if (nameOrFile === 'fake') return { ...DEFAULT_FAKE_PROTOCOL };
  if (nameOrFile.endsWith('.json') && fs.existsSync(nameOrFile)) {
    let text: string;
    try {
      text = fs.readFileSync(nameOrFile, 'utf8');
    } catch (e) {
      throw new InputError(`--protocol ${nameOrFile}: cannot read the file: ${describeFsError(e)}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new InputError(`--protocol ${nameOrFile}: not valid JSON (${(e as Error).message})`);
    }
    if ((json as { name?: unknown })?.name === 'fake') {
      try { return validateFakeProtocol(json, `--protocol ${nameOrFile}`); } catch (e) { throw new InputError((e as Error).message); }
    }
  }
  let mod: typeof import('../runtime/child/protocol');
  try {
    mod = require('../runtime/child/protocol');
  } catch (e) {
    throw new Error(`--protocol ${nameOrFile}: child training is not available in this build (${(e as Error).message})`);
  }
  try {
    return mod.loadProtocol(nameOrFile);
  } catch (e) {
    throw new InputError(`--protocol ${nameOrFile}: ${(e as Error).message}`);
  }
}

/** --ppo: parsed and checked here, so a bad setting is refused before anything is written. */
function resolvePpoInput(inputs: SearchInputs): Record<string, unknown> {
  if (inputs.ppo === undefined) return {};
  if (inputs.strategy !== 'ppo') throw new InputError(`--ppo sets the PPO controller; it does not apply to --strategy ${inputs.strategy}`);
  const { parsePpoSettings } = require('../controller/ppo-settings') as typeof import('../controller/ppo-settings');
  try {
    const settings = parsePpoSettings(inputs.ppo, '--ppo');
    if (settings.batchSize !== undefined) throw new InputError('--ppo: set the batch with --batch-size, not batchSize');
    return settings;
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError((e as Error).message);
  }
}

export function resolveSpace(nameOrFile: string): SearchSpace {
  const controller = require('../controller/search-space') as { loadSearchSpace(n: string): SearchSpace };
  return controller.loadSearchSpace(nameOrFile); // throws SearchSpaceError naming the file and JSON path
}

export function buildSearchConfig(inputs: SearchInputs): SearchConfig {
  if (!STRATEGY_KINDS.includes(inputs.strategy as StrategyKind)) {
    throw new InputError(`--strategy must be one of ${STRATEGY_KINDS.join(', ')}, got ${JSON.stringify(inputs.strategy)}`);
  }
  if (inputs.device !== 'cpu' && inputs.device !== 'cuda') throw new InputError(`--device must be cpu or cuda, got ${JSON.stringify(inputs.device)}`);
  if (inputs.fidelity !== undefined && !FIDELITIES.includes(inputs.fidelity as Fidelity)) {
    throw new InputError(`--fidelity must be one of ${FIDELITIES.join(', ')}, got ${JSON.stringify(inputs.fidelity)}`);
  }
  // The CUDA child engine trains the whole protocol (its own sweep and final run): no screen, no halving there.
  if (inputs.device === 'cuda' && inputs.fidelity !== undefined && inputs.fidelity !== 'full') {
    throw new InputError(`--fidelity ${inputs.fidelity} is not available with --device cuda: the child engine trains the full protocol (use --fidelity full)`);
  }
  const ppo = resolvePpoInput(inputs);
  const workers = inputs.workers ?? Math.max(1, os.availableParallelism());
  const space = resolveSpace(inputs.space);
  let protocol = resolveProtocol(inputs.protocol);
  if (protocol.name !== 'fake' && !inputs.protocol.endsWith('.json')) {
    // A preset protocol shares the cores among the workers; a protocol file keeps what it says.
    protocol = { ...(protocol as ProtocolConfig), threads: Math.max(1, Math.floor(os.availableParallelism() / workers)) };
  }
  const limits = defaultLimits(protocol);
  if (inputs.timeoutS !== undefined) limits.timeoutMs = Math.round(inputs.timeoutS * 1000);
  if (inputs.maxRssMb !== undefined) limits.maxRssMb = inputs.maxRssMb;
  if (inputs.data !== undefined && !fs.existsSync(inputs.data)) throw new InputError(`--data ${inputs.data}: no such file or folder`);
  const batchSize = inputs.batchSize ?? defaultBatchSize(inputs.strategy);
  const config: SearchConfig = {
    budget: inputs.budget, batchSize, strategy: inputs.strategy as StrategyKind, strategyOptions: { ...ppo, batchSize },
    // Local workers get an absolute path, so a --resume from another folder finds the same data; queue workers on
    // other machines read the path as given.
    space, spaceSource: inputs.space, protocol, data: inputs.data !== undefined ? { path: inputs.queue ? inputs.data : path.resolve(inputs.data) } : {},
    device: inputs.device, seed: inputs.seed, workers, limits, ...(inputs.queue ? { queue: inputs.queue } : {}),
    // On local GPUs the default is left to the backend: 256 per usable GPU (its inFlightHint).
    ...(inputs.inFlight !== undefined || inputs.queue || inputs.device !== 'cuda'
      ? { inFlight: inputs.inFlight ?? defaultInFlight({ queue: inputs.queue, workers, device: inputs.device }) } : {}),
    ...(inputs.confirm ? { confirm: inputs.confirm } : {}),
    hurdles: inputs.hurdles ?? true, fec: inputs.fec ?? true, fidelity: (inputs.fidelity ?? (inputs.device === 'cuda' ? 'full' : DEFAULT_FIDELITY)) as Fidelity,
  };
  try {
    validateConfig(config);
  } catch (e) {
    throw new InputError((e as Error).message);
  }
  if (protocol.name !== 'fake' && config.device === 'cuda' && !inputs.queue) checkCuda();
  if (protocol.name !== 'fake' && !inputs.queue) config.data.fingerprint = checkData(protocol as ProtocolConfig, config.data.path, config.device);
  // A queue's workers read their own copies: when this machine has the data too, they are held to its fingerprint.
  if (protocol.name !== 'fake' && inputs.queue) {
    const fingerprint = localFingerprint(protocol as ProtocolConfig, config.data.path);
    if (fingerprint) config.data.fingerprint = fingerprint;
  }
  return config;
}

/**
 * Before --resume: a search on local workers checks again that its data (and GPU) are there, so a dataset that was
 * moved, or a relative --data read from another folder, is one clear error and not an error on every new rule.
 */
export function checkResumeInputs(config: SearchConfig, queue?: string): void {
  if (config.queue || queue || !config.protocol || (config.protocol as { name?: unknown }).name === 'fake') return;
  if (config.device === 'cuda') checkCuda();
  let fingerprint: string;
  try {
    fingerprint = checkData(config.protocol as ProtocolConfig, config.data?.path, config.device);
  } catch (e) {
    throw new InputError(`${(e as Error).message} (a resumed search reads the data where it started; put it back there)`);
  }
  const started = config.data?.fingerprint;
  if (started !== undefined && fingerprint !== started) {
    throw new InputError(`--data ${config.data?.path ?? '(default)'}: not the data this search started on (fingerprint ${fingerprint}, the search's ${started}): ` +
      'its rewards would not compare with those already recorded; put the original data back there, or start a new search');
  }
}

/**
 * --device cuda (local workers, `nos eval`, a queue worker): a machine without a usable GPU is one clear error up
 * front, not an error per rule. With several GPUs each worker checks its own, and one that cannot train is left out
 * (pool-gpus.ts): the first must not stop the search alone, nor hold a context for the search's life.
 */
export function checkCuda(): void {
  const { visibleGpus } = require('./pool-gpu') as typeof import('./pool-gpu');
  if (visibleGpus().length > 1) return;
  const { createOptimizer } = require('../runtime/optimizer') as typeof import('../runtime/optimizer');
  try {
    createOptimizer('sgd', { device: 'cuda' }).dispose();
  } catch (e) {
    const first = ((e as Error).message ?? String(e)).split('\n')[0].replace(/\s*Tried:$/, '');
    throw new Error(`--device cuda: ${first}`); // the machine, not the input: exit 1
  }
}

/** The fingerprint of the data at `dataPath` on this machine, or null where it has none it can read. */
function localFingerprint(protocol: ProtocolConfig, dataPath: string | undefined): string | null {
  if (dataPath !== undefined && !fs.existsSync(dataPath)) return null;
  try {
    return checkData(protocol, dataPath, 'cpu'); // the queue's workers check their own device
  } catch {
    return null; // not here, or not readable here: the workers report their own errors
  }
}

/**
 * Loads the dataset once here so a missing or malformed one is a clear error before the search starts, not a
 * status 'error' on every rule; returns its fingerprint. (With --queue the workers may see other paths: they report
 * their own errors.)
 */
function checkData(protocol: ProtocolConfig, dataPath: string | undefined, device: SearchConfig['device']): string {
  const mod = require('../runtime/child/protocol') as typeof import('../runtime/child/protocol');
  const { fingerprintData } = require('../runtime/child/data') as typeof import('../runtime/child/data');
  let data;
  try {
    data = mod.loadProtocolData(protocol, dataPath);
  } catch (e) {
    const message = (e as Error).message;
    // The data errors start with the path they are about: say it once.
    throw new InputError(dataPath !== undefined && message.startsWith(dataPath) ? `--data ${message}` : `--data ${dataPath ?? '(default)'}: ${message}`);
  }
  if (device === 'cuda') {
    const { checkEngineTakes } = require('../runtime/engine/engine-evaluator') as typeof import('../runtime/engine/engine-evaluator');
    try {
      checkEngineTakes(protocol, data);
    } catch (e) {
      throw new InputError((e as Error).message);
    }
  }
  return fingerprintData(data);
}

/** What the local workers train on, in one line (null for a queue's workers, which read their own, or the fake protocol). */
export function describeSearchData(config: SearchConfig): string | null {
  if (config.queue || !config.protocol || (config.protocol as { name?: unknown }).name === 'fake') return null;
  const { loadProtocolData } = require('../runtime/child/protocol') as typeof import('../runtime/child/protocol');
  const { describeData } = require('../runtime/child/data') as typeof import('../runtime/child/data');
  return describeData(loadProtocolData(config.protocol as ProtocolConfig, config.data?.path)); // cached: checked above
}

/**
 * The search folder named by --out, checked before anything is written: a new search needs a folder it can create
 * and write that holds no search yet; --resume needs one that holds a search. Bad ones are InputErrors (exit 2).
 */
export function prepareOutDir(dir: string, resume: boolean): void {
  const where = `--out ${dir}`;
  // The nearest part of the path that exists says why a folder cannot be made (a file, a read-only disk, ...).
  let parent = dir;
  while (!fs.existsSync(parent) && path.dirname(parent) !== parent) parent = path.dirname(parent);
  if (!fs.statSync(parent).isDirectory()) throw new InputError(parent === dir ? `${where}: is a file, not a folder` : `${where}: ${parent} is a file, not a folder`);
  const stat = parent === dir ? fs.statSync(dir) : null;
  if (resume) {
    if (!stat || !fs.existsSync(path.join(dir, 'ledger.jsonl'))) throw new InputError(`${where}: holds no search to resume (no ledger.jsonl)`);
  } else if (!stat) {
    try {
      makeDirs(dir);
    } catch (e) {
      let why = errnoWords(e);
      try { fs.accessSync(parent, fs.constants.W_OK); } catch (denied) { why = `cannot write in ${parent} (${errnoWords(denied)})`; }
      throw new InputError(`${where}: cannot create the folder: ${why}`);
    }
  }
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw new InputError(`${where}: cannot write in the folder (${errnoWords(e)})`);
  }
  const ledger = path.join(dir, 'ledger.jsonl');
  if (!resume && fs.existsSync(ledger) && fs.statSync(ledger).size > 0) {
    throw new InputError(`${where}: already holds a search (ledger.jsonl); continue it with --resume or choose another --out`);
  }
}
