// The search loop (paper 3.2-3.3): propose a batch, log it, train its rules on the backend, log each result, feed the
// strategy, checkpoint, repeat; --resume rebuilds all of it from the checkpoint plus the ledger.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KERNEL_ABI_VERSION } from '../compiler/kernel-abi';
import type { Candidate, SearchSpace, Strategy } from '../controller/strategy';
import type { Backend, Envelope, Job, JobStatus } from './backend';
import { removeStaleTemporaries, writeFileAtomic } from './checked-write';
import { CHECKPOINT_VERSION, writeCheckpoint, type Checkpoint } from './checkpoint';
import { FAKE_PROTOCOL_VERSION } from './fake-evaluator';
import { lockFolder } from './folder-lock';
import { LEDGER_FILE, Ledger, type CandidateRecord, type LedgerRecord } from './ledger';
import { checkedEnvelope } from './record-validation';
import { readLedgerState, rebuildStrategy, type BatchState } from './resume';
import { identifyWithCompiler, type IdentifyRule } from './rule-identity';
import { validateConfig, type SearchConfig, type StrategyKind } from './search-config';
import { InputError } from './search-inputs';

export { LEDGER_FILE };
export const CONFIG_FILE = 'config.json';

export type MakeStrategy = (kind: StrategyKind, space: SearchSpace, seed: number, options: Record<string, unknown>) => Strategy;

/** What the loop needs from other parts; tests replace them with stand-ins. */
export interface SearchDeps {
  makeStrategy?: MakeStrategy;
  identify?: IdentifyRule;
  makeBackend?: (config: SearchConfig) => Backend | Promise<Backend>;
}

export type SearchEvent =
  | { type: 'started'; resumed: boolean; runId: string; done: number; budget: number; best: number | null }
  | { type: 'proposed'; batch: number; count: number }
  | { type: 'result'; index: number; rule: string | null; status: JobStatus; reward: number; reused: boolean; done: number; budget: number; best: number | null }
  | { type: 'updated'; batch: number }
  | { type: 'note'; message: string };

export interface RunSearchOptions {
  outDir: string;
  /** Continue the search in outDir instead of starting one. */
  resume?: boolean;
  /** Required for a new search; ignored on resume (the folder's config.json rules). */
  config?: SearchConfig;
  /** Settings a resume may change. */
  overrides?: { budget?: number; workers?: number; queue?: string };
  deps?: SearchDeps;
  onEvent?: (event: SearchEvent) => void;
  /** Aborting stops the search cleanly: every finished result is already in the ledger. */
  signal?: AbortSignal;
}

export interface SearchSummary {
  outDir: string; runId: string; candidates: number; results: number; stopped: boolean;
  best: { index: number; rule: string; reward: number } | null;
  statusCounts: Record<string, number>;
}

class StopRequested extends Error {}

/** A backend whose jobs outlive the search process (Redis) can pick up a resumed batch's jobs where they are. */
interface ReconcilingBackend extends Backend { reconcile(jobs: Job[]): Promise<unknown> }

function now(): string { return new Date().toISOString(); }

/** A queue URL with any password replaced by ***, for files and messages. */
export function redactQueueUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:@/]*):[^@/]*@/i, '$1:***@');
}

function defaultMakeStrategy(): MakeStrategy {
  const controller = require('../controller/strategy') as typeof import('../controller/strategy');
  return (kind, space, seed, options) => controller.createStrategy(kind, space, seed, options);
}

async function defaultMakeBackend(config: SearchConfig): Promise<Backend> {
  if (config.queue) {
    let mod: { createRedisBackend?: (url: string, options?: object) => Backend | Promise<Backend> };
    try {
      mod = require('./queue-redis');
    } catch (e) {
      throw new Error(`--queue ${redactQueueUrl(config.queue)}: the Redis backend (src/search/queue-redis) is not available: ${(e as Error).message}`);
    }
    if (typeof mod.createRedisBackend !== 'function') throw new Error('--queue: src/search/queue-redis does not export createRedisBackend');
    return mod.createRedisBackend(config.queue, { limits: config.limits });
  }
  const { createLocalBackend } = require('./pool-local') as typeof import('./pool-local');
  return createLocalBackend({ workers: config.workers, limits: config.limits });
}

