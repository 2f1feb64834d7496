// The child engine from TypeScript: builds its modules for the device, maps a model (models.ts) and rules onto it,
// and checks every argument before the native side sees it.
import type { RuleInfo } from '../../compiler';
import { NOS_SCALAR_COUNT } from '../../compiler/kernel-abi';
import { checkUpdateLayout, DEFAULT_UPDATE_LAYOUT, layoutName, type UpdateLayout } from '../../compiler/render-children';
import { loadAddon, type EngineEvalOutput, type EngineModelShape, type EngineRoundInput, type EngineRoundOutput, type NativeChildEngine, type NativeConvKernels } from '../binding';
import type { Split } from '../child/data';
import { BN_EPS, BN_MOMENTUM, type ModelSpec } from '../child/models';
import { buildEngineImage, buildRuleImage, buildRuleImageAsync, type EngineDevice } from './kernel-build';

export type { EngineDevice } from './kernel-build';

/** Which field of a child slot read()/write() move. */
export enum EngineField { params = 0, grads = 1, state0 = 2, runningStats = 6 }

export interface ChildEngineOptions {
  device: EngineDevice;
  model: ModelSpec;
  /** Child slots (children trained at once). */
  capacity: number;
  batchSize: number;
  /** Steps of one round (the protocol's batches per epoch). */
  stepsPerRound: number;
  /** CPU threads of the host twin (0: all). */
  threads?: number;
  cacheDir?: string;
  /** Time each launch alone, by kernel name (profile()); slower, for finding where a step's time goes. */
  profile?: boolean;
  /**
   * The convolutions' kernel: 'direct' (the default, nos_conv3x3) or 'tiled' (nos_conv3x3_tiled: the weights staged
   * in shared memory), and the weight gradients': 'direct' (nos_conv3x3_wgrad) or 'tiled' (nos_conv3x3_wgrad_tiled:
   * the images staged); one variant for every convolution layer, or one per layer.  The same bits either way
   * (docs/engine.md, "Convolution kernels").
   */
  conv?: LayerVariants;
  wgrad?: LayerVariants;
}

export type KernelVariant = 'direct' | 'tiled';
export const KERNEL_VARIANTS: readonly KernelVariant[] = ['direct', 'tiled'];
/** The convnet's convolution layers; each may run its own variant of a kernel (their shapes differ). */
export const CONV_LAYERS = 2;
/** One variant for every convolution layer, or one per layer (first, second). */
export type LayerVariants = KernelVariant | readonly KernelVariant[];
/** The variants of each convolution kernel: one where every layer runs the same, else one per layer. */
export interface ConvKernelChoice { conv: LayerVariants; wgrad: LayerVariants }

/** Each convolution layer's variant. */
export const perLayer = (v: LayerVariants): KernelVariant[] => (typeof v === 'string' ? Array(CONV_LAYERS).fill(v) : [...v]);

/** `options`' kernel variants, 'direct' where unset, one variant where the layers agree; a RangeError names a bad one. */
export function kernelChoice(options: { conv?: LayerVariants; wgrad?: LayerVariants }): ConvKernelChoice {
  const variants = (name: 'conv' | 'wgrad'): LayerVariants => {
    const v = options[name] ?? 'direct';
    const ok = typeof v === 'string' ? KERNEL_VARIANTS.includes(v)
      : Array.isArray(v) && v.length === CONV_LAYERS && v.every((x) => KERNEL_VARIANTS.includes(x));
    if (!ok) {
      const one = KERNEL_VARIANTS.map((k) => `'${k}'`).join(' or ');
      throw new RangeError(`child engine: ${name} must be ${one}, or ${CONV_LAYERS} of them (one per convolution layer), got ${JSON.stringify(v)}`);
    }
    const layers = perLayer(v);
    return layers.every((x) => x === layers[0]) ? layers[0] : layers;
  };
  return { conv: variants('conv'), wgrad: variants('wgrad') };
}
const nativeKernels = (k: ConvKernelChoice): NativeConvKernels => ({
  convTiled: perLayer(k.conv).map((v) => v === 'tiled'), wgradTiled: perLayer(k.wgrad).map((v) => v === 'tiled'),
});

const ORDINALS = ['first', 'second'];
/** "convolutions tiled, weight gradients direct in the first layer, tiled in the second layer", for notes and tables. */
export function describeKernels(k: ConvKernelChoice): string {
  const say = (v: LayerVariants) => (typeof v === 'string' ? v : v.map((x, i) => `${x} in the ${ORDINALS[i]} layer`).join(', '));
  return `convolutions ${say(k.conv)}, weight gradients ${say(k.wgrad)}`;
}

