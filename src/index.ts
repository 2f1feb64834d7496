// The package's one entry, what `require('nos')` and `import { ... } from 'nos'` give (package.json main, types, exports).
//
// Loading it loads the compiler and the optimizer runtime only: child training (onnxruntime) and the search are
// loaded on the first call of evaluateRule, loadProtocol or runSearch.
import type { EvalOptions, EvalOutcome, ProtocolConfig } from './runtime/child/protocol';
import type { RunSearchOptions, SearchSummary } from './search/search-loop';
import type { SearchConfig } from './search/search-config';
import type { SearchInputs } from './search/search-inputs';

export { createOptimizer } from './runtime/optimizer';
export type { Optimizer, OptimizerOptions, OptimizerRule, OptimizerState, ScheduleSpec } from './runtime/optimizer';
export {
  compileRule, parseRule, printInfix, printLatex, printTokens, encodeTokens, decodeTokens, renderRule, loadJsKernel,
  interpretStep, fillScalars, decayValue, NAMED_RULES, TABLE6_RULES, NosSyntaxError, KERNEL_ABI_VERSION,
} from './compiler';
export type { RuleInfo, RenderTarget, JsTensor } from './compiler';
export { NosError, InputError } from './errors';
export { exportRule, EXPORT_TARGETS } from './export';
export type { ExportTarget, ExportOptions } from './export';
export type { ProtocolConfig, EvalOutcome, EvalOptions } from './runtime/child/protocol';
export type { SearchConfig } from './search/search-config';
export type { SearchEvent, SearchSummary } from './search/search-loop';

type ProtocolModule = typeof import('./runtime/child/protocol');
const protocolModule = (): ProtocolModule => require('./runtime/child/protocol') as ProtocolModule;

/** A protocol by name ('paper', 'quick') or JSON file, validated (child training's loadProtocol). */
export function loadProtocol(nameOrFile: string): ProtocolConfig {
  return protocolModule().loadProtocol(nameOrFile);
}

/**
 * Trains the paper's child (or the quick protocol's MLP) with `rule` over the protocol's learning-rate sweep and
 * gives its reward (child training's evaluateRule).  `protocol` is a ProtocolConfig or a name or file for
 * loadProtocol; `data.path` a dataset: a folder, or a NumPy .npz file (default: Debian's Fashion-MNIST).
 */
export async function evaluateRule(rule: string, protocol: ProtocolConfig | string = 'quick', data: { path?: string } = {},
  options: EvalOptions = {}): Promise<EvalOutcome> {
  const mod = protocolModule();
  // Arguments are the caller's mistake and throw; a rule that fails to train is an outcome (status 'error' and why).
  checkKeys(data, { path: true }, 'data', 'evaluateRule');
  if (data.path !== undefined && (typeof data.path !== 'string' || data.path === '')) throw new TypeError(`evaluateRule: data.path must be a dataset's path (a folder or an .npz file), received ${JSON.stringify(data.path)}`);
  checkKeys(options, EVAL_OPTION_KEYS, 'options', 'evaluateRule');
  if (options.device !== undefined && options.device !== 'cpu' && options.device !== 'cuda') throw new TypeError(`evaluateRule: options.device must be 'cpu' or 'cuda', received ${JSON.stringify(options.device)}`);
  if (options.seed !== undefined && !(Number.isInteger(options.seed) && options.seed >= 0 && options.seed < 2 ** 32)) throw new TypeError(`evaluateRule: options.seed must be an integer in [0, 2^32), received ${String(options.seed)}`);
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw new TypeError(`evaluateRule: options.onProgress must be a function, received ${typeof options.onProgress}`);
  if (typeof protocol === 'string') return mod.evaluateRule(rule, mod.loadProtocol(protocol), data, options);
  if (protocol === null || typeof protocol !== 'object') throw new TypeError(`evaluateRule: protocol must be a preset name, a JSON file's path or a ProtocolConfig, received ${protocol === null ? 'null' : typeof protocol}`);
  mod.checkProtocol(protocol);
  return mod.evaluateRule(rule, protocol, data, options);
}

