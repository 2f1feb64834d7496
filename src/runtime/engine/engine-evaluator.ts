// Evaluates many rules under one protocol on the child engine: every rule's sweep children and final child share
// the engine's slots, trained side by side in rounds of one epoch.  Submit jobs at any time; next() gives outcomes
// in the order they finish.  The outcome of each rule is what evaluateRule (child/protocol.ts) gives on the CPU.
//
// A round: free slots take waiting children (final runs first, so started rules finish), the engine trains every
// child in a slot for one epoch, children whose run ended (epochs done, or diverged) are scored on the held-out set
// and their slots freed.  Per round only example orders and step scalars go to the device; only losses, flags and
// scores come back.  Each rule's update kernel builds as soon as the rule is submitted, a few at a time, off the JS
// thread and while rounds run; a rule's children wait for slots only once its kernel is ready.
import { compileRule, type RuleInfo } from '../../compiler';
import { NOS_SCALAR_COUNT, OPTIMIZER_DEFAULTS } from '../../compiler/kernel-abi';
import { checkDataFingerprint, DEFAULT_DATA_PATH, type PreparedData } from '../child/data';
import { prepareProtocolData, protocolModel } from '../child/protocol-data';
import { ProtocolError, type EvalOutcome, type ProtocolConfig } from '../child/protocol';
import { StepScalars } from '../scalars';
import { loadAddon } from '../binding';
import { bytesPerChild, ChildEngine, type ChildEngineOptions, type ConvKernelChoice, type EngineDevice, type RoundRequest, type RoundResult } from './child-engine';
import { tuneConvKernels, type KernelTuning } from './kernel-tuning';
import { ChildInputs } from './child-inputs';
import { RuleRun, type ChildResult, type ChildRun } from './rule-run';

export interface EngineJob { id: string; rule: string; seed: number }
export interface EngineResult { id: string; outcome: EvalOutcome }

/** What one round did, for progress lines and benchmarks. */
export interface RoundReport {
  round: number;
  /** Children trained in this round (each one epoch). */
  children: number;
  capacity: number;
  steps: number;
  /** Wall time of the round, evaluation of its finished children included. */
  seconds: number;
  rulesRunning: number;
  rulesWaiting: number;
  rulesDone: number;
  /** The convolution kernels the round ran with. */
  kernels: ConvKernelChoice;
}

export interface EngineEvaluatorOptions {
  device: EngineDevice;
  protocol: ProtocolConfig;
  /** The dataset; with a fingerprint (the search's), other data at the path is refused. */
  data?: { path?: string; fingerprint?: string };
  /** Child slots; default: as many as fit in 80% of the GPU's free memory, at most DEFAULT_GPU_CHILDREN; on the host twin, one rule's sweep. */
  capacity?: number;
  /** CPU threads of the host twin (0: all). */
  threads?: number;
  cacheDir?: string;
  /**
   * The convolution kernels (ChildEngineOptions conv, wgrad; the same bits either way), or 'auto': timed on the
   * device before the first round, the fastest kept (kernel-tuning.ts).  Default: NOS_ENGINE_KERNELS, else the direct
   * kernels, until the tiled ones have passed test/gpu on a GPU (one that faulted there would fail every rule of the
   * run).
   */
  kernels?: Pick<ChildEngineOptions, 'conv' | 'wgrad'> | 'auto';
  onRound?: (report: RoundReport) => void;
  /** Called when a job's first child starts training (it may wait for free slots before). */
  onStart?: (id: string) => void;
  /**
   * Called once if the engine fails (a launch fault leaves a CUDA context unusable), before the rules in flight fail
   * with its message: the GPU worker exits here, so that its pool re-runs them on a fresh context (gpu-worker.ts).
   * whileTuning: it failed while timing the convolution kernels (kernels: 'auto'), so a variant it tried faults.
   */
  onBroken?: (message: string, whileTuning: boolean) => void;
}

/** The most children a GPU engine trains at once by default (about 34 GB for the paper's convnet). */
export const DEFAULT_GPU_CHILDREN = 1024;
/** Rule kernels building at once (NVRTC on the libuv pool, or C++ compilers for the CPU twin). */
const BUILDS_AT_ONCE = 4;

