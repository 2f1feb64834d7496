// createOptimizer: a compiled update rule run in place over a list of Float32Array parameters, with state that can be
// read, saved as plain JSON and restored.
import { types } from 'node:util';
import { compileRule } from '../compiler';
import { NOS_SCALAR_COUNT, OPTIMIZER_DEFAULTS, STATE_SLOTS, type StateName } from '../compiler/kernel-abi';
import { tryLoadAddon } from './binding';
import { createRunner, DEVICE_NAMES, type DeviceName, type RuntimeRule, type UpdateRunner } from './devices';
import { StepScalars, stepScalars, type ScalarSettings } from './scalars';
import { checkSchedule, type ScheduleSpec } from './schedules';

export type { ScheduleSpec } from './schedules';

export interface OptimizerOptions {
  /** Base learning rate, default 1e-3. */
  lr?: number;
  /** Learning-rate schedule, default constant. */
  schedule?: ScheduleSpec;
  /** beta1, beta2, beta3 of the running averages of g, g^2, g^3; default [0.9, 0.999, 0.999]. */
  betas?: [number, number, number];
  /** Added to every denominator; default 1e-8. */
  delta?: number;
  /** Heavy-ball mu of the `mom` buffer; default 0.9. */
  momentum?: number;
  /** Divide the running averages by 1 - beta^t; default true. */
  biasCorrection?: boolean;
  /** T for the decays (ld, cd, rd) and for schedules without their own decaySteps. */
  totalSteps?: number;
  /** Seed of drop, noise and the noisy schedule; default 0. */
  seed?: number;
  /** 'cpu' (native JIT, default), 'js' or 'cuda'. */
  device?: DeviceName;
  /** CPU threads per step; 0 (default) uses every hardware thread. */
  threads?: number;
  /** Kernel cache folder (default $NOS_CACHE_DIR or ~/.cache/nos/kernels). */
  cacheDir?: string;
  /** Receives the one-line warning when 'cpu' falls back to the JS kernel (default process.emitWarning). */
  warn?: (message: string) => void;
}

/** The rule as the optimizer needs it; the compiler's RuleInfo is one. */
export interface OptimizerRule extends RuntimeRule {
  canonical: string;
  decays: ReadonlyArray<{ readonly name: 'ld' | 'cd' | 'rd'; readonly n: number }>;
}

/** A saved state: plain JSON (Float32 data as base64 strings); loadStateDict also takes Float32Arrays. */
export interface OptimizerState {
  format: 'nos-optimizer-state';
  version: 1;
  rule: string;
  hash: string;
  step: number;
  sizes: number[];
  slots: StateName[];
  /** One entry per tensor: slot name to its values. */
  tensors: Array<Partial<Record<StateName, string | Float32Array>>>;
}

export interface Optimizer {
  readonly info: OptimizerRule;
  readonly device: string;
  /** Steps taken so far (what a saved state calls `step`). */
  readonly iterations: number;
  /** One step in place: params[k] -= lr(t) * rule(grads[k], state). */
  step(params: Float32Array[], grads: Float32Array[]): void;
  /** @deprecated The same as step(params, grads), under its first name (kept so that code calling it keeps working). */
  update(params: Float32Array[], grads: Float32Array[]): void;
  /** The learning rate the next update will use. */
  currentLr(): number;
  stateDict(): OptimizerState;
  loadStateDict(state: OptimizerState): void;
  dispose(): void;
}

/** The rule as given (name, infix, tokens) compiled by the front end, or an already compiled RuleInfo. */
function resolveRule(rule: string | OptimizerRule): OptimizerRule {
  if (typeof rule === 'string') return compileRule(rule);
  if (!rule || typeof rule !== 'object' || typeof rule.hash !== 'string' || !rule.root || !Array.isArray(rule.state)
    || !Array.isArray(rule.decays) || typeof rule.canonical !== 'string') {
    throw new TypeError(`createOptimizer: rule must be a rule text, a rule name or a compiled RuleInfo, received ${describe(rule)}`);
  }
  return rule;
}

function fail(message: string): never {
  throw new RangeError(`createOptimizer: ${message}`);
}

function describe(x: unknown): string {
  if (ArrayBuffer.isView(x)) return `a ${x.constructor.name}`;
  if (Array.isArray(x)) return 'an Array';
  if (x === null || x === undefined) return String(x);
  return typeof x === 'object' ? `an object` : `${typeof x} ${String(x)}`;
}