/** The settings `nos search` takes as flags; each one left out takes the flag's default. */
export type SearchSettings = Partial<SearchInputs>;

/**
 * `nos search`'s defaults (test/package/api.test.ts holds them to the CLI's). The batch size and the trainings in
 * flight default by strategy and backend (buildSearchConfig), as the CLI's do.
 */
export const SEARCH_DEFAULTS: Readonly<Omit<SearchInputs, 'workers' | 'data' | 'queue' | 'timeoutS' | 'maxRssMb' | 'batchSize' | 'inFlight' | 'ppo'>> = Object.freeze({
  budget: 100, strategy: 'ppo', space: 'sign-family', protocol: 'quick', device: 'cpu', seed: 1, confirm: 10,
});

export interface SearchOptions extends Omit<RunSearchOptions, 'config' | 'deps'> {
  /** A new search's settings (as `nos search`'s flags: budget, space, protocol, ...), or a full SearchConfig. */
  config?: SearchSettings | SearchConfig;
}

// Every key each object of runSearch's and evaluateRule's may hold (Records, so the compiler says when one is added and not here).
const SEARCH_OPTION_KEYS: Record<keyof SearchOptions, true> = { outDir: true, resume: true, config: true, overrides: true, onEvent: true, signal: true };
const SEARCH_SETTING_KEYS: Record<keyof SearchInputs, true> = {
  budget: true, batchSize: true, workers: true, strategy: true, space: true, protocol: true, data: true, device: true, seed: true,
  queue: true, timeoutS: true, maxRssMb: true, inFlight: true, ppo: true, confirm: true, hurdles: true, fec: true, fidelity: true,
};
const EVAL_OPTION_KEYS: Record<keyof EvalOptions, true> = { device: true, seed: true, onProgress: true };
const OVERRIDE_KEYS: Record<keyof NonNullable<SearchOptions['overrides']>, true> = { budget: true, workers: true, queue: true, inFlight: true, confirm: true };

/** A misspelt setting would otherwise be ignored silently (budgett: a search of the default 100 rules would run). */
function checkKeys(value: unknown, known: Record<string, true>, where: string, fn = 'runSearch'): void {
  if (value === undefined) return;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new TypeError(`${fn}: ${where} must be an object, received ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(known, key)) throw new TypeError(`${fn}: unknown ${where === 'options' ? 'option' : `${where} setting`} '${key}' (known: ${Object.keys(known).join(', ')})`);
  }
}

function checkSearchOptions(options: SearchOptions): void {
  checkKeys(options, SEARCH_OPTION_KEYS, 'options');
  if (typeof options.outDir !== 'string' || options.outDir === '') throw new TypeError('runSearch: outDir must name the search folder (a non-empty string)');
  if (options.config !== undefined && !isFullConfig(options.config)) checkKeys(options.config, SEARCH_SETTING_KEYS, 'config');
  checkKeys(options.overrides, OVERRIDE_KEYS, 'overrides');
}

function isFullConfig(config: SearchSettings | SearchConfig): config is SearchConfig {
  return !!config && typeof (config as SearchConfig).limits === 'object' && typeof (config as SearchConfig).space === 'object';
}

/**
 * Runs a search into `outDir` (a new folder, or one to continue with `resume: true`) until its budget is spent or
 * `signal` aborts it, like `nos search`: the ledger, checkpoint and leaderboard files are the same.
 */
export async function runSearch(options: SearchOptions): Promise<SearchSummary> {
  const inputs = require('./search/search-inputs') as typeof import('./search/search-inputs');
  const loop = require('./search/search-loop') as typeof import('./search/search-loop');
  checkSearchOptions(options);
  const { config, ...rest } = options;
  let full: SearchConfig | undefined;
  if (!options.resume) full = config && isFullConfig(config) ? config : inputs.buildSearchConfig({ ...SEARCH_DEFAULTS, ...config });
  inputs.prepareOutDir(options.outDir, !!options.resume);
  return loop.runSearch({ ...rest, config: full });
}
