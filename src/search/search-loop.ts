// The search loop (paper 3.2-3.3), asynchronous: it keeps up to `inFlight` trainings queued or running, samples a new
// batch whenever fewer are, logs each result as it comes and feeds each batch back to the strategy as soon as it is
// complete; --resume rebuilds all of it from the ledger (the strategy's state: the checkpoint plus a replay).
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setImmediate as yieldToEvents } from 'node:timers/promises';
import { KERNEL_ABI_VERSION } from '../compiler/kernel-abi';
import type { Candidate, SearchSpace, Strategy } from '../controller/strategy';
import type { Backend, Envelope, Job, JobStatus } from './backend';
import { removeStaleTemporaries, writeFileAtomic } from './checked-write';
import { CHECKPOINT_VERSION, writeCheckpoint } from './checkpoint';
import { FAKE_PROTOCOL_VERSION, validateFakeProtocol } from './fake-evaluator';
import { lockFolder } from './folder-lock';
import { formatLedgerProblem, LEDGER_FILE, Ledger, type CandidateRecord } from './ledger';
import { confirmSeeds, confirmTopRules, type ConfirmProgress, type ConfirmRecord } from './confirm';
import { checkedEnvelope } from './record-validation';
import { buildReport } from './report';
import { readLedgerState, rebuildStrategy, type BatchState, type ResultRecord } from './resume';
import { identifyWithCompiler, type IdentifyRule } from './rule-identity';
import { RuleScreen } from './rule-screen';
import { Promoter, screenedReward, stageProtocol, type Fidelity, type Stage } from './fidelity';
import { defaultInFlight, validateConfig, type SearchConfig, type StrategyKind } from './search-config';
import { InputError } from '../errors';
import { makeDirs } from '../runtime/make-dirs';

export { LEDGER_FILE };
export const CONFIG_FILE = 'config.json';
/** The descent probe's learning rates when the protocol has no sweep (the fake one): the paper's decades. */
const DEFAULT_PROBE_LRS = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10];

export type MakeStrategy = (kind: StrategyKind, space: SearchSpace, seed: number, options: Record<string, unknown>) => Strategy;

/** What the loop needs from other parts; tests replace them with stand-ins. */
export interface SearchDeps {
  makeStrategy?: MakeStrategy;
  identify?: IdentifyRule;
  /** `note` shows a line to the user (a 'note' event), e.g. where a GPU backend trains. */
  makeBackend?: (config: SearchConfig, note: (message: string) => void) => Backend | Promise<Backend>;
}

export type SearchEvent =
  | { type: 'started'; resumed: boolean; runId: string; done: number; budget: number; best: number | null; statusCounts: Record<string, number> }
  | { type: 'proposed'; batch: number; count: number }
  /** Trainings handed to the backend; inFlight: how many are now queued or running. */
  | { type: 'queued'; jobs: number; inFlight: number }
  | { type: 'result'; index: number; rule: string | null; status: JobStatus; reward: number; reused: boolean; done: number; budget: number; best: number | null; inFlight: number; fidelity?: Stage }
  | { type: 'updated'; batch: number }
  /** The confirmation step (--confirm): starting (done 0, rule empty) and after each training. */
  | ({ type: 'confirm'; seeds: number[] } & ConfirmProgress)
  | { type: 'note'; message: string };