function protocolVersion(config: SearchConfig): number {
  if ((config.protocol as { name: string }).name === 'fake') return FAKE_PROTOCOL_VERSION;
  const mod = require('../runtime/child/protocol') as typeof import('../runtime/child/protocol');
  return mod.PROTOCOL_VERSION;
}

/** Runs (or resumes) a search in options.outDir until its budget is spent or it is asked to stop. */
export async function runSearch(options: RunSearchOptions): Promise<SearchSummary> {
  const search = new Search(options);
  return search.run();
}

class Search {
  private readonly outDir: string;
  private readonly deps: Required<SearchDeps>;
  private readonly emit: (e: SearchEvent) => void;
  private config!: SearchConfig;
  private runId!: string;
  private ledger!: Ledger;
  private strategy!: Strategy;
  private backend: Backend | null = null;
  private readonly batches: BatchState[] = [];
  private readonly byHash = new Map<string, { index: number; envelope: Envelope }>();
  private batchesFed = 0;
  /** On resume, the batches the ledger left unfinished (their jobs may still be on a queue). */
  private readonly resumedBatches = new Set<number>();
  private candidatesProposed = 0;
  private best: number | null = null;
  private done = 0;

  constructor(private readonly options: RunSearchOptions) {
    this.outDir = path.resolve(options.outDir);
    this.deps = {
      makeStrategy: options.deps?.makeStrategy ?? ((...args) => defaultMakeStrategy()(...args)),
      identify: options.deps?.identify ?? identifyWithCompiler,
      makeBackend: options.deps?.makeBackend ?? defaultMakeBackend,
    };
    this.emit = options.onEvent ?? (() => undefined);
  }

  async run(): Promise<SearchSummary> {
    let stopped = false;
    let unlock: (() => void) | null = null;
    try {
      if (!this.options.resume) {
        if (!this.options.config) throw new Error('runSearch: a new search needs a config');
        validateConfig(this.options.config); // before anything is written
        fs.mkdirSync(this.outDir, { recursive: true });
      }
      if (fs.existsSync(this.outDir)) {
        unlock = lockFolder(this.outDir);
        removeStaleTemporaries(this.outDir); // a killed search's half-written checkpoint, say
      }
      if (this.options.resume) this.openExisting();
      else this.openNew();
      this.emit({ type: 'started', resumed: !!this.options.resume, runId: this.runId, done: this.done, budget: this.config.budget, best: this.best });
      for (const batch of this.batches.filter((b) => !b.updated || b.results.size < b.candidates.length)) await this.completeBatch(batch);
      while (this.candidatesProposed < this.config.budget) {
        this.throwIfStopped();
        const batch = this.proposeBatch(Math.min(this.config.batchSize, this.config.budget - this.candidatesProposed));
        await this.completeBatch(batch);
      }
      this.ledger.append({ type: 'finish', time: now(), candidates: this.candidatesProposed });
    } catch (e) {
      if (!(e instanceof StopRequested) || !this.ledger) throw e;
      stopped = true;
      this.ledger.append({ type: 'stop', time: now(), reason: 'interrupted; resume with --resume' });
    } finally {
      if (this.backend) await this.backend.close().catch(() => undefined);
      this.ledger?.close();
      unlock?.();
    }
    return this.summary(stopped);
  }