interface Active { child: ChildRun; scalars: StepScalars; epochsDone: number; steps: number; handle: number }
/** A child whose run ended in a round; result is set once it is known (scoring comes after). */
interface Ended { slot: number; a: Active; result?: ChildResult }

/** Loads a protocol's data splits without the onnxruntime path (the GPU needs none of it), checked to fit the engine. */
export function loadEngineData(protocol: ProtocolConfig, dataPath: string = DEFAULT_DATA_PATH): PreparedData {
  return checkEngineTakes(protocol, prepareProtocolData(protocol, dataPath));
}

/**
 * Returns `data` when the child engine's kernels train the protocol's network on it; else a ProtocolError saying
 * what they take (so `--device cuda` stops once, before any GPU work, not on every rule).
 */
export function checkEngineTakes(protocol: ProtocolConfig, data: PreparedData): PreparedData {
  try {
    bytesPerChild(protocolModel(protocol, data), protocol.batchSize, 1);
  } catch (e) {
    const message = (e as Error).message.replace(/^child engine: /, '');
    throw new ProtocolError(`protocol '${protocol.name}' cannot train in the child engine (--device cuda): ${message}; it trains on the CPU path (--device cpu)`);
  }
  return data;
}

/**
 * NOS_ENGINE_KERNELS, the evaluators' convolution kernels where the caller names none: 'direct', 'tiled' or 'auto'
 * (tuned on the device); unset, the direct ones.  (An environment variable so that `nos search`, `nos eval` and
 * `nos worker` with `--device cuda` can try the tiled kernels before they are the default.)
 */
export function kernelsFromEnv(env: NodeJS.ProcessEnv = process.env): EngineEvaluatorOptions['kernels'] {
  const value = env.NOS_ENGINE_KERNELS?.trim();
  if (!value) return undefined;
  if (value === 'auto') return 'auto';
  if (value === 'direct' || value === 'tiled') return { conv: value, wgrad: value };
  throw new RangeError(`NOS_ENGINE_KERNELS must be 'direct', 'tiled' or 'auto', got ${JSON.stringify(value)}`);
}

/** The default number of child slots for this device and protocol. */
export function defaultCapacity(device: EngineDevice, protocol: ProtocolConfig, data: PreparedData): number {
  if (device === 'host') return protocol.lrs.length;
  const model = protocolModel(protocol, data);
  const batches = Math.floor(protocol.trainExamples / protocol.batchSize);
  const perChild = bytesPerChild(model, protocol.batchSize, batches);
  const dataBytes = 4 * (data.train.images.length + data.validation.images.length + data.train.count + data.validation.count);
  const { free } = loadAddon().cudaMemoryInfo();
  if (free <= 0) return Math.min(DEFAULT_GPU_CHILDREN, 64);
  return Math.max(1, Math.min(DEFAULT_GPU_CHILDREN, Math.floor((0.8 * free - dataBytes) / perChild)));
}

export class EngineEvaluator {
  private readonly engine: ChildEngine;
  private readonly inputs: ChildInputs;
  private readonly batches: number;
  private readonly waiting: ChildRun[] = [];
  private readonly active = new Map<number, Active>();
  private readonly free: number[];
  private readonly done: EngineResult[] = [];
  private readonly waiters: Array<{ resolve: (r: EngineResult) => void; reject: (e: Error) => void }> = [];
  /** Rules submitted and not yet returned by next(), and rules whose outcome is decided. */
  private outstanding = 0;
  private readonly runs = new Map<RuleRun, { failed: boolean; handle?: number }>();
  private readonly builds: RuleRun[] = [];
  private building = 0;
  /** Resolved whenever a kernel finishes building (or fails): the loop waits on it when no child is ready. */
  private wakeups: Array<() => void> = [];
  /** Rules whose kernels may be dropped at the next idle moment (when no other run shares them). */
  private readonly toDrop: RuleInfo[] = [];
  private rulesDone = 0;
  private round = 0;
  private loop: Promise<void> | null = null;
  private broken: string | null = null;
  private closed = false;
  private tuning: 'pending' | 'running' | 'none' | KernelTuning;