/** Every option's name (the Record makes the compiler check this list against OptimizerOptions). */
const OPTION_NAMES = Object.keys({
  lr: 1, schedule: 1, betas: 1, delta: 1, momentum: 1, biasCorrection: 1, totalSteps: 1, seed: 1, device: 1, threads: 1,
  cacheDir: 1, warn: 1,
} satisfies Record<keyof OptimizerOptions, 1>);

/** A number as itself, anything else with its type (so the string '2' does not read as the number 2). */
function shown(x: unknown): string {
  return typeof x === 'number' ? String(x) : describe(x);
}

function checkOptions(o: OptimizerOptions): void {
  if (o === null || typeof o !== 'object') fail(`options must be an object, received ${describe(o)}`);
  // A misspelt option would otherwise be ignored silently (e.g. learningRate: the default lr would train).
  for (const key of Object.keys(o)) {
    if (!OPTION_NAMES.includes(key)) fail(`unknown option '${key}' (options: ${OPTION_NAMES.join(', ')})`);
  }
  // The kernels compute in float32: a value finite as a double but not as a float32 (lr: 1e39) would be infinite there.
  const finite = (name: string, x: unknown): void => {
    if (x !== undefined && (typeof x !== 'number' || !Number.isFinite(Math.fround(x)))) fail(`${name} must be a finite number (as a float32), received ${describe(x)}`);
  };
  finite('lr', o.lr);
  if (o.lr !== undefined && o.lr < 0) fail(`lr must be >= 0, received ${o.lr}`);
  finite('delta', o.delta);
  if (o.delta !== undefined && o.delta < 0) fail(`delta must be >= 0, received ${o.delta}`);
  finite('momentum', o.momentum);
  if (o.betas !== undefined) {
    if (!Array.isArray(o.betas) || o.betas.length !== 3) fail(`betas must be [beta1, beta2, beta3], received ${JSON.stringify(o.betas)}`);
    o.betas.forEach((b, i) => {
      if (typeof b !== 'number' || !(b >= 0 && b < 1)) fail(`betas[${i}] must be in [0, 1), received ${shown(b)}`);
    });
  }
  if (o.totalSteps !== undefined && !(Number.isInteger(o.totalSteps) && o.totalSteps > 0)) {
    fail(`totalSteps must be a positive integer, received ${shown(o.totalSteps)}`);
  }
  if (o.seed !== undefined && !(Number.isInteger(o.seed) && o.seed >= 0 && o.seed <= 0xffffffff)) {
    fail(`seed must be an integer in [0, 2^32), received ${shown(o.seed)}`);
  }
  if (o.threads !== undefined && !(Number.isInteger(o.threads) && o.threads >= 0 && o.threads <= 1024)) {
    fail(`threads must be an integer in [0, 1024], received ${shown(o.threads)}`);
  }
  if (o.device !== undefined && !DEVICE_NAMES.includes(o.device)) {
    fail(`device must be one of ${DEVICE_NAMES.join(', ')}, received ${JSON.stringify(o.device)}`);
  }
  if (o.biasCorrection !== undefined && typeof o.biasCorrection !== 'boolean') fail('biasCorrection must be a boolean');
  if (o.cacheDir !== undefined && (typeof o.cacheDir !== 'string' || o.cacheDir.length === 0)) {
    fail(`cacheDir must be a folder path (a non-empty string), received ${describe(o.cacheDir)}`);
  }
  if (o.warn !== undefined && typeof o.warn !== 'function') fail(`warn must be a function, received ${describe(o.warn)}`);
}

const addon = tryLoadAddon();

const isDetached = (a: Float32Array): boolean =>
  // Only an empty view can sit on a detached buffer; ask the addon (exact) only then, so checks stay cheap.
  // A SharedArrayBuffer can never be detached (and the addon's check takes only an ArrayBuffer).
  a.byteLength === 0 && !types.isSharedArrayBuffer(a.buffer)
    && (addon ? addon.isDetached(a.buffer as ArrayBuffer) : a.buffer.byteLength === 0);

/**
 * Views over SharedArrayBuffers are compared by the address of their memory (the addon's viewAddress): distinct
 * SharedArrayBuffer objects can hold the same memory (a shared WebAssembly.Memory's buffer before and after grow(), one
 * SharedArrayBuffer posted to this thread twice), which grouping by buffer object would take for disjoint. An
 * ArrayBuffer's memory has that one object, so other views are compared by byteOffset within their buffer, with no
 * native call. Without the addon, SharedArrayBuffers are grouped by object too.
 */