const numel = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
/** What a damaged cached module makes the loader say (it is then built again, once). */
const DAMAGED_IMAGE = /could not load the emulation library|cuModuleLoadData/;
const ruleKey = (rule: RuleInfo, layout: UpdateLayout): string => `${rule.hash}:${layoutName(layout)}`;

/** The engine's view of a model; throws when the engine's kernels do not implement it. */
export function engineShape(model: ModelSpec): EngineModelShape {
  const [channels, height, width] = model.inputShape;
  const base = { channels, height, width, classes: model.classes, bnEps: BN_EPS, bnMomentum: BN_MOMENTUM };
  if (model.kind === 'mlp') return { kind: 'mlp', ...base, hidden: model.params[0].shape[0] };
  if (model.kind === 'convnet') return { kind: 'convnet', ...base, filters: model.params[0].shape[0] };
  throw new RangeError(`the child engine trains the protocol's models (mlp, convnet); '${model.kind}' trains on the CPU path only`);
}

/** Device bytes of one child slot of this model. */
export function bytesPerChild(model: ModelSpec, batchSize: number, stepsPerRound: number): number {
  return loadAddon().childEngineBytes(engineShape(model), batchSize, stepsPerRound);
}

export interface RoundRequest {
  slots: number[];
  /** Distinct example orders, each `orderLength` long, and which one each slot's child reads. */
  orders: Uint32Array[];
  orderOf: number[];
  /** Updates each child has done before this round. */
  t0: number[];
  seeds: number[];
  /** Per slot: steps x 32 step scalars. */
  scalars: Float32Array[];
  /** Per slot: the rule handle (from ruleHandle) that updates it. */
  rules: number[];
  steps: number;
  /** Default true; false runs forward and backward only (gradients readable, parameters unchanged). */
  update?: boolean;
  /** Only the rules' updates, from the gradients in the slots (write them with EngineField.grads): no training step. */
  updateOnly?: boolean;
  /** Default 1e3 (train-loop.ts). */
  divergenceFactor?: number;
}

export interface RoundResult {
  /** Per slot, in request order. */
  dead: boolean[];
  firstLoss: Float32Array;
  lastLoss: Float32Array;
  steps: Uint32Array;
  cancelled: boolean;
}

export interface EvalResult { correct: Uint32Array; lossSum: Float64Array; nonfinite: boolean[]; cancelled: boolean }

export class ChildEngine {
  readonly paramCount: number;
  /** Offsets of the model's parameter tensors in a child's flat vector (models.ts order). */
  readonly offsets: number[];
  private currentKernels: ConvKernelChoice = { conv: 'direct', wgrad: 'direct' };
  private readonly rules = new Map<string, number>();
  private readonly loading = new Map<string, Promise<number>>();
  private orderLength = 0;
  private closed = false;

  private constructor(private readonly native: NativeChildEngine, readonly device: EngineDevice, readonly model: ModelSpec,
    readonly capacity: number, readonly batchSize: number, readonly stepsPerRound: number, private readonly cacheDir?: string) {
    const layout = [...native.layout()];
    this.paramCount = layout[layout.length - 1];
    this.offsets = layout.slice(0, -1);
    const sizes = model.params.map((p) => numel(p.shape));
    const mine = this.offsets.map((o, i) => (i + 1 < this.offsets.length ? this.offsets[i + 1] : this.paramCount) - o);
    if (sizes.join() !== mine.join()) {
      native.close();
      throw new Error(`internal: the engine lays out ${mine.join(', ')} parameters, the model has ${sizes.join(', ')}`);
    }
  }

  static create(options: ChildEngineOptions): ChildEngine {
    const { device, model, capacity, batchSize, stepsPerRound } = options;
    const int = (name: string, x: number, low: number, high: number): void => {
      if (!Number.isInteger(x) || x < low || x > high) throw new RangeError(`child engine: ${name} must be an integer in [${low}, ${high}], got ${x}`);
    };
    int('capacity', capacity, 1, 65535);
    int('batchSize', batchSize, 1, 4096);
    int('stepsPerRound', stepsPerRound, 1, 1 << 24);
    if (device !== 'cuda' && device !== 'host') throw new RangeError(`child engine: device must be 'cuda' or 'host', got ${JSON.stringify(device)}`);
    const kernels = kernelChoice(options);
    const addon = loadAddon();
    const make = (fresh: boolean): NativeChildEngine => new addon.ChildEngine({
      device, image: buildEngineImage(device, { cacheDir: options.cacheDir, fresh }), model: engineShape(model), capacity,
      batch: batchSize, stepsPerRound, threads: options.threads ?? 0, profile: options.profile ?? false, kernels: nativeKernels(kernels),
    });
    let native: NativeChildEngine;
    try {
      native = make(false);
    } catch (err) {
      // A cached module the device refuses (cut short by a crash or a full disk): build it again, once.
      if (!/could not load the emulation library|cuModuleLoadData/.test((err as Error).message)) throw err;
      native = make(true);
    }
    const engine = new ChildEngine(native, device, model, capacity, batchSize, stepsPerRound, options.cacheDir);
    engine.currentKernels = kernels;
    return engine;
  }