  private openNew(): void {
    const config = this.options.config;
    if (!config) throw new Error('runSearch: a new search needs a config');
    validateConfig(config);
    fs.mkdirSync(this.outDir, { recursive: true });
    const ledgerFile = path.join(this.outDir, LEDGER_FILE);
    if (fs.existsSync(ledgerFile) && fs.statSync(ledgerFile).size > 0) {
      throw new InputError(`${this.outDir} already holds a search (ledger.jsonl); use --resume to continue it or choose another --out`);
    }
    this.config = config;
    // The strategy first: bad strategy options fail before the folder holds a half-made search.
    this.strategy = this.deps.makeStrategy(config.strategy, config.space, config.seed, config.strategyOptions);
    this.runId = `${config.strategy}-${config.seed}-${randomBytes(4).toString('hex')}`;
    // The folder never holds a queue password: a resume takes the full URL again from --queue.
    const stored = config.queue ? { ...config, queue: redactQueueUrl(config.queue) } : config;
    writeFileAtomic(path.join(this.outDir, CONFIG_FILE), JSON.stringify({ runId: this.runId, ...stored }, null, 2) + '\n', { durable: true });
    this.ledger = Ledger.open(ledgerFile);
    this.ledger.append({ type: 'start', time: now(), runId: this.runId, config: stored, versions: this.versions() });
    this.checkpoint();
  }

  private openExisting(): void {
    const ledgerFile = path.join(this.outDir, LEDGER_FILE);
    if (!fs.existsSync(ledgerFile)) throw new InputError(`--resume: ${this.outDir} holds no search (no ${LEDGER_FILE})`);
    this.ledger = Ledger.open(ledgerFile);
    const records = this.ledger.records;
    const start = records[0];
    if (!start) throw new InputError(`--resume: ${this.outDir} holds no search to resume (its ledger is empty: the search never started); start it again without --resume`);
    if (start.type !== 'start') throw new Error(`${ledgerFile}: the first record must be the search's start record`);
    this.runId = start.runId;
    this.config = { ...(start.config as SearchConfig) };
    const { budget, workers, queue } = this.options.overrides ?? {};
    if (budget !== undefined) this.config.budget = budget;
    if (workers !== undefined) this.config.workers = workers;
    if (queue !== undefined) {
      if (!this.config.queue) throw new InputError(`--resume --queue: this search ran on local workers; it cannot move to a queue`);
      if (redactQueueUrl(queue) !== this.config.queue) {
        throw new InputError(`--resume --queue ${redactQueueUrl(queue)}: this search ran on ${this.config.queue}`);
      }
      this.config.queue = queue;
    } else if (this.config.queue && this.config.queue.includes(':***@')) {
      throw new InputError(`--resume: this search ran on a password-protected queue (${this.config.queue}); give its full URL again with --queue`);
    }
    validateConfig(this.config);
    const then = start.versions;
    const current = this.versions();
    if (then && (then.compiler !== current.compiler || then.protocol !== current.protocol)) {
      this.emit({ type: 'note', message: `this search started with compiler version ${then.compiler} and protocol version ${then.protocol}; this build has ${current.compiler} and ${current.protocol}, so new results may not be comparable with the recorded ones` });
    }

    const state = readLedgerState(records, this.ledger.lines, ledgerFile);
    if (this.options.overrides?.budget !== undefined && this.config.budget < state.candidatesProposed) {
      throw new InputError(`--budget ${this.config.budget} is less than the ${state.candidatesProposed} rules this search already sampled`);
    }
    if (this.ledger.cutBytes > 0) this.emit({ type: 'note', message: `${ledgerFile} ended in a line cut short by a crash (${this.ledger.cutBytes} bytes); removed it` });
    const makeStrategy = () => this.deps.makeStrategy(this.config.strategy, this.config.space, this.config.seed, this.config.strategyOptions);
    const rebuilt = rebuildStrategy(this.outDir, this.runId, records, state, makeStrategy, (message) => this.emit({ type: 'note', message }));
    this.strategy = rebuilt.strategy;
    this.batches.push(...state.batches);
    this.candidatesProposed = state.candidatesProposed;
    this.batchesFed = state.batchesFed;
    for (const r of state.results) this.noteResult(r);
    for (const b of state.batches) if (!b.updated || b.results.size < b.candidates.length) this.resumedBatches.add(b.batch);
    if (rebuilt.replayed > 0) this.checkpoint();
    this.ledger.append({ type: 'resume', time: now(), note: `${this.done} of ${this.candidatesProposed} results recorded, ${this.batchesFed} batches fed back` });
  }