const SHARED_MEMORY = Symbol('SharedArrayBuffer memory');
// (An addon built before viewAddress existed has none: then grouping by object, as without the addon.)
const viewAddress = addon && typeof addon.viewAddress === 'function' ? (a: Float32Array): number => addon.viewAddress(a) : undefined;
/** Whether views of `buffer` go by address: a SharedArrayBuffer, when the addon can tell addresses. */
const byAddress = (buffer: ArrayBufferLike): boolean =>
  viewAddress !== undefined && buffer.constructor !== ArrayBuffer && types.isSharedArrayBuffer(buffer);

/**
 * Refuses a step whose parameters share memory with each other or with another tensor's gradient: the kernel updates
 * tensors in parallel pieces, so such a step would depend on the order of the pieces (a tensor listed twice would
 * also be updated twice). params[k] and grads[k] may be the very same range (each element is read before written).
 */
function checkNoSharedMemory(params: Float32Array[], grads: Float32Array[]): void {
  // Parameter indices per buffer (SharedArrayBuffer views all in one group, at their memory's addresses), kept sorted
  // by start (usually already: views cut from one buffer in order).
  const byBuffer = new Map<ArrayBufferLike | symbol, number[]>();
  const starts = new Float64Array(params.length);
  const ends = new Float64Array(params.length);
  let last: ArrayBufferLike | undefined;
  let lastShared = false;
  let lastList: number[] = [];
  for (let k = 0; k < params.length; k++) {
    const p = params[k];
    const bytes = p.byteLength;
    if (bytes === 0) continue;
    const buffer = p.buffer;
    if (buffer !== last) {
      last = buffer;
      lastShared = byAddress(buffer);
      const key = lastShared ? SHARED_MEMORY : buffer;
      lastList = byBuffer.get(key) ?? [];
      if (lastList.length === 0) byBuffer.set(key, lastList);
    }
    starts[k] = lastShared ? viewAddress!(p) : p.byteOffset;
    ends[k] = starts[k] + bytes;
    lastList.push(k);
  }
  const start = (k: number): number => starts[k];
  const end = (k: number): number => ends[k];
  for (const list of byBuffer.values()) {
    if (list.length < 2) continue;
    let sorted = true;
    for (let i = 1; i < list.length && sorted; i++) sorted = start(list[i]) >= start(list[i - 1]);
    if (!sorted) list.sort((a, b) => start(a) - start(b));
    for (let i = 1; i < list.length; i++) {
      if (start(list[i]) < end(list[i - 1])) {
        const [a, b] = [list[i - 1], list[i]].sort((x, y) => x - y);
        throw new RangeError(`step: params[${b}] shares memory with params[${a}] (each parameter must be its own array; one listed twice would be updated twice)`);
      }
    }
  }
  for (let j = 0; j < grads.length; j++) {
    const g = grads[j];
    if (g.length === 0) continue;
    const shared = byAddress(g.buffer);
    const list = byBuffer.get(shared ? SHARED_MEMORY : g.buffer);
    if (!list) continue;
    const gStart = shared ? viewAddress!(g) : g.byteOffset;
    const gEnd = gStart + g.byteLength;
    // Parameters are sorted and disjoint, so the last one starting before gEnd is the only one that can overlap.
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (start(list[mid]) < gEnd) lo = mid + 1; else hi = mid;
    }
    // The parameters overlapping [gStart, gEnd) are the ones from there back while they end after gStart. Name another
    // parameter before the gradient's own one: "shares memory with params[j]" alone would read as allowed.
    let own = false;
    for (let i = lo - 1; i >= 0 && end(list[i]) > gStart; i--) {
      const k = list[i];
      if (k !== j) {
        throw new RangeError(`step: grads[${j}] shares memory with params[${k}], which the step writes (a gradient may be its own parameter's array, but no other parameter's)`);
      }
      own = start(k) !== gStart || end(k) !== gEnd;
    }
    if (own) {
      const by = (gStart - start(j)) / 4;
      throw new RangeError(`step: grads[${j}] shares memory with params[${j}], shifted by ${by} element${Math.abs(by) === 1 ? '' : 's'} (a gradient may be exactly its own parameter's array, but not shifted over it)`);
    }
  }
}