  private constructor(private readonly options: EngineEvaluatorOptions, data: PreparedData, capacity: number) {
    const p = options.protocol;
    const model = protocolModel(p, data);
    this.batches = Math.floor(p.trainExamples / p.batchSize);
    if (this.batches < 1) throw new RangeError(`protocol '${p.name}': trainExamples (${p.trainExamples}) is smaller than one batch (${p.batchSize})`);
    const kernels = options.kernels ?? kernelsFromEnv();
    this.engine = ChildEngine.create({ device: options.device, model, capacity, batchSize: p.batchSize, stepsPerRound: this.batches,
      threads: options.threads, cacheDir: options.cacheDir, ...(kernels === 'auto' ? {} : kernels) });
    this.tuning = kernels === 'auto' && p.model === 'convnet' ? 'pending' : 'none';
    this.engine.setData(data.train, data.validation);
    this.inputs = new ChildInputs(model, this.engine.offsets, this.engine.paramCount, data.train.count);
    this.free = Array.from({ length: capacity }, (_, i) => capacity - 1 - i);
  }

  /** Loads the data and builds the engine (throws on bad data, no GPU, no compiler). */
  static create(options: EngineEvaluatorOptions): EngineEvaluator {
    const data = loadEngineData(options.protocol, options.data?.path);
    checkDataFingerprint(data, options.data?.fingerprint, options.data?.path ?? DEFAULT_DATA_PATH);
    const capacity = options.capacity ?? defaultCapacity(options.device, options.protocol, data);
    return new EngineEvaluator(options, data, capacity);
  }

  get deviceName(): string { return this.engine.deviceName; }
  get capacity(): number { return this.engine.capacity; }

  /** Queues rules; their sweep children wait for free slots. */
  submit(jobs: EngineJob[]): void {
    if (this.closed) throw new Error('engine evaluator: submit() after close()');
    for (const job of jobs) {
      this.outstanding++;
      let info: RuleInfo;
      try {
        info = compileRule(job.rule);
      } catch (err) {
        this.deliver({ id: job.id, outcome: { status: 'error', reward: 0, bestLr: null, sweep: [], seconds: 0, error: (err as Error).message } });
        continue;
      }
      const run = new RuleRun(job.id, job.rule, info, job.seed, this.options.protocol);
      if (this.broken) {
        this.deliver({ id: job.id, outcome: run.failed(this.broken, Date.now()) });
        continue;
      }
      this.runs.set(run, { failed: false });
      this.waiting.push(...run.sweepChildren());
      this.builds.push(run);
    }
    this.startBuilds();
    this.kick();
  }

  /** Starts building kernels of submitted rules, BUILDS_AT_ONCE at a time. */
  private startBuilds(): void {
    while (this.building < BUILDS_AT_ONCE && this.builds.length > 0 && !this.closed && !this.broken) {
      const run = this.builds.shift()!;
      const state = this.runs.get(run);
      if (!state || state.failed) continue;
      this.building++;
      this.engine.ruleHandleAsync(run.info).then((handle) => { state.handle = handle; }, (err: Error) => {
        // This rule's kernel does not build or load: the rule fails, the others go on.
        this.settle(run, run.failed(`its update kernel could not be built: ${err.message}`, Date.now()));
      }).finally(() => {
        this.building--;
        for (const wake of this.wakeups.splice(0)) wake();
        this.startBuilds();
        this.kick();
      });
    }
  }

  /** The next finished rule (any order); rejects when nothing is pending. */
  next(): Promise<EngineResult> {
    const ready = this.done.shift();
    if (ready) {
      this.outstanding--;
      return Promise.resolve(ready);
    }
    if (this.closed) return Promise.reject(new Error('engine evaluator: next() after close()'));
    if (this.outstanding === 0) return Promise.reject(new Error('engine evaluator: next() with nothing pending'));
    return new Promise((resolve, reject) => this.waiters.push({
      resolve: (r) => { this.outstanding--; resolve(r); }, reject,
    }));
  }

  /** Rules submitted and not yet returned by next(). */
  pending(): number {
    return this.outstanding;
  }