  private checkpoint(): void {
    const checkpoint: Checkpoint = {
      version: CHECKPOINT_VERSION, runId: this.runId, batchesProposed: this.batches.length, batchesFed: this.batchesFed,
      candidatesProposed: this.candidatesProposed, strategyState: this.strategy.saveState(), time: now(),
    };
    writeCheckpoint(this.outDir, checkpoint);
  }

  private throwIfStopped(): void {
    if (this.options.signal?.aborted) throw new StopRequested('stopped');
  }

  private proposeBatch(count: number): BatchState {
    const candidates: Candidate[] = this.strategy.propose(count);
    if (!Array.isArray(candidates) || candidates.length !== count) {
      throw new Error(`strategy ${this.config.strategy}: propose(${count}) returned ${Array.isArray(candidates) ? candidates.length : typeof candidates} candidates`);
    }
    const records: CandidateRecord[] = candidates.map((c, i) => {
      const index = this.candidatesProposed + i;
      const base = { index, id: `${this.runId}:${index}`, tokens: c.tokens, meta: c.meta ?? null };
      try {
        if (!Array.isArray(c.tokens) || !c.tokens.every((t) => typeof t === 'string')) throw new Error('tokens must be an array of strings');
        const id = this.deps.identify(c.tokens);
        return { ...base, rule: id.canonical, hash: id.hash, bytesPerParam: id.bytesPerParam };
      } catch (e) {
        const message = typeof (e as { format?: () => string }).format === 'function' ? (e as { format: () => string }).format() : (e as Error).message;
        return { ...base, rule: null, hash: null, bytesPerParam: null, compileError: message };
      }
    });
    const batch: BatchState = { batch: this.batches.length, candidates: records, results: new Map(), updated: false };
    this.ledger.append({ type: 'batch', time: now(), batch: batch.batch, candidates: records });
    this.batches.push(batch);
    this.candidatesProposed += count;
    this.checkpoint();
    this.emit({ type: 'proposed', batch: batch.batch, count });
    return batch;
  }

  private noteResult(r: Extract<LedgerRecord, { type: 'result' }>): void {
    this.done++;
    const c = this.batches[r.batch].candidates.find((x) => x.index === r.index);
    if (c?.hash && !this.byHash.has(c.hash)) this.byHash.set(c.hash, { index: r.index, envelope: r.envelope });
    if (r.envelope.status === 'ok' && r.envelope.reward !== null && (this.best === null || r.envelope.reward > this.best)) this.best = r.envelope.reward;
  }

  private record(batch: BatchState, c: CandidateRecord, envelope: Envelope, reusedFrom?: number): void {
    const r: Extract<LedgerRecord, { type: 'result' }> = { type: 'result', time: now(), batch: batch.batch, index: c.index, envelope };
    if (reusedFrom !== undefined) r.reusedFrom = reusedFrom;
    this.ledger.append(r);
    batch.results.set(c.index, r);
    this.noteResult(r);
    this.emit({ type: 'result', index: c.index, rule: c.rule, status: envelope.status, reward: envelope.reward ?? 0,
      reused: reusedFrom !== undefined, done: this.done, budget: this.config.budget, best: this.best });
  }

  private versions(): { compiler: number; protocol: number } {
    return { compiler: KERNEL_ABI_VERSION, protocol: protocolVersion(this.config) };
  }

  private makeJob(c: CandidateRecord): Job {
    return {
      id: c.id, rule: c.rule!, protocol: this.config.protocol, data: this.config.data, device: this.config.device,
      // One seed for every child: the same initial weights and data order make rewards comparable across rules.
      seed: this.config.seed,
      versions: this.versions(),
    };
  }

