// Runs a study's searches side by side on one shared pool of workers and one result cache; resumable at any point.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Backend } from '../../src/search/backend';
import { createGpuBackend } from '../../src/search/pool-gpu';
import { createLocalBackend } from '../../src/search/pool-local';
import { LEDGER_FILE, readLedger } from '../../src/search/ledger';
import { validateConfig, type SearchConfig } from '../../src/search/search-config';
import { buildSearchConfig } from '../../src/search/search-inputs';
import { runSearch } from '../../src/search/search-loop';
import { ResultCache } from './result-cache';
import { SharedTrainer, type SharedStats } from './shared-backend';

export interface StudySearch {
  space: string; strategy: 'ppo' | 'random' | 'evolution'; seed: number;
  /** Names a variant (e.g. PPO settings under test); part of the folder name. */
  label: string;
  ppo?: string;
  /** Options of another strategy (createStrategy's), e.g. random search's { freshDraws: 20 }. */
  options?: Record<string, unknown>;
  outDir: string;
}

/** Where the study trains: the CPU path's local pool, or the child engine on the GPU or on its CPU twin (host). */
export type StudyDevice = 'cpu' | 'cuda' | 'host';

export interface StudyOptions {
  budget: number; workers: number; cacheFile: string; protocol: string;
  /** The dataset folder (default: the protocol's, Fashion-MNIST where Debian puts it). */
  data?: string;
  /** Default 'cpu'. On the engine ('cuda', 'host') the searches' config says device cuda, fidelity full. */
  device?: StudyDevice;
  /** Trainings each search keeps queued or running (default: the search's own default for the device). */
  inFlight?: number;
  /** Searches running at once (the rest wait their turn). */
  concurrent: number;
  signal?: AbortSignal;
  log: (line: string) => void;
  /** Seconds between progress lines. */
  progressEvery?: number;
  /** New searches' hurdles, equivalence cache and fidelity (nos search's defaults where absent). */
  screen?: { hurdles?: boolean; fec?: boolean; fidelity?: string };
}

/** How far a search folder got: null when it holds no search yet. */
function recorded(outDir: string): { results: number; finished: boolean } | null {
  const file = path.join(outDir, LEDGER_FILE);
  if (!fs.existsSync(file)) return null;
  const { records } = readLedger(file);
  const results = new Set(records.flatMap((r) => (r.type === 'result' ? [r.index] : []))).size;
  const last = [...records].reverse().find((r) => r.type === 'finish' || r.type === 'resume' || r.type === 'stop');
  return { results, finished: last?.type === 'finish' };
}

/** The child engine's last round (progress lines): how full its slots are. */
interface EngineRound { children: number; capacity: number; seconds: number }

/** The study's one pool: local workers, or one GPU worker whose engine trains every search's rules side by side. */
function makePool(options: StudyOptions, onRound: (r: EngineRound) => void): Backend {
  const device = options.device ?? 'cpu';
  if (device === 'cpu') return createLocalBackend({ workers: options.workers, limits: { timeoutMs: 600_000, maxRssMb: 4096 } });
  // A rule's time limit counts from its first child starting; the worker holds every search's rules and their data.
  return createGpuBackend({ limits: { timeoutMs: 1_800_000, maxRssMb: 16_384 }, engine: device, onRound });
}