  /** Stops after the current step of a running round (its rules are dropped) and frees the device. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.engine.cancel();
    for (const wake of this.wakeups.splice(0)) wake();
    await this.loop?.catch(() => undefined);
    this.engine.close();
    for (const w of this.waiters.splice(0)) w.reject(new Error('engine evaluator: closed while waiting for a result'));
  }

  private kick(): void {
    if (this.loop || this.closed || this.broken || (this.waiting.length === 0 && this.active.size === 0)) return;
    this.loop = this.run().catch((err: unknown) => this.fail(err instanceof Error ? err.message : String(err)))
      .finally(() => { this.loop = null; this.kick(); });
  }

  private deliver(result: EngineResult): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(result);
    else this.done.push(result);
  }

  /** The engine failed: every rule in flight or waiting fails with its message, and so does every later one. */
  private fail(message: string): void {
    this.broken = `the child engine failed: ${message}`;
    this.options.onBroken?.(this.broken, this.tuning === 'running');
    const now = Date.now();
    for (const [run, state] of this.runs) {
      if (!state.failed) this.deliver({ id: run.id, outcome: run.failed(this.broken, now) });
    }
    this.runs.clear();
    this.waiting.length = 0;
    this.active.clear();
    for (const wake of this.wakeups.splice(0)) wake();
  }

  /** Ends a rule: its outcome goes out, its remaining children are dropped, its kernel is released. */
  private settle(run: RuleRun, outcome: EvalOutcome): void {
    const state = this.runs.get(run);
    if (!state || state.failed) return;
    state.failed = true; // no later child of this run counts
    this.runs.delete(run);
    this.rulesDone++;
    for (let i = this.waiting.length - 1; i >= 0; i--) if (this.waiting[i].run === run) this.waiting.splice(i, 1);
    this.toDrop.push(run.info);
    this.deliver({ id: run.id, outcome });
  }

  /** Drops the kernels of settled rules no other run shares (between rounds: the engine is idle). */
  private dropUnused(): void {
    for (const info of this.toDrop.splice(0)) {
      if (![...this.runs.keys()].some((r) => r.info.hash === info.hash)) this.engine.dropRule(info);
    }
  }

  /** Free slots take waiting children whose rule's kernel is ready, in queue order. */
  private place(): void {
    const started: number[] = [];
    const weights: Float32Array[] = [];
    for (let i = 0; i < this.waiting.length && this.free.length > 0;) {
      const child = this.waiting[i];
      const state = this.runs.get(child.run);
      if (!state || state.failed) { this.waiting.splice(i, 1); continue; }
      if (state.handle === undefined) { i++; continue; }
      this.waiting.splice(i, 1);
      const handle = state.handle;
      const slot = this.free.pop()!;
      const totalSteps = child.epochs * this.batches;
      this.active.set(slot, {
        child, epochsDone: 0, steps: 0, handle,
        scalars: new StepScalars(child.run.info, {
          lr: child.lr, schedule: { kind: 'constant' }, betas: OPTIMIZER_DEFAULTS.betas, delta: OPTIMIZER_DEFAULTS.delta,
          momentum: OPTIMIZER_DEFAULTS.momentum, biasCorrection: OPTIMIZER_DEFAULTS.biasCorrection, totalSteps, seed: child.run.seed,
        }),
      });
      if (child.run.markStarted(Date.now())) this.options.onStart?.(child.run.id);
      started.push(slot);
      weights.push(this.inputs.initialWeights(child.run.seed));
    }
    if (started.length === 0) return;
    const flat = new Float32Array(started.length * this.engine.paramCount);
    weights.forEach((w, i) => flat.set(w, i * this.engine.paramCount));
    this.engine.start(started, flat);
  }

  /** How the convolution kernels were chosen: timed on the device (kernels: 'auto'), or null. */
  get kernelTuning(): KernelTuning | null { return typeof this.tuning === 'object' ? this.tuning : null; }

  private async run(): Promise<void> {
    if (this.tuning === 'pending') {
      this.tuning = 'running'; // once, even if it fails
      try {
        this.tuning = await tuneConvKernels(this.engine, this.inputs, 2, () => this.closed);
      } catch (err) {
        throw new Error(`while timing the convolution kernels (kernels: 'auto'): ${(err as Error).message}`);
      }
    }
    while (!this.closed) {
      this.dropUnused();
      this.place();
      if (this.active.size === 0) {
        if (this.waiting.length === 0) return;
        await new Promise<void>((resolve) => this.wakeups.push(resolve)); // their kernels are building
        continue;
      }
      const began = Date.now();
      const slots = [...this.active.keys()];
      const result = await this.engine.runRound(this.roundRequest(slots));
      if (result.cancelled || this.closed) return;
      const ended = this.endedRuns(slots, result);
      if (!(await this.score(ended, slots, result))) return;
      this.retire(ended);
      this.options.onRound?.({
        round: ++this.round, children: slots.length, capacity: this.engine.capacity, steps: this.batches,
        seconds: (Date.now() - began) / 1000, rulesRunning: this.runs.size - this.rulesWaiting(), rulesWaiting: this.rulesWaiting(),
        rulesDone: this.rulesDone, kernels: this.engine.kernels,
      });
    }
  }