  /** The convolution kernels rounds run with. */
  get kernels(): ConvKernelChoice { return { ...this.currentKernels }; }

  /** Switches the convolution kernels of later rounds (not while one runs); the same bits either way. */
  setKernels(kernels: { conv?: LayerVariants; wgrad?: LayerVariants }): void {
    const choice = kernelChoice(kernels);
    this.live('setKernels').setKernels(nativeKernels(choice));
    this.currentKernels = choice;
  }

  get deviceName(): string {
    return this.native.deviceName;
  }

  private live(what: string): NativeChildEngine {
    if (this.closed) throw new Error(`child engine: ${what} after close()`);
    return this.native;
  }

  /** The training examples the rounds draw batches from and the held-out set evaluate() scores. */
  setData(train: Split, validation: Split): void {
    this.live('setData').setData(train.images, Int32Array.from(train.labels), validation.images, Int32Array.from(validation.labels));
    this.orderLength = train.count;
  }

  /**
   * The handle of a rule's update kernel on this engine, rendered for `layout` (built and loaded once per rule and
   * layout; every layout computes the same values, bench/gpu-engine.ts times them against each other).
   */
  ruleHandle(rule: RuleInfo, layout: UpdateLayout = DEFAULT_UPDATE_LAYOUT): number {
    const key = ruleKey(rule, checkUpdateLayout(layout));
    const known = this.rules.get(key);
    if (known !== undefined) return known;
    const native = this.live('ruleHandle');
    const add = (fresh: boolean) => native.addRule(buildRuleImage(this.device, rule, layout, { cacheDir: this.cacheDir, fresh }), layout.groups, layout.block);
    let handle: number;
    try {
      handle = add(false);
    } catch (err) {
      if (!DAMAGED_IMAGE.test((err as Error).message)) throw err;
      handle = add(true); // a damaged cache entry: build it again, once
    }
    this.rules.set(key, handle);
    return handle;
  }

  /**
   * ruleHandle without blocking: the kernel builds (NVRTC on the libuv pool, or the C++ compiler in a child process)
   * and loads off the JS thread, also while a round runs.  One build per rule and layout however often it is asked for.
   */
  ruleHandleAsync(rule: RuleInfo, layout: UpdateLayout = DEFAULT_UPDATE_LAYOUT): Promise<number> {
    const key = ruleKey(rule, checkUpdateLayout(layout));
    const known = this.rules.get(key);
    if (known !== undefined) return Promise.resolve(known);
    let pending = this.loading.get(key);
    if (!pending) {
      const native = this.live('ruleHandleAsync');
      const load = async (fresh: boolean) =>
        native.loadRule(await buildRuleImageAsync(this.device, rule, layout, { cacheDir: this.cacheDir, fresh }), layout.groups, layout.block);
      pending = load(false).catch((err: Error) => {
        if (!DAMAGED_IMAGE.test(err.message)) throw err;
        return load(true); // a damaged cache entry: build it again, once
      }).then((handle) => {
        this.rules.set(key, handle);
        return handle;
      }).finally(() => this.loading.delete(key));
      this.loading.set(key, pending);
    }
    return pending;
  }

  /** Unloads a rule's kernel of `layout` (not while a round that uses it runs). */
  dropRule(rule: RuleInfo, layout: UpdateLayout = DEFAULT_UPDATE_LAYOUT): void {
    const key = ruleKey(rule, layout);
    const handle = this.rules.get(key);
    if (handle === undefined) return;
    this.live('dropRule').dropRule(handle);
    this.rules.delete(key);
  }

  private checkSlots(what: string, slots: number[]): void {
    const seen = new Set<number>();
    for (const s of slots) {
      if (!Number.isInteger(s) || s < 0 || s >= this.capacity) throw new RangeError(`${what}: slot ${s} is not in [0, ${this.capacity})`);
      if (seen.has(s)) throw new RangeError(`${what}: slot ${s} is listed twice`);
      seen.add(s);
    }
  }

  /** Fresh children in `slots`: params holds each one's flat parameters, one after another. */
  start(slots: number[], params: Float32Array): void {
    this.checkSlots('start', slots);
    if (params.length !== slots.length * this.paramCount) {
      throw new RangeError(`start: params holds ${params.length} values, ${slots.length} children need ${slots.length * this.paramCount}`);
    }
    this.live('start').start(Int32Array.from(slots), params);
  }