function checkArrays(what: string, arrays: unknown, count: number | undefined): asserts arrays is Float32Array[] {
  if (!Array.isArray(arrays)) throw new TypeError(`step: ${what} must be an Array of Float32Array, received ${describe(arrays)}`);
  if (count !== undefined && arrays.length !== count) {
    throw new RangeError(`step: ${what} has ${arrays.length} arrays, expected ${count}`);
  }
  // A for loop, not forEach: forEach skips the holes of a sparse list ([, w]), which then reached the kernel.
  for (let k = 0; k < arrays.length; k++) {
    const a: unknown = arrays[k];
    // types.isFloat32Array also knows arrays made in another realm (vm contexts, some test runners).
    if (!types.isFloat32Array(a)) throw new TypeError(`step: ${what}[${k}] must be a Float32Array, received ${describe(a)}`);
    if (isDetached(a)) throw new TypeError(`step: ${what}[${k}] is detached (its ArrayBuffer was transferred)`);
  }
}

function encode(a: Float32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

function decode(where: string, x: unknown, n: number): Float32Array {
  let out: Float32Array;
  if (types.isFloat32Array(x)) out = x;
  else if (typeof x === 'string') {
    const bytes = Buffer.from(x, 'base64');
    if (bytes.length !== 4 * n) throw new RangeError(`loadStateDict: ${where} holds ${bytes.length} bytes, expected ${4 * n} (${n} float32 values)`);
    out = new Float32Array(n);
    new Uint8Array(out.buffer).set(bytes);
  } else throw new TypeError(`loadStateDict: ${where} must be a base64 string or a Float32Array, received ${describe(x)}`);
  if (out.length !== n) throw new RangeError(`loadStateDict: ${where} holds ${out.length} values, expected ${n}`);
  return out;
}

class NosOptimizer implements Optimizer {
  private taken = 0;
  readonly device: string;
  private sizes: number[] | undefined;
  private readonly scalars: StepScalars;
  private runner: UpdateRunner | undefined;

  constructor(readonly info: OptimizerRule, private readonly settings: ScalarSettings, runner: UpdateRunner) {
    this.scalars = new StepScalars(info, settings);
    this.runner = runner;
    this.device = runner.device;
  }

  private live(): UpdateRunner {
    if (!this.runner) throw new Error('optimizer: used after dispose()');
    return this.runner;
  }

  get iterations(): number {
    return this.taken;
  }

  update(params: Float32Array[], grads: Float32Array[]): void {
    this.step(params, grads);
  }

  step(paramsGiven: Float32Array[], gradsGiven: Float32Array[]): void {
    const runner = this.live();
    // Each entry read once: a getter or a Proxy must not hand the checks one array and the kernel another.
    const params = Array.isArray(paramsGiven) ? Array.from(paramsGiven) : paramsGiven;
    const grads = Array.isArray(gradsGiven) ? Array.from(gradsGiven) : gradsGiven;
    checkArrays('params', params, this.sizes?.length);
    checkArrays('grads', grads, params.length);
    params.forEach((w, k) => {
      if (grads[k].length !== w.length) {
        throw new RangeError(`step: grads[${k}] has ${grads[k].length} elements, params[${k}] has ${w.length}`);
      }
      if (this.sizes && this.sizes[k] !== w.length) {
        throw new RangeError(`step: params[${k}] has ${w.length} elements, but the optimizer's state for it has ${this.sizes[k]} (did the parameter list change?)`);
      }
    });
    checkNoSharedMemory(params, grads);
    if (this.taken >= 0xffffffff) throw new RangeError('step: step counter would pass 2^32 - 1');
    // An empty list binds nothing (like a state saved before the first update): the first non-empty list fixes it.
    if (!this.sizes && params.length > 0) {
      const sizes = params.map((w) => w.length);
      runner.bind(sizes); // may refuse the list (a GPU's limits): then nothing is bound and the next step tries again
      this.sizes = sizes;
    }
    const t = this.taken + 1;
    if (params.length > 0) runner.step(params, grads, this.scalars.fill(t), this.settings.seed, t);
    this.taken = t;
  }

  currentLr(): number {
    return stepScalars(this.info, this.settings, this.taken + 1, new Float32Array(NOS_SCALAR_COUNT))[0];
  }

  stateDict(): OptimizerState {
    const runner = this.live();
    const slots = this.info.state;
    const sizes = this.sizes ?? [];
    const read = sizes.length > 0 ? slots.map((s) => runner.readSlot(STATE_SLOTS.indexOf(s))) : []; // per slot, per tensor
    return {
      format: 'nos-optimizer-state', version: 1, rule: this.info.canonical, hash: this.info.hash, step: this.taken,
      sizes: [...sizes], slots: [...slots],
      tensors: sizes.map((_, k) => Object.fromEntries(slots.map((s, i) => [s, encode(read[i][k])]))),
    };
  }

  loadStateDict(state: OptimizerState): void {
    const runner = this.live();
    if (!state || typeof state !== 'object' || state.format !== 'nos-optimizer-state') {
      throw new TypeError(`loadStateDict: expected an object from stateDict() (format 'nos-optimizer-state'), received ${describe(state)}`);
    }
    if (state.version !== 1) throw new RangeError(`loadStateDict: state version ${String(state.version)} is not supported (expected 1)`);
    if (state.hash !== this.info.hash) {
      throw new Error(`loadStateDict: the state is for rule "${state.rule}" (hash ${state.hash}), but this optimizer runs "${this.info.canonical}" (hash ${this.info.hash})`);
    }
    if (!Number.isInteger(state.step) || state.step < 0 || state.step > 0xffffffff) {
      // The kernels count steps in 32 bits: a larger step would load, then refuse every update.  2^32 - 1 itself is
      // what a state saved at the last step holds: it loads (and its next step is refused, saying why).
      throw new RangeError(`loadStateDict: step must be an integer in [0, 2^32 - 1], received ${shown(state.step)}`);
    }
    if (!Array.isArray(state.sizes) || !state.sizes.every((n) => Number.isInteger(n) && n >= 0)) {
      throw new TypeError('loadStateDict: sizes must be an array of tensor lengths');
    }
    if (!Array.isArray(state.tensors) || state.tensors.length !== state.sizes.length) {
      throw new RangeError(`loadStateDict: tensors must hold one entry per size (${state.sizes.length})`);
    }
    // Decode everything before touching the live state, so a bad dict leaves the optimizer as it was.
    const decoded = state.sizes.map((n, k) => this.info.state.map((s) => {
      const entry = state.tensors[k];
      if (!entry || !(s in entry)) throw new RangeError(`loadStateDict: tensor ${k} lacks state '${s}'`);
      return decode(`tensor ${k} state '${s}'`, entry[s], n);
    }));
    // A state saved before the first update holds no tensors: the next update binds the parameter list. A runner
    // that refuses the list keeps its state, so the optimizer is left as it was.
    runner.bind(state.sizes);
    this.sizes = state.sizes.length > 0 ? [...state.sizes] : undefined;
    if (state.sizes.length > 0) this.info.state.forEach((s, i) => runner.writeSlot(STATE_SLOTS.indexOf(s), decoded.map((slots) => slots[i])));
    this.taken = state.step;
  }

  dispose(): void {
    this.runner?.dispose();
    this.runner = undefined;
  }
}

/** An optimizer for `rule` (infix text, controller tokens or a name like 'adam', 'powersign-cd'). */
export function createOptimizer(rule: string | OptimizerRule, options: OptimizerOptions = {}): Optimizer {
  checkOptions(options);
  const info = resolveRule(rule);
  if (info.decays.length > 0 && options.totalSteps === undefined) {
    const names = info.decays.map((d) => (d.name === 'ld' ? 'ld' : `${d.name}(${d.n})`)).join(', ');
    fail(`the rule uses the decay ${names}, which needs totalSteps`);
  }
  // The optimizer keeps copies: the caller's betas array and schedule object (an options object reused for the next
  // optimizer of a sweep, then changed) must not change this one's steps, nor pass round checkSchedule below.
  const schedule = options.schedule;
  const settings: ScalarSettings = {
    lr: options.lr ?? OPTIMIZER_DEFAULTS.lr,
    schedule: schedule === undefined ? { kind: 'constant' }
      : schedule !== null && typeof schedule === 'object' && !Array.isArray(schedule) ? { ...schedule } : schedule,
    betas: options.betas ? [options.betas[0], options.betas[1], options.betas[2]] : [...OPTIMIZER_DEFAULTS.betas],
    delta: options.delta ?? OPTIMIZER_DEFAULTS.delta,
    momentum: options.momentum ?? OPTIMIZER_DEFAULTS.momentum,
    biasCorrection: options.biasCorrection ?? OPTIMIZER_DEFAULTS.biasCorrection,
    totalSteps: options.totalSteps,
    seed: options.seed ?? 0,
  };
  checkSchedule(settings.schedule, settings.totalSteps);
  const runner = createRunner(info, options.device ?? 'cpu', { threads: options.threads, cacheDir: options.cacheDir, warn: options.warn });
  return new NosOptimizer(info, settings, runner);
}