  private async nextOrStop(backend: Backend): Promise<Envelope> {
    const signal = this.options.signal;
    if (!signal) return backend.next();
    this.throwIfStopped();
    let onAbort: () => void = () => undefined;
    const stopped = new Promise<never>((_, reject) => {
      onAbort = () => reject(new StopRequested('stopped'));
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([backend.next(), stopped]);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Gets every missing result of a batch (training each distinct new rule once), then feeds the strategy. */
  private async completeBatch(batch: BatchState): Promise<void> {
    const waiting = new Map<string, CandidateRecord[]>(); // job id -> candidates sharing its rule
    const jobOfHash = new Map<string, string>();
    const jobs: Job[] = [];
    for (const c of batch.candidates) {
      if (batch.results.has(c.index)) continue;
      if (c.rule === null || c.hash === null) {
        this.record(batch, c, { jobId: c.id, status: 'error', reward: 0, bestLr: null, timings: { queuedMs: 0, runMs: 0 },
          attempt: 1, worker: 'compiler', error: `rule does not compile: ${c.compileError ?? 'unknown error'}` });
        continue;
      }
      const known = this.byHash.get(c.hash);
      if (known) { this.record(batch, c, known.envelope, known.index); continue; }
      const jobId = jobOfHash.get(c.hash);
      if (jobId) { waiting.get(jobId)!.push(c); continue; }
      jobOfHash.set(c.hash, c.id);
      waiting.set(c.id, [c]);
      jobs.push(this.makeJob(c));
    }
    if (jobs.length > 0) {
      this.throwIfStopped();
      this.backend ??= await this.deps.makeBackend(this.config);
      const reconcile = (this.backend as Partial<ReconcilingBackend>).reconcile;
      if (this.resumedBatches.has(batch.batch) && typeof reconcile === 'function') {
        // A queue may still hold these jobs from before the crash: take or await those instead of training again.
        await reconcile.call(this.backend, jobs);
      } else {
        await this.backend.submit(jobs);
      }
      while (waiting.size > 0) {
        const received: unknown = await this.nextOrStop(this.backend);
        const jobId = (received as { jobId?: unknown } | null)?.jobId;
        const group = typeof jobId === 'string' ? waiting.get(jobId) : undefined;
        if (!group) { this.emit({ type: 'note', message: `ignored a result for unknown or finished job ${JSON.stringify(jobId)}` }); continue; }
        waiting.delete(jobId as string);
        // A worker's bad result (a string or out-of-range reward, a missing field) becomes this job's error.
        const envelope = checkedEnvelope(received, jobId as string);
        this.record(batch, group[0], envelope);
        for (const dup of group.slice(1)) this.record(batch, dup, envelope, group[0].index);
      }
    }
    if (!batch.updated) this.feed(batch);
  }

  /** Feeds a complete batch's rewards to the strategy, records the update, and checkpoints. */
  private feed(batch: BatchState): void {
    if (batch.batch !== this.batchesFed) throw new Error(`internal: feeding batch ${batch.batch} before batch ${this.batchesFed}`);
    const rewards = batch.candidates.map((c) => batch.results.get(c.index)!.envelope.reward ?? 0);
    this.strategy.feedback(batch.candidates.map((c, i) => ({ candidate: { tokens: c.tokens, meta: c.meta }, reward: rewards[i] })));
    this.ledger.append({ type: 'update', time: now(), batch: batch.batch, rewards });
    batch.updated = true;
    this.batchesFed++;
    this.checkpoint();
    this.emit({ type: 'updated', batch: batch.batch });
  }

  private summary(stopped: boolean): SearchSummary {
    const statusCounts: Record<string, number> = {};
    let best: SearchSummary['best'] = null;
    for (const b of this.batches) {
      for (const c of b.candidates) {
        const r = b.results.get(c.index);
        if (!r) continue;
        statusCounts[r.envelope.status] = (statusCounts[r.envelope.status] ?? 0) + 1;
        const reward = r.envelope.reward;
        if (r.envelope.status === 'ok' && reward !== null && c.rule && (!best || reward > best.reward)) best = { index: c.index, rule: c.rule, reward };
      }
    }
    return { outDir: this.outDir, runId: this.runId, candidates: this.candidatesProposed, results: this.done, stopped, best, statusCounts };
  }
}