  /** One epoch of every child in `slots`: its epoch's example order (shared per seed and epoch) and step scalars. */
  private roundRequest(slots: number[]): RoundRequest {
    const children = slots.map((slot) => this.active.get(slot)!);
    const orderKeys = new Map<string, number>();
    const orders: Uint32Array[] = [];
    const orderOf = children.map((a) => {
      const key = `${a.child.run.seed}:${a.epochsDone}`;
      let k = orderKeys.get(key);
      if (k === undefined) {
        k = orders.length;
        orderKeys.set(key, k);
        orders.push(this.inputs.order(a.child.run.seed, a.epochsDone));
      }
      return k;
    });
    const scalars = children.map((a) => {
      const rows = new Float32Array(this.batches * NOS_SCALAR_COUNT);
      for (let s = 0; s < this.batches; s++) rows.set(a.scalars.fill(a.steps + s + 1), s * NOS_SCALAR_COUNT);
      return rows;
    });
    return {
      slots, orders, orderOf, scalars, steps: this.batches, t0: children.map((a) => a.steps),
      seeds: children.map((a) => a.child.run.seed), rules: children.map((a) => a.handle),
    };
  }

  /** The children whose run ended this round: diverged (with the loss that tripped the check), or all epochs done. */
  private endedRuns(slots: number[], result: RoundResult): Ended[] {
    const ended: Ended[] = [];
    slots.forEach((slot, k) => {
      const a = this.active.get(slot)!;
      a.steps = result.steps[k];
      if (result.dead[k]) {
        const loss = result.lastLoss[k];
        ended.push({ slot, a, result: { status: 'diverged', lastLoss: loss, reason: `loss ${loss} at step ${a.steps + 1} (first loss ${result.firstLoss[k]})` } });
      } else if (++a.epochsDone === a.child.epochs) {
        ended.push({ slot, a });
      }
    });
    return ended;
  }

  /** Scores the ended children that trained to the end on the held-out set; false when the engine was cancelled. */
  private async score(ended: Ended[], slots: number[], result: RoundResult): Promise<boolean> {
    const toScore = ended.filter((f) => !f.result);
    if (toScore.length === 0) return true;
    const scores = await this.engine.evaluate(toScore.map((f) => f.slot));
    if (scores.cancelled || this.closed) return false;
    const count = this.options.protocol.validationExamples;
    toScore.forEach((f, k) => {
      // As trainEpochs: parameters that end non-finite count as diverged (with the last training loss).
      f.result = scores.nonfinite[k]
        ? { status: 'diverged', lastLoss: result.lastLoss[slots.indexOf(f.slot)], reason: 'parameters became NaN or infinite' }
        : { status: 'ok', accuracy: scores.correct[k] / count, loss: scores.lossSum[k] / count };
    });
    return true;
  }

  /** Frees the ended children's slots and tells their rules (a rule's final run goes to the front of the queue). */
  private retire(ended: Ended[]): void {
    const now = Date.now();
    for (const f of ended) {
      this.active.delete(f.slot);
      this.free.push(f.slot);
      const state = this.runs.get(f.a.child.run);
      if (!state || state.failed) continue;
      const { next, outcome } = f.a.child.run.finish(f.a.child, f.result!, now);
      if (next) this.waiting.unshift(next);
      if (outcome) this.settle(f.a.child.run, outcome);
    }
  }

  /** Rules none of whose children has started. */
  private rulesWaiting(): number {
    const started = new Set([...this.active.values()].map((a) => a.child.run));
    let n = 0;
    for (const run of this.runs.keys()) if (!started.has(run) && this.waiting.some((c) => c.run === run && c.phase === 'sweep')) n++;
    return n;
  }
}