  /** Trains the children in `slots` for `steps` steps side by side (one round). */
  async runRound(r: RoundRequest): Promise<RoundResult> {
    const n = r.slots.length;
    this.checkSlots('runRound', r.slots);
    for (const [name, list] of [['orderOf', r.orderOf], ['t0', r.t0], ['seeds', r.seeds], ['scalars', r.scalars], ['rules', r.rules]] as const) {
      if (list.length !== n) throw new RangeError(`runRound: ${name} has ${list.length} entries for ${n} slots`);
    }
    if (!Number.isInteger(r.steps) || r.steps < 0 || r.steps > this.stepsPerRound) throw new RangeError(`runRound: steps must be in [0, ${this.stepsPerRound}]`);
    if (this.orderLength === 0 && !r.updateOnly) throw new Error('runRound: no data (call setData first)');
    if (!r.updateOnly && r.steps * this.batchSize > this.orderLength) throw new RangeError(`runRound: ${r.steps} steps of ${this.batchSize} need more than the ${this.orderLength} training examples`);
    const orders = new Uint32Array(r.orders.length * this.orderLength);
    r.orders.forEach((o, k) => {
      if (o.length !== this.orderLength || this.orderLength === 0) throw new RangeError(`runRound: order ${k} has ${o.length} entries, the data ${this.orderLength}`);
      orders.set(o, k * this.orderLength);
    });
    const scalars = new Float32Array(n * r.steps * NOS_SCALAR_COUNT);
    r.scalars.forEach((s, k) => {
      if (s.length !== r.steps * NOS_SCALAR_COUNT) throw new RangeError(`runRound: scalars of slot ${r.slots[k]} must hold ${r.steps} x ${NOS_SCALAR_COUNT} values`);
      scalars.set(s, k * r.steps * NOS_SCALAR_COUNT);
    });
    const groups = new Map<number, number[]>();
    r.rules.forEach((rule, k) => {
      if (![...this.rules.values()].includes(rule)) throw new RangeError(`runRound: slot ${r.slots[k]} names rule handle ${rule}, which this engine does not hold`);
      groups.set(rule, [...(groups.get(rule) ?? []), k]);
    });
    const input: EngineRoundInput = {
      kids: Int32Array.from(r.slots), orders, orderLength: Math.max(1, this.orderLength), orderOf: Int32Array.from(r.orderOf),
      t0: Uint32Array.from(r.t0), seeds: Uint32Array.from(r.seeds), scalars,
      groups: [...groups].map(([rule, members]) => ({ rule, members: Int32Array.from(members) })),
      steps: r.steps, update: r.update ?? true, divergenceFactor: r.divergenceFactor ?? 1e3, updateOnly: r.updateOnly ?? false,
    };
    const out: EngineRoundOutput = await this.live('runRound').runRound(input);
    return { dead: [...out.dead].map((d) => d !== 0), firstLoss: out.firstLoss, lastLoss: out.lastLoss, steps: out.steps, cancelled: out.cancelled };
  }

  /** Scores the children in `slots` on the held-out set (running statistics), and checks their parameters are finite. */
  async evaluate(slots: number[]): Promise<EvalResult> {
    this.checkSlots('evaluate', slots);
    const out: EngineEvalOutput = await this.live('evaluate').evaluate(Int32Array.from(slots));
    return { correct: out.correct, lossSum: out.lossSum, nonfinite: [...out.nonfinite].map((x) => x !== 0), cancelled: out.cancelled };
  }

  read(slot: number, field: number): Float32Array {
    this.checkSlots('read', [slot]);
    return this.live('read').read(slot, field);
  }

  write(slot: number, field: number, values: Float32Array): void {
    this.checkSlots('write', [slot]);
    this.live('write').write(slot, field, values);
  }

  /**
   * Seconds per kernel and launch shape so far (`shape`: "grid XxY block N", which tells a network's layers apart),
   * most first (an engine made with profile: true; empty otherwise).
   */
  profile(): Array<{ kernel: string; shape: string; launches: number; seconds: number }> {
    return this.live('profile').profile().map((k) => {
      const space = k.kernel.indexOf(' ');
      return { ...k, kernel: space < 0 ? k.kernel : k.kernel.slice(0, space), shape: space < 0 ? '' : k.kernel.slice(space + 1) };
    }).sort((a, b) => b.seconds - a.seconds);
  }

  /** Asks a running round or evaluation to stop after its current step (its result then says cancelled). */
  cancel(): void {
    if (!this.closed) this.native.cancel();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close();
  }
}