/** A new search's config; on the engine, device cuda (its jobs ask for the child engine; the pool says GPU or twin). */
function newSearchConfig(s: StudySearch, options: StudyOptions): SearchConfig {
  const device = options.device ?? 'cpu';
  const inputs = { budget: options.budget, workers: options.workers, strategy: s.strategy, space: s.space, protocol: options.protocol, seed: s.seed, ppo: s.ppo, data: options.data,
    hurdles: options.screen?.hurdles, fec: options.screen?.fec, fidelity: options.screen?.fidelity };
  const withOptions = (c: SearchConfig): SearchConfig => ({ ...c, strategyOptions: { ...c.strategyOptions, ...s.options } });
  if (device === 'cpu') return { ...withOptions(buildSearchConfig({ ...inputs, device: 'cpu' })), ...(options.inFlight ? { inFlight: options.inFlight } : {}) };
  // Built as cpu, so the host twin needs no GPU here; the engine trains the whole protocol (fidelity full).
  const config: SearchConfig = { ...withOptions(buildSearchConfig({ ...inputs, device: 'cpu', fidelity: 'full' })), device: 'cuda' };
  if (options.inFlight) config.inFlight = options.inFlight;
  validateConfig(config);
  return config;
}

export async function runStudy(searches: StudySearch[], options: StudyOptions): Promise<SharedStats> {
  const device = options.device ?? 'cpu';
  const cache = new ResultCache(options.cacheFile, device === 'cpu' ? undefined : device);
  let round: EngineRound | null = null;
  const pool = makePool(options, (r) => { round = r; });
  const trainer = new SharedTrainer(pool, cache);
  const done = new Map<string, number>(searches.map((s) => [s.outDir, recorded(s.outDir)?.results ?? 0]));
  const total = searches.length * options.budget;
  const startedAt = Date.now();
  const doneAtStart = [...done.values()].reduce((a, b) => a + Math.min(b, options.budget), 0);
  options.log(`study: ${searches.length} searches of ${options.budget} rules, ${doneAtStart} of ${total} rules already recorded; cache ${options.cacheFile} holds ${cache.size} trainings`);
  const progress = setInterval(() => {
    const now = [...done.values()].reduce((a, b) => a + Math.min(b, options.budget), 0);
    const hours = (Date.now() - startedAt) / 3.6e6;
    const rate = (now - doneAtStart) / hours;
    const eta = rate > 0 ? (total - now) / rate : NaN;
    const s = trainer.stats;
    const r = round as EngineRound | null;
    options.log(`study: ${now}/${total} rules, ${rate.toFixed(0)} rules/h (${(rate / 60).toFixed(1)}/min), ETA ${Number.isFinite(eta) ? `${(eta * 60).toFixed(0)} min` : '?'}; ` +
      `trained ${s.trained} (${(s.trainMs / Math.max(1, s.trained) / 1000).toFixed(1)} s each), from the cache ${s.fromCache}, joined ${s.joined}` +
      (r ? `; engine's last round ${r.children}/${r.capacity} slots, ${r.seconds.toFixed(2)} s` : ''));
  }, (options.progressEvery ?? 60) * 1000);
  const queue = [...searches];
  const runOne = async (s: StudySearch): Promise<void> => {
    const state = recorded(s.outDir);
    if (state && state.finished && state.results >= options.budget) return;
    const name = path.relative(process.cwd(), s.outDir).startsWith('..') ? s.outDir : path.relative(process.cwd(), s.outDir);
    const common = {
      outDir: s.outDir, signal: options.signal,
      deps: { makeBackend: () => trainer.view() },
      onEvent: (e: { type: string; done?: number }) => { if (e.type === 'result' && e.done !== undefined) done.set(s.outDir, e.done); },
    };
    if (state) {
      await runSearch({ ...common, resume: true, overrides: { budget: options.budget, ...(options.inFlight ? { inFlight: options.inFlight } : {}) } });
    } else {
      const config = newSearchConfig(s, options);
      fs.mkdirSync(s.outDir, { recursive: true });
      await runSearch({ ...common, config });
    }
    if (!options.signal?.aborted) options.log(`study: ${name} finished`);
  };
  const lanes = Array.from({ length: Math.min(options.concurrent, queue.length) }, async () => {
    for (let s = queue.shift(); s && !options.signal?.aborted; s = queue.shift()) await runOne(s);
  });
  try {
    await Promise.all(lanes);
  } finally {
    clearInterval(progress);
    await trainer.close();
  }
  return trainer.stats;
}