export interface RunSearchOptions {
  outDir: string;
  /** Continue the search in outDir instead of starting one. */
  resume?: boolean;
  /** Required for a new search; ignored on resume (the folder's config.json rules). */
  config?: SearchConfig;
  /** Settings a resume may change. */
  overrides?: { budget?: number; workers?: number; queue?: string; inFlight?: number; confirm?: number };
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

/**
 * One distinct training queued or running, and the candidates waiting for it (the first is the one it trains; the
 * others are the same canonical rule, or the same function by the equivalence cache: equivalentTo names the rule).
 */
interface Work {
  jobId: string; hash: string; rule: string; waiting: Array<{ batch: BatchState; candidate: CandidateRecord; equivalentTo?: string }>;
  /** With the funnel: the screen, then (promoted) the full protocol, whose job carries the screen's envelope. */
  stage: Stage; screen?: Envelope;
}

/** What a result record adds to its envelope: where it came from, and at which fidelity. */
type ResultExtras = Pick<ResultRecord, 'reusedFrom' | 'equivalentTo' | 'fidelity' | 'screenReward'>;

class StopRequested extends Error {}

/** A backend whose jobs outlive the search process (Redis) can pick up a resumed search's jobs where they are. */
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

async function defaultMakeBackend(config: SearchConfig, note: (message: string) => void): Promise<Backend> {
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
  if (config.device === 'cuda') {
    // One GPU worker whose child engine trains every queued rule side by side (--workers does not apply).
    const { createGpuBackend, deviceNotes } = require('./pool-gpu') as typeof import('./pool-gpu');
    return createGpuBackend({ limits: config.limits, onRound: deviceNotes(note), onNote: note });
  }
  const { createLocalBackend } = require('./pool-local') as typeof import('./pool-local');
  return createLocalBackend({ workers: config.workers, limits: config.limits });
}

function protocolVersion(config: SearchConfig): number {
  if ((config.protocol as { name: string }).name === 'fake') return FAKE_PROTOCOL_VERSION;
  const mod = require('../runtime/child/protocol') as typeof import('../runtime/child/protocol');
  return mod.PROTOCOL_VERSION;
}

/** Throws naming what makes a stored config's protocol one no job can run (every job would fail on it). */
function checkStoredProtocol(config: SearchConfig): void {
  const protocol = config.protocol as { name?: unknown };
  if (protocol?.name === 'fake') { validateFakeProtocol(protocol, 'protocol'); return; }
  const mod = require('../runtime/child/protocol') as typeof import('../runtime/child/protocol');
  mod.checkProtocol(protocol as import('../runtime/child/protocol').ProtocolConfig);
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
  /** Finished trainings by canonical hash: a later candidate with the same rule takes this result. */
  private readonly byHash = new Map<string, { index: number; envelope: Envelope; fidelity?: Stage; screenReward?: number }>();
  /** Trainings queued or running, by job id and by hash. */
  private readonly work = new Map<string, Work>();
  private readonly workByHash = new Map<string, Work>();
  /** Strategy events (proposals and feedbacks) so far: the checkpoint says how many its state reflects. */
  private events = 0;
  private batchesFed = 0;
  private candidatesProposed = 0;
  private best: number | null = null;
  private done = 0;
  private readonly statusCounts: Record<string, number> = {};
  /** Hurdles and the equivalence cache, when the search has them on. */
  private screen: RuleScreen | null = null;
  /** The funnel's promotion rule, and (on resume) the screens the ledger promoted whose full result is missing. */
  private readonly promoter = new Promoter();
  private readonly promoted = new Map<number, Envelope>();

  constructor(private readonly options: RunSearchOptions) {
    this.outDir = path.resolve(options.outDir);
    this.deps = {
      makeStrategy: options.deps?.makeStrategy ?? ((...args) => defaultMakeStrategy()(...args)),
      identify: options.deps?.identify ?? identifyWithCompiler,
      makeBackend: options.deps?.makeBackend ?? defaultMakeBackend,
    };
    this.emit = options.onEvent ?? (() => undefined);
  }

  private get fidelity(): Fidelity {
    return this.config.fidelity ?? 'full';
  }

  private get inFlightLimit(): number {
    return this.config.inFlight ?? this.backend?.inFlightHint?.() ?? defaultInFlight(this.config);
  }

  async run(): Promise<SearchSummary> {
    let stopped = false;
    let unlock: (() => void) | null = null;
    try {
      if (!this.options.resume) {
        if (!this.options.config) throw new Error('runSearch: a new search needs a config');
        validateConfig(this.options.config); // before anything is written
        makeDirs(this.outDir);
      }
      if (fs.existsSync(this.outDir)) {
        unlock = lockFolder(this.outDir);
        removeStaleTemporaries(this.outDir); // a killed search's half-written checkpoint, say
      }
      if (this.options.resume) this.openExisting();
      else this.openNew();
      this.emit({ type: 'started', resumed: !!this.options.resume, runId: this.runId, done: this.done, budget: this.config.budget,
        best: this.best, statusCounts: { ...this.statusCounts } });
      if (this.options.resume) await this.continueUnfinished();
      for (;;) {
        this.throwIfStopped();
        await this.topUp();
        if (this.work.size === 0) break; // the budget is spent and every result is recorded and fed back
        const promoted = this.onEnvelope(await this.nextOrStop());
        if (promoted.length > 0) await (await this.getBackend()).submit(promoted);
      }
      await this.confirm();
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
    makeDirs(this.outDir);
    const ledgerFile = path.join(this.outDir, LEDGER_FILE);
    if (fs.existsSync(ledgerFile) && fs.statSync(ledgerFile).size > 0) {
      throw new InputError(`${this.outDir} already holds a search (ledger.jsonl); use --resume to continue it or choose another --out`);
    }
    this.config = config;
    this.screen = this.makeScreen();
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
    const damagedStart = (why: string) => new InputError(`${formatLedgerProblem(ledgerFile, { line: this.ledger!.lines[0], problem: why })}; `
      + 'nos writes only valid records, so the ledger was changed from outside: restore its start record to resume');
    if (start.type !== 'start') throw damagedStart(`the first record must be the search's start record, found a '${start.type}' record`);
    try {
      validateConfig(start.config as SearchConfig);
      checkStoredProtocol(start.config as SearchConfig);
    } catch (e) {
      throw damagedStart(`the start record's ${(e as Error).message}`);
    }
    this.runId = start.runId;
    // A budget or confirmation count changed by an earlier resume holds until another resume changes it.
    let settings: { budget: number; confirm: number } | undefined;
    for (const r of records) if (r.type === 'resume' && r.settings) settings = r.settings;
    const stored = start.config as SearchConfig;
    this.config = this.resumedConfig(settings ? { ...stored, budget: settings.budget, confirm: settings.confirm } : stored);
    this.screen = this.makeScreen();
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
    const rebuilt = rebuildStrategy(this.outDir, this.runId, state, makeStrategy, (message) => this.emit({ type: 'note', message }));
    this.strategy = rebuilt.strategy;
    this.batches.push(...state.batches);
    this.candidatesProposed = state.candidatesProposed;
    this.batchesFed = state.batchesFed;
    this.events = state.events.length;
    for (const r of state.results) this.noteResult(this.batches[r.batch], r);
    for (const r of records) {
      // The funnel's screens, in the order they were decided: promoted ones, and rules stopped at the screen.
      if (r.type === 'screen') { this.promoter.remember(r.envelope.reward ?? 0); this.promoted.set(r.index, r.envelope); }
      else if (r.type === 'result' && r.fidelity === 'screen' && r.reusedFrom === undefined && r.screenReward !== undefined) this.promoter.remember(r.screenReward);
    }
    if (rebuilt.replayed > 0) this.checkpoint();
    this.ledger.append({ type: 'resume', time: now(), note: `${this.done} of ${this.candidatesProposed} results recorded, ${this.batchesFed} batches fed back`,
      settings: { budget: this.config.budget, confirm: this.config.confirm ?? 0 } });
  }

  private makeScreen(): RuleScreen | null {
    const { hurdles = false, fec = false } = this.config;
    if (!hurdles && !fec) return null;
    const lrs = (this.config.protocol as { lrs?: number[] }).lrs ?? DEFAULT_PROBE_LRS;
    return new RuleScreen({ hurdles, fec, lrs });
  }

  /** The folder's settings with what a resume may change (budget, workers, in-flight, confirm, the queue's password). */
  private resumedConfig(stored: SearchConfig): SearchConfig {
    const config = { ...stored };
    const { budget, workers, queue, inFlight, confirm } = this.options.overrides ?? {};
    if (budget !== undefined) config.budget = budget;
    if (confirm !== undefined) config.confirm = confirm;
    if (workers !== undefined) {
      config.workers = workers;
      // More (or fewer) local workers want a matching queue unless --in-flight says otherwise.
      if (inFlight === undefined && !config.queue) delete config.inFlight;
    }
    if (inFlight !== undefined) config.inFlight = inFlight;
    if (queue !== undefined) {
      if (!config.queue) throw new InputError(`--resume --queue: this search ran on local workers; it cannot move to a queue`);
      if (redactQueueUrl(queue) !== config.queue) {
        throw new InputError(`--resume --queue ${redactQueueUrl(queue)}: this search ran on ${config.queue}`);
      }
      config.queue = queue;
    } else if (config.queue && config.queue.includes(':***@')) {
      throw new InputError(`--resume: this search ran on a password-protected queue (${config.queue}); give its full URL again with --queue, or its password with --queue-password-file or NOS_REDIS_PASSWORD`);
    }
    validateConfig(config);
    return config;
  }

  /**
   * After a resume: feeds batches completed before the stop but not fed (in the order they completed), then
   * schedules every candidate still without a result; a queue that outlived the search hands back the jobs it holds.
   */
  private async continueUnfinished(): Promise<void> {
    const lastResult = new Map<number, number>();
    this.ledger.records.forEach((r, position) => { if (r.type === 'result') lastResult.set(r.batch, position); });
    const complete = this.batches.filter((b) => !b.updated && b.results.size === b.candidates.length);
    for (const b of complete.sort((x, y) => lastResult.get(x.batch)! - lastResult.get(y.batch)!)) this.feed(b);
    const jobs: Job[] = [];
    for (const b of this.batches) {
      for (const c of b.candidates) {
        // The equivalence cache gets its rules back in the order they were first judged (candidate order).
        const r = b.results.get(c.index);
        if (r && r.reusedFrom === undefined && c.rule && c.hash && r.envelope.worker !== 'compiler') this.screen?.remember(c.rule, c.hash);
        else if (!r) await this.settleYielding(b, c, jobs);
      }
    }
    if (jobs.length === 0) return;
    const backend = await this.getBackend();
    const reconcile = (backend as Partial<ReconcilingBackend>).reconcile;
    // A queue may still hold these jobs from before the stop: take or await those instead of training again.
    if (typeof reconcile === 'function') await reconcile.call(backend, jobs);
    else await backend.submit(jobs);
  }

  private checkpoint(): void {
    writeCheckpoint(this.outDir, {
      version: CHECKPOINT_VERSION, runId: this.runId, events: this.events, candidatesProposed: this.candidatesProposed,
      strategyState: this.strategy.saveState(), time: now(),
    });
  }

  private throwIfStopped(): void {
    if (this.options.signal?.aborted) throw new StopRequested('stopped');
  }

  private async getBackend(): Promise<Backend> {
    this.backend ??= await this.deps.makeBackend(this.config, (message) => this.emit({ type: 'note', message }));
    return this.backend;
  }

  /** Samples batches while fewer than inFlight trainings are queued or running and the budget is not spent. */
  private async topUp(): Promise<void> {
    while (this.candidatesProposed < this.config.budget && this.work.size < this.inFlightLimit) {
      this.throwIfStopped();
      const batch = this.proposeBatch(Math.min(this.config.batchSize, this.config.budget - this.candidatesProposed));
      const jobs: Job[] = [];
      for (const c of batch.candidates) await this.settleYielding(batch, c, jobs);
      if (jobs.length > 0) {
        await (await this.getBackend()).submit(jobs);
        this.emit({ type: 'queued', jobs: jobs.length, inFlight: this.work.size });
      }
      // Batches of known rules settle at once, and a submit may not wait either: let Ctrl-C's handler and timers run.
      await yieldToEvents();
    }
  }

  private proposeBatch(count: number): BatchState {
    const candidates: Candidate[] = this.strategy.propose(count);
    if (!Array.isArray(candidates) || candidates.length !== count) {
      throw new Error(`strategy ${this.config.strategy}: propose(${count}) returned ${Array.isArray(candidates) ? candidates.length : typeof candidates} candidates`);
    }
    const records: CandidateRecord[] = candidates.map((c, i) => this.identify(c, this.candidatesProposed + i));
    const batch: BatchState = { batch: this.batches.length, candidates: records, results: new Map(), updated: false, fedBefore: this.batchesFed };
    this.ledger.append({ type: 'batch', time: now(), batch: batch.batch, candidates: records });
    this.batches.push(batch);
    this.candidatesProposed += count;
    this.events++;
    this.checkpoint();
    this.emit({ type: 'proposed', batch: batch.batch, count });
    return batch;
  }

  /** The candidate's record: its canonical rule and hash, or why its tokens do not compile. */
  private identify(c: Candidate, index: number): CandidateRecord {
    const base = { index, id: `${this.runId}:${index}`, tokens: c.tokens, meta: c.meta ?? null };
    try {
      if (!Array.isArray(c.tokens) || !c.tokens.every((t) => typeof t === 'string')) throw new Error('tokens must be an array of strings');
      const id = this.deps.identify(c.tokens);
      return { ...base, rule: id.canonical, hash: id.hash, bytesPerParam: id.bytesPerParam };
    } catch (e) {
      const message = typeof (e as { format?: () => string }).format === 'function' ? (e as { format: () => string }).format() : (e as Error).message;
      return { ...base, rule: null, hash: null, bytesPerParam: null, compileError: message };
    }
  }

  /**
   * settle, then a turn of the event loop when the hurdles or the cache did work: the local pool hands queued jobs to
   * workers that finished meanwhile (the probe runs here, in the search's process).
   */
  private async settleYielding(batch: BatchState, c: CandidateRecord, jobs: Job[]): Promise<void> {
    if (this.settle(batch, c, jobs)) await new Promise((resolve) => setImmediate(resolve));
  }

  /**
   * Decides what a candidate without a result needs: a result at once (a compile error, the result of its canonical
   * rule or of an equivalent one judged before, a hurdle's refusal), to wait for the training of the same rule (or
   * function) already under way, or a training of its own (pushed on `jobs` for the caller to submit). Returns
   * whether the hurdles or the cache ran.
   */
  private settle(batch: BatchState, c: CandidateRecord, jobs: Job[]): boolean {
    if (batch.results.has(c.index)) return false;
    if (c.rule === null || c.hash === null) {
      this.record(batch, c, { jobId: c.id, status: 'error', reward: 0, bestLr: null, timings: { queuedMs: 0, runMs: 0 },
        attempt: 1, worker: 'compiler', error: `rule does not compile: ${c.compileError ?? 'unknown error'}` });
      return false;
    }
    if (this.takeKnown(batch, c, c.hash)) return false;
    const screening = this.screen?.screen(c.rule, c.hash) ?? { kind: 'train' as const };
    if (screening.kind === 'refuse') {
      this.record(batch, c, { jobId: c.id, status: screening.status, reward: 0, bestLr: null,
        timings: { queuedMs: 0, runMs: Math.round(screening.ms) }, attempt: 1, worker: 'hurdle', error: screening.reason });
    } else if (screening.kind === 'equivalent' && this.takeKnown(batch, c, screening.hash, screening.rule)) {
      // taken: the equivalent rule's result, now or when its training ends
    } else {
      // With the funnel a rule starts at the screen, unless (on resume) the ledger says its screen was promoted.
      const screen = this.promoted.get(c.index);
      const stage: Stage = this.fidelity === 'funnel' && !screen ? 'screen' : 'full';
      const work: Work = { jobId: this.jobId(c, stage), hash: c.hash, rule: c.rule, waiting: [{ batch, candidate: c }], stage, screen };
      this.work.set(work.jobId, work);
      this.workByHash.set(work.hash, work);
      jobs.push(this.makeJob(c, this.config.seed, work));
    }
    return true;
  }

  /**
   * Gives a candidate the result of the rule with `hash` (its own canonical rule, or an equivalent one) if that rule
   * was judged, or a place among those waiting for its training; false when neither.
   */
  private takeKnown(batch: BatchState, c: CandidateRecord, hash: string, equivalentTo?: string): boolean {
    const known = this.byHash.get(hash);
    if (known) {
      this.record(batch, c, known.envelope, { reusedFrom: known.index, equivalentTo, fidelity: known.fidelity, screenReward: known.screenReward });
      return true;
    }
    const running = this.workByHash.get(hash);
    if (running) { running.waiting.push({ batch, candidate: c, equivalentTo }); return true; }
    return false;
  }

  /** Logs a finished job's result (or, with the funnel, promotes its screen: the full job is returned to submit). */
  private onEnvelope(received: unknown): Job[] {
    const jobId = (received as { jobId?: unknown } | null)?.jobId;
    const work = typeof jobId === 'string' ? this.work.get(jobId) : undefined;
    if (!work) { this.emit({ type: 'note', message: `ignored a result for unknown or finished job ${JSON.stringify(jobId)}` }); return []; }
    // A worker's bad result (a string or out-of-range reward, a missing field) becomes this job's error.
    const envelope = checkedEnvelope(received, work.jobId);
    this.work.delete(work.jobId);
    const [first, ...duplicates] = work.waiting;
    let extras: ResultExtras = work.screen ? { fidelity: 'full', screenReward: work.screen.reward ?? 0 } : {};
    let recorded = envelope;
    if (work.stage === 'screen') {
      const reward = envelope.status === 'ok' ? envelope.reward ?? 0 : null;
      if (reward !== null && this.promoter.decide(reward).promote) {
        this.ledger.append({ type: 'screen', time: now(), batch: first.batch.batch, index: first.candidate.index, envelope, promoted: true });
        Object.assign(work, { stage: 'full', screen: envelope, jobId: this.jobId(first.candidate, 'full') });
        this.work.set(work.jobId, work);
        return [this.makeJob(first.candidate, this.config.seed, work)];
      }
      // Stopped at the screen: a failure stays what it was; an ok screen is worth the screened reward.
      extras = { fidelity: 'screen', ...(reward !== null ? { screenReward: reward } : {}) };
      if (reward !== null) recorded = { ...envelope, reward: screenedReward(reward) };
    }
    this.workByHash.delete(work.hash);
    this.record(first.batch, first.candidate, recorded, extras);
    for (const dup of duplicates) this.record(dup.batch, dup.candidate, recorded, { ...extras, reusedFrom: first.candidate.index, equivalentTo: dup.equivalentTo });
    return [];
  }

  private noteResult(batch: BatchState, r: ResultRecord): void {
    this.done++;
    this.statusCounts[r.envelope.status] = (this.statusCounts[r.envelope.status] ?? 0) + 1;
    const c = batch.candidates.find((x) => x.index === r.index);
    if (c?.hash && !this.byHash.has(c.hash)) this.byHash.set(c.hash, { index: r.index, envelope: r.envelope, fidelity: r.fidelity, screenReward: r.screenReward });
    // The best reward is a full-fidelity one: a rule stopped at the screen never counts.
    if (r.envelope.status === 'ok' && r.fidelity !== 'screen' && r.envelope.reward !== null && (this.best === null || r.envelope.reward > this.best)) this.best = r.envelope.reward;
  }

  /** Logs a result; a batch whose last result this is goes back to the strategy at once. */
  private record(batch: BatchState, c: CandidateRecord, envelope: Envelope, extras: ResultExtras = {}): void {
    const r: ResultRecord = { type: 'result', time: now(), batch: batch.batch, index: c.index, envelope };
    for (const key of ['reusedFrom', 'equivalentTo', 'fidelity', 'screenReward'] as const) {
      if (extras[key] !== undefined) (r as Record<string, unknown>)[key] = extras[key];
    }
    this.ledger.append(r);
    batch.results.set(c.index, r);
    this.noteResult(batch, r);
    this.emit({ type: 'result', index: c.index, rule: c.rule, status: envelope.status, reward: envelope.reward ?? 0,
      reused: extras.reusedFrom !== undefined, done: this.done, budget: this.config.budget, best: this.best, inFlight: this.work.size, fidelity: extras.fidelity });
    if (batch.results.size === batch.candidates.length) this.feed(batch);
  }

  /** Feeds a complete batch to the strategy (with the log-probabilities PPO recorded when it was sampled). */
  private feed(batch: BatchState): void {
    const rewards = batch.candidates.map((c) => batch.results.get(c.index)!.envelope.reward ?? 0);
    this.strategy.feedback(batch.candidates.map((c, i) => ({ candidate: { tokens: c.tokens, meta: c.meta }, reward: rewards[i] })));
    this.ledger.append({ type: 'update', time: now(), batch: batch.batch, rewards, staleness: this.batchesFed - batch.fedBefore });
    batch.updated = true;
    this.batchesFed++;
    this.events++;
    this.checkpoint();
    this.emit({ type: 'updated', batch: batch.batch });
  }

  /** --confirm K: the top K rules trained again with two more child seeds, each run a confirm record. */
  private async confirm(): Promise<void> {
    const count = this.config.confirm ?? 0;
    if (count <= 0) return;
    const seeds = confirmSeeds(this.config.seed);
    const recorded = this.ledger.records.filter((r): r is ConfirmRecord => r.type === 'confirm');
    await confirmTopRules({
      leaderboard: buildReport(this.outDir).leaderboard, count, recorded, searchSeed: this.config.seed, ledger: this.ledger,
      makeJob: (entry, seed) => this.makeJob({ id: `${this.runId}:confirm:${entry.hash}:${seed}`, rule: entry.rule }, seed),
      submit: async (jobs) => {
        const backend = await this.getBackend();
        const reconcile = (backend as Partial<ReconcilingBackend>).reconcile;
        // A resumed search's queue may hold these jobs from before: take or await them instead of training again.
        if (this.options.resume && typeof reconcile === 'function') await reconcile.call(backend, jobs);
        else await backend.submit(jobs);
      },
      next: () => this.nextOrStop(),
      onProgress: (p) => this.emit({ type: 'confirm', seeds, ...p }),
    });
  }

  private versions(): { compiler: number; protocol: number } {
    return { compiler: KERNEL_ABI_VERSION, protocol: protocolVersion(this.config) };
  }

  /** A candidate's job id: its own, and with `:full` for the funnel's second stage. */
  private jobId(c: CandidateRecord, stage: Stage): string {
    return this.fidelity === 'funnel' && stage === 'full' ? `${c.id}:full` : c.id;
  }

  /**
   * The job training a rule; `seed` is the search's own but for the confirmation runs. A candidate's training (work)
   * has its stage's protocol (fidelity.ts); a confirmation run trains the protocol as it is.
   */
  private makeJob(c: { id: string; rule: string | null }, seed = this.config.seed, work?: Work): Job {
    return {
      id: work?.jobId ?? c.id, rule: c.rule!, data: this.config.data, device: this.config.device,
      protocol: work ? stageProtocol(this.config.protocol, this.fidelity, work.stage, work.screen?.bestLr ?? null) : this.config.protocol,
      // One seed for every child: the same initial weights and data order make rewards comparable across rules.
      seed,
      versions: this.versions(),
    };
  }

  private async nextOrStop(): Promise<Envelope> {
    const backend = await this.getBackend();
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

  private summary(stopped: boolean): SearchSummary {
    let best: SearchSummary['best'] = null;
    for (const b of this.batches) {
      for (const c of b.candidates) {
        const r = b.results.get(c.index);
        const reward = r?.envelope.reward;
        if (r?.envelope.status === 'ok' && r.fidelity !== 'screen' && reward != null && c.rule && (!best || reward > best.reward)) best = { index: c.index, rule: c.rule, reward };
      }
    }
    return { outDir: this.outDir, runId: this.runId, candidates: this.candidatesProposed, results: this.done, stopped, best, statusCounts: { ...this.statusCounts } };
  }
}
