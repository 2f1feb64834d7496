// The child engine's benchmark (issue 11), on one device in one run, every ratio against a peer measured in the
// same run or recorded with its command:
//   update  the fused children update of sgd, powersign and adam, each launch timed alone by the GPU's clock (CUDA
//           events, as PyTorch's Adam is timed), as GB/s and as a fraction of the device's measured copy bandwidth
//           (cudaCopyBandwidth of 1 GiB, bytes read + written: the ceiling; and of one update tensor's size), in
//           each update layout (render-children.ts), and with every array as large as the copy's (as STREAM does);
//   profile where a training step's time goes and an evaluation's, apart, by kernel and launch shape (the shape
//           tells the layers apart; each launch timed alone);
//   torch   Adam's step against PyTorch's fused=True Adam on the same parameters and GPU (bench/gpu_adam_torch.py);
//   rewards paper-protocol rewards of adam, sgd and powersign against the CPU path's (the reference file);
//   tiled   the training step again with the tiled convolution kernels (nos_conv3x3_tiled,
//           nos_conv3x3_wgrad_tiled), launch shape by launch shape against the direct ones (after the rewards: a
//           faulting kernel can leave the CUDA context unusable);
//   rate    paper-protocol rules per hour (random rules of the paper-full space, the queue kept full) against the
//           2-core CPU path's (the reference file), with the convolution kernels tuned per layer on the device
//           (kernels: 'auto'; the direct ones where 'tiled' was skipped or failed; the row names them).
// `--device host` runs it all on the engine's CPU twin (a dry run: no copy bandwidth, no PyTorch).
// `--cpu-reference` measures the CPU path here instead (rewards, CPU seconds per rule) and writes the reference file.
//
//   node dist/bench/gpu-engine.js [--device cuda|host] [--data DIR] [--reference FILE] [--json FILE]
//        [--children N] [--rate-seconds S] [--protocol paper|quick|FILE] [--skip update,profile,torch,rewards,tiled,rate]
//   node dist/bench/gpu-engine.js --cpu-reference [--data DIR] [--reference FILE] [--protocol ...]
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compileRule } from '../src/compiler';
import { NOS_SCALAR_COUNT } from '../src/compiler/kernel-abi';
import { DEFAULT_UPDATE_LAYOUT, layoutName, type UpdateLayout } from '../src/compiler/render-children';
import { loadSearchSpace, createStrategy } from '../src/controller/strategy';
import { loadAddon, packageRoot } from '../src/runtime/binding';
import { createModel } from '../src/runtime/child/models';
import { evaluateRule, loadProtocol, PROTOCOL_VERSION, PROTOCOLS, type EvalOutcome, type ProtocolConfig } from '../src/runtime/child/protocol';
import { ChildEngine, describeKernels, EngineField, type ConvKernelChoice, type EngineDevice, type KernelVariant } from '../src/runtime/engine/child-engine';
import { ChildInputs } from '../src/runtime/engine/child-inputs';
import { EngineEvaluator, loadEngineData, type RoundReport } from '../src/runtime/engine/engine-evaluator';
import { StepScalars } from '../src/runtime/scalars';
import { barRows, type Measured } from './gpu-bars';

const REWARD_RULES = ['adam', 'sgd', 'powersign'];

interface Reference {
  command: string; date: string; cpu: string; protocolVersion: number; protocol: string;
  outcomes: Record<string, EvalOutcome>;
  /** CPU seconds (user + system) one paper-protocol rule takes on one thread. */
  cpuSecondsPerRule: number;
  /** What a 2-core machine does with one worker per core: 2 x 3600 / cpuSecondsPerRule. */
  rulesPerHour2Core: number;
}

function flag(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}
const say = (line: string): void => { process.stderr.write(`${line}\n`); };

/** Device name and copy bandwidth in GB/s (bytes read + written), or null on the host twin. */
function copyBandwidth(device: EngineDevice): number | null {
  if (device !== 'cuda') return null;
  const addon = loadAddon();
  addon.cudaCopyBandwidth(1 << 28, 3); // warm
  return Math.max(...[0, 1, 2].map(() => addon.cudaCopyBandwidth(1 << 30, 20)));
}

/** Copy bandwidth in GB/s at one update tensor's size (smaller than the ceiling's 1 GiB: the update's own scale). */
function copyBandwidthAt(bytes: number): number {
  const addon = loadAddon();
  return Math.max(...[0, 1, 2].map(() => addon.cudaCopyBandwidth(bytes, 200)));
}

/** Layouts of the children update timed against the default (UpdateLayout, render-children.ts). */
const UPDATE_LAYOUTS: UpdateLayout[] = [
  DEFAULT_UPDATE_LAYOUT,
  { groups: 1, cache: 'streaming', block: 256 },
  { groups: 2, cache: 'default', block: 256 },
  { groups: 2, cache: 'streaming', block: 256 },
  { groups: 1, cache: 'default', block: 128 },
  { groups: 1, cache: 'default', block: 512 },
];

interface UpdateTiming { layout: string; seconds: number; gbps: number }

/**
 * Times `rule`'s children update over `children` convnet children (random weights and gradients, never zeros) in each
 * of `layouts`, each launch timed alone: by CUDA events on a GPU (Device::TimedLaunch), so host work around a round
 * and the launch's host latency stay out and the kernel's ramp-up and tail stay in.
 */
async function updateTimings(device: EngineDevice, rule: string, children: number, layouts: UpdateLayout[]): Promise<{ timings: UpdateTiming[]; bytes: number; tensorBytes: number }> {
  const info = compileRule(rule);
  const model = createModel('convnet', [1, 28, 28], 10, 1);
  const steps = device === 'cuda' ? 200 : 10;
  const engine = ChildEngine.create({ device, model, capacity: children, batchSize: 1, stepsPerRound: steps, profile: true });
  try {
    const p = engine.paramCount;
    const slots = Array.from({ length: children }, (_, i) => i);
    const random = (n: number, scale: number) => Float32Array.from({ length: n }, () => (Math.random() - 0.5) * scale);
    // Children start in chunks from one random block (host memory stays small at the copy's size).
    const chunk = Math.min(children, 1024);
    const weights = random(chunk * p, 0.2);
    for (let at = 0; at < children; at += chunk) {
      const part = slots.slice(at, at + chunk);
      engine.start(part, weights.subarray(0, part.length * p));
    }
    const grads = random(p, 0.02);
    for (const s of slots) engine.write(s, EngineField.grads, grads);
    const sc = new StepScalars(info, { lr: 1e-3, schedule: { kind: 'constant' }, betas: [0.9, 0.999, 0.999], delta: 1e-8, momentum: 0.9, biasCorrection: true, totalSteps: 1000, seed: 1 });
    const rows = new Float32Array(steps * NOS_SCALAR_COUNT);
    for (let t = 0; t < steps; t++) rows.set(sc.fill(t + 1), t * NOS_SCALAR_COUNT);
    const updates = () => engine.profile().filter((k) => k.kernel === 'nos_update_children').reduce((a, k) => ({ seconds: a.seconds + k.seconds, launches: a.launches + k.launches }), { seconds: 0, launches: 0 });
    const tensorBytes = 4 * p * children;
    const bytes = (3 + 2 * info.state.length) * tensorBytes; // w read + write, g read, state read + write
    const timings: UpdateTiming[] = [];
    for (const layout of layouts) {
      const handle = await engine.ruleHandleAsync(info, layout);
      const round = () => engine.runRound({ slots, orders: [], orderOf: slots.map(() => 0), t0: slots.map(() => 0), seeds: slots, scalars: slots.map(() => rows), rules: slots.map(() => handle), steps, updateOnly: true });
      // Warm: module load, first touch, and the clocks up from idle (a second before the first layout).
      const warming = performance.now();
      do await round(); while (performance.now() - warming < (device !== 'cuda' ? 0 : timings.length === 0 ? 1000 : 300));
      const before = updates();
      await round();
      await round();
      const after = updates();
      const seconds = (after.seconds - before.seconds) / (after.launches - before.launches);
      timings.push({ layout: layoutName(layout), seconds, gbps: bytes / seconds / 1e9 });
      engine.dropRule(info, layout);
    }
    return { timings, bytes, tensorBytes };
  } finally {
    engine.close();
  }
}

type KernelTimes = ReturnType<ChildEngine['profile']>;
/** "conv/wgrad", each "direct", "tiled", or per layer ("direct+tiled": the first layer's, then the second's). */
const kernelsName = (k: ConvKernelChoice) => [k.conv, k.wgrad].map((v) => (typeof v === 'string' ? v : v.join('+'))).join('/');

/** What `after` added to `before`, by kernel and launch shape, most first. */
function profileSince(before: KernelTimes, after: KernelTimes): KernelTimes {
  const key = (k: KernelTimes[number]) => `${k.kernel} ${k.shape}`;
  const was = new Map(before.map((k) => [key(k), k]));
  return after.map((k) => ({ ...k, launches: k.launches - (was.get(key(k))?.launches ?? 0), seconds: k.seconds - (was.get(key(k))?.seconds ?? 0) }))
    .filter((k) => k.launches > 0).sort((a, b) => b.seconds - a.seconds);
}

/**
 * Kernel times of a few training steps (adam) and (with `evaluate`) one held-out evaluation of `children` children,
 * most first, with the `variant` convolution kernels (forward, input and weight gradients).
 */
async function profile(device: EngineDevice, protocol: ProtocolConfig, dataPath: string | undefined, children: number, variant: KernelVariant, evaluate: boolean) {
  const data = loadEngineData(protocol, dataPath);
  const model = createModel(protocol.model, [data.channels, data.height, data.width], data.classes, protocol.batchSize);
  const steps = 3;
  const engine = ChildEngine.create({ device, model, capacity: children, batchSize: protocol.batchSize, stepsPerRound: steps, profile: true, conv: variant, wgrad: variant });
  try {
    engine.setData(data.train, data.validation);
    const inputs = new ChildInputs(model, engine.offsets, engine.paramCount, data.train.count);
    const slots = Array.from({ length: children }, (_, i) => i);
    const flat = new Float32Array(children * engine.paramCount);
    slots.forEach((s) => flat.set(inputs.initialWeights(s), s * engine.paramCount)); // one seed per child
    engine.start(slots, flat);
    const info = compileRule('adam');
    const handle = await engine.ruleHandleAsync(info);
    const scalars = slots.map((s) => {
      const sc = new StepScalars(info, { lr: 1e-3, schedule: { kind: 'constant' }, betas: [0.9, 0.999, 0.999], delta: 1e-8, momentum: 0.9, biasCorrection: true, totalSteps: 100, seed: s });
      const rows = new Float32Array(steps * NOS_SCALAR_COUNT);
      for (let t = 0; t < steps; t++) rows.set(sc.fill(t + 1), t * NOS_SCALAR_COUNT);
      return rows;
    });
    await engine.runRound({ slots, orders: [inputs.order(0, 0)], orderOf: slots.map(() => 0), t0: slots.map(() => 0), seeds: slots, scalars, rules: slots.map(() => handle), steps });
    const training = engine.profile();
    if (evaluate) await engine.evaluate(slots);
    return { steps, training, evaluation: profileSince(training, engine.profile()) };
  } finally {
    engine.close();
  }
}

function torchAdam(children: number): { ms: number; detail: string } | { error: string } {
  const shapes = createModel('convnet', [1, 28, 28], 10, 1).params.map((p) => p.shape);
  try {
    const out = execFileSync('python3', [path.join(packageRoot(), 'bench', 'gpu_adam_torch.py'), '--children', String(children), '--shapes', JSON.stringify(shapes)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
    const r = JSON.parse(out.trim().split('\n').pop()!) as { error?: string; flat_ms: number; list_ms: number; torch: string; tensors: number };
    if (r.error) return { error: r.error };
    return { ms: Math.min(r.flat_ms, r.list_ms), detail: `torch ${r.torch}: one flat tensor ${r.flat_ms.toFixed(3)} ms, ${r.tensors} tensors ${r.list_ms.toFixed(3)} ms` };
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    const why = (e.stderr ?? '').trim().split('\n').pop() || e.message.split('\n')[0];
    return { error: `python3 bench/gpu_adam_torch.py failed: ${why}` };
  }
}

/** The rewards of REWARD_RULES, and the kernels the evaluator tuned to (kernels: 'auto'; null when not tuned). */
async function rewards(device: EngineDevice, protocol: ProtocolConfig, dataPath: string | undefined, kernels?: 'auto') {
  const evaluator = EngineEvaluator.create({ device, protocol, data: { path: dataPath }, capacity: REWARD_RULES.length * protocol.lrs.length, kernels });
  const out: Record<string, EvalOutcome> = {};
  try {
    evaluator.submit(REWARD_RULES.map((rule) => ({ id: rule, rule, seed: 0 })));
    for (let i = 0; i < REWARD_RULES.length; i++) {
      const r = await evaluator.next();
      out[r.id] = r.outcome;
      say(`  rewards: ${r.id} ${r.outcome.status} ${r.outcome.reward.toFixed(4)} (best lr ${r.outcome.bestLr})`);
    }
    return { outcomes: out, tuning: evaluator.kernelTuning };
  } finally {
    await evaluator.close();
  }
}

/**
 * Rules per hour with the queue kept full: random rules of the paper-full space (as a search samples them) are
 * submitted whenever fewer than two slot-loads wait; the rate counts rules finished in the last two thirds of the
 * window (the first third fills the pipeline).
 */
async function rate(device: EngineDevice, protocol: ProtocolConfig, dataPath: string | undefined, seconds: number, capacity: number | undefined, kernels: 'auto' | undefined) {
  const strategy = createStrategy('random', loadSearchSpace('paper-full'), 1);
  const rounds: RoundReport[] = [];
  const evaluator = EngineEvaluator.create({ device, protocol, data: { path: dataPath }, capacity, kernels, onRound: (r) => { rounds.push(r); say(`  rate: round ${r.round}: ${r.children} children, ${r.seconds.toFixed(2)} s, ${r.rulesDone} rules done`); } });
  let submitted = 0;
  const feed = () => {
    const want = Math.ceil((2 * evaluator.capacity) / protocol.lrs.length);
    const jobs = strategy.propose(Math.max(0, want - evaluator.pending())).map((c) => ({ id: String(submitted++), rule: c.tokens.join(' '), seed: 0 }));
    if (jobs.length) evaluator.submit(jobs);
  };
  const started = Date.now();
  const finishedAt: number[] = [];
  const statuses: Record<string, number> = {};
  try {
    feed();
    while ((Date.now() - started) / 1000 < seconds) {
      const stop = new Promise<null>((resolve) => setTimeout(() => resolve(null), Math.max(0, started + seconds * 1000 - Date.now())));
      const r = await Promise.race([evaluator.next(), stop]);
      if (!r) break;
      finishedAt.push((Date.now() - started) / 1000);
      statuses[r.outcome.status] = (statuses[r.outcome.status] ?? 0) + 1;
      feed();
    }
  } finally {
    await evaluator.close();
  }
  const window = (2 * seconds) / 3;
  const late = finishedAt.filter((t) => t >= seconds / 3).length;
  const full = rounds.filter((r) => r.children >= 0.9 * r.capacity);
  const childEpochsPerSecond = full.length ? full.reduce((a, r) => a + r.children, 0) / full.reduce((a, r) => a + r.seconds, 0) : NaN;
  const childEpochsPerRule = protocol.lrs.length * protocol.sweepEpochs + protocol.finalEpochs;
  return {
    capacity: evaluator.capacity, device: evaluator.deviceName, seconds, finished: finishedAt.length, statuses, tuning: evaluator.kernelTuning,
    rulesPerHour: (late / window) * 3600,
    // From full rounds alone: child-epochs per second over what one rule needs (a rule whose sweep all diverges needs less).
    rulesPerHourFullRounds: (childEpochsPerSecond / childEpochsPerRule) * 3600,
    fullRounds: full.length, meanRoundSeconds: full.length ? full.reduce((a, r) => a + r.seconds, 0) / full.length : NaN,
  };
}

async function cpuReference(protocol: ProtocolConfig, dataPath: string | undefined, file: string): Promise<void> {
  const outcomes: Record<string, EvalOutcome> = {};
  const cpuSeconds: number[] = [];
  for (const rule of REWARD_RULES) {
    const before = process.cpuUsage();
    outcomes[rule] = await evaluateRule(rule, { ...protocol, threads: 1 }, { path: dataPath }, { seed: 0 });
    const used = process.cpuUsage(before);
    cpuSeconds.push((used.user + used.system) / 1e6);
    say(`  cpu reference: ${rule} ${outcomes[rule].status} ${outcomes[rule].reward.toFixed(4)}, ${cpuSeconds[cpuSeconds.length - 1].toFixed(1)} CPU s`);
  }
  const perRule = cpuSeconds.reduce((a, b) => a + b, 0) / cpuSeconds.length;
  const reference: Reference = {
    command: `node dist/bench/gpu-engine.js ${process.argv.slice(2).join(' ')}`, date: new Date().toISOString(), cpu: os.cpus()[0]?.model ?? 'unknown',
    protocolVersion: PROTOCOL_VERSION, protocol: protocol.name, outcomes, cpuSecondsPerRule: perRule, rulesPerHour2Core: (2 * 3600) / perRule,
  };
  fs.writeFileSync(file, `${JSON.stringify(reference, null, 2)}\n`);
  say(`wrote ${file}: ${perRule.toFixed(1)} CPU s per rule, ${reference.rulesPerHour2Core.toFixed(0)} rules/h on 2 cores`);
}

async function main(): Promise<void> {
  const device = (flag('device') ?? 'cuda') as EngineDevice;
  const dataPath = flag('data');
  const referenceFile = flag('reference') ?? path.join(packageRoot(), 'bench', 'gpu-reference.json');
  // Another protocol (quick, a file) for dry runs on the CPU twin; the reference is only compared for its own protocol.
  const protocol = flag('protocol') ? loadProtocol(flag('protocol')!) : PROTOCOLS.paper;
  if (process.argv.includes('--cpu-reference')) return cpuReference(protocol, dataPath, referenceFile);
  const skip = new Set((flag('skip') ?? '').split(',').filter(Boolean));
  const children = Number(flag('children') ?? (device === 'cuda' ? 1024 : 8));
  const rows: Array<[string, string, string]> = [];
  const figures: Record<string, unknown> = { device, date: new Date().toISOString() };
  const stored = fs.existsSync(referenceFile) ? (JSON.parse(fs.readFileSync(referenceFile, 'utf8')) as Reference) : null;
  const reference = stored && stored.protocol === protocol.name && stored.protocolVersion === PROTOCOL_VERSION ? stored : null;
  const guard = async (name: string, fn: () => Promise<void>) => {
    if (skip.has(name)) { rows.push([name, 'skipped', '--skip']); return; }
    try {
      await fn();
    } catch (err) {
      rows.push([name, 'FAILED', (err as Error).message.split('\n')[0].slice(0, 160)]);
      figures[`${name}Error`] = (err as Error).message;
    }
  };
  const bandwidth = device === 'cuda' ? copyBandwidth(device) : null;
  figures.copyGBps = bandwidth;
  if (bandwidth !== null) rows.push(['copy bandwidth', `${bandwidth.toFixed(0)} GB/s`, 'cuMemcpyDtoD of 1 GiB, bytes read + written (the ceiling)']);
  let adamSeconds: number | null = null;
  const measured: Measured = { update: {} };
  await guard('update', async () => {
    let tensorBytes = 0;
    const ofCopy = (gbps: number) => (bandwidth ? `${((100 * gbps) / bandwidth).toFixed(1)}% of copy` : `${gbps.toPrecision(3)} GB/s`);
    const best = new Map<string, UpdateLayout>();
    for (const rule of ['sgd', 'powersign', 'adam']) {
      const { timings, tensorBytes: t } = await updateTimings(device, rule, children, UPDATE_LAYOUTS);
      tensorBytes = t;
      const [first] = timings;
      if (rule === 'adam') adamSeconds = first.seconds;
      figures[`update_${rule}`] = { seconds: first.seconds, gbps: first.gbps, children, layouts: timings };
      rows.push([`update ${rule}`, `${first.gbps.toPrecision(3)} GB/s`, `${children} convnet children, ${(first.seconds * 1e3).toFixed(3)} ms per launch (${device === 'cuda' ? 'CUDA events' : 'host clock'})${bandwidth ? `, ${ofCopy(first.gbps)}` : ''}`]);
      const top = timings.reduce((a, b) => (b.gbps > a.gbps ? b : a));
      best.set(rule, UPDATE_LAYOUTS[timings.indexOf(top)]);
      if (bandwidth) measured.update[rule] = { layout: top.layout, percent: (100 * top.gbps) / bandwidth };
      rows.push(['  layouts', ofCopy(top.gbps), `best ${top.layout}; ${timings.slice(1).map((x) => `${x.layout} ${ofCopy(x.gbps)}`).join(', ')}`]);
    }
    if (bandwidth !== null) {
      const atSize = copyBandwidthAt(tensorBytes);
      figures.copyGBpsAtTensorSize = { bytes: tensorBytes, gbps: atSize };
      rows.push(['copy at tensor size', `${atSize.toFixed(0)} GB/s`, `cuMemcpyDtoD of ${(tensorBytes / 1e6).toFixed(0)} MB (one update array of ${children} children), back to back`]);
      // As STREAM compares its kernels: every update array as large as the copy's (1 GiB), the default layout and
      // the rule's best at the engine's size.
      const large = Math.ceil(2 ** 30 / tensorBytes * children);
      for (const rule of ['sgd', 'powersign', 'adam']) {
        const layouts = [DEFAULT_UPDATE_LAYOUT, ...(best.get(rule) === DEFAULT_UPDATE_LAYOUT ? [] : [best.get(rule)!])];
        const { timings } = await updateTimings(device, rule, large, layouts);
        figures[`update_${rule}_copySize`] = { children: large, layouts: timings };
        const top = timings.reduce((a, b) => (b.gbps > a.gbps ? b : a));
        const u = measured.update[rule];
        if (u) u.large = { layout: top.layout, percent: (100 * top.gbps) / bandwidth };
        rows.push([`update ${rule}, 1 GiB arrays`, ofCopy(timings[0].gbps), `${large} children, ${timings.map((x) => `${x.layout} ${(x.seconds * 1e3).toFixed(3)} ms ${ofCopy(x.gbps)}`).join('; ')}`]);
      }
    }
  });
  // The rate tunes its convolution kernels (kernels: 'auto', as NOS_ENGINE_KERNELS=auto does) once the tiled ones
  // have run here without a fault; else it keeps the direct ones.
  let tiledRan = false;
  let direct: { steps: number; training: KernelTimes } | undefined;
  await guard('profile', async () => {
    const { steps, training, evaluation } = await profile(device, protocol, dataPath, children, 'direct', true);
    figures.profile = { steps, training, evaluation };
    direct = { steps, training };
    // Per training step and per evaluation, by kernel and launch shape (the shape tells the layers apart).
    const section = (name: string, times: KernelTimes, per: number, what: string, top: number) => {
      const total = times.reduce((a, t) => a + t.seconds, 0);
      rows.push([name, `${((total / per) * 1e3).toFixed(1)} ms`, what]);
      for (const t of times.slice(0, top)) {
        rows.push([`  ${t.kernel}`, `${((100 * t.seconds) / total).toFixed(1)}%`, `${t.shape}: ${(t.launches / per).toFixed(t.launches % per ? 1 : 0)} per, ${((t.seconds / t.launches) * 1e3).toFixed(3)} ms each`]);
      }
    };
    section('profile: a training step', training, steps, `mean of ${steps} steps of ${children} ${protocol.model} children, each launch alone:`, 10);
    section('profile: an evaluation', evaluation, 1, `${protocol.validationExamples} held-out examples, ${children} children:`, 5);
  });
  await guard('torch', async () => {
    if (device !== 'cuda') { rows.push(['adam vs torch', 'skipped', 'PyTorch fused Adam needs the GPU']); return; }
    const t = torchAdam(children);
    if ('error' in t) throw new Error(t.error);
    figures.torchAdamMs = t.ms;
    const ours = (adamSeconds ?? NaN) * 1e3;
    measured.adamVsTorch = t.ms / ours;
    rows.push(['adam vs torch', `${(t.ms / ours).toFixed(2)}x`, `nos ${ours.toFixed(3)} ms vs torch fused ${t.ms.toFixed(3)} ms per step (${t.detail})`]);
  });
  await guard('rewards', async () => {
    // Through the evaluator's tuning (kernels: 'auto'), so the check runs it on the GPU too; not when test/gpu failed
    // the tiled kernels (gpu-check.sh then skips 'tiled').
    const { outcomes: mine, tuning } = await rewards(device, protocol, dataPath, skip.has('tiled') ? undefined : 'auto');
    figures.rewards = mine;
    figures.rewardsTuning = tuning;
    if (tuning) {
      rows.push(['tuned kernels', kernelsName(tuning.chosen), `conv/wgrad (by layer where they differ) the evaluator chose: ${tuning.timings.map((t) => `${kernelsName(t.kernels)} ${(t.seconds * 1e3).toFixed(0)} ms`).join(', ')} (${protocol.lrs.length * REWARD_RULES.length} slots)`]);
    }
    for (const rule of REWARD_RULES) {
      const ref = reference?.outcomes[rule];
      const diff = ref ? Math.abs(mine[rule].reward - ref.reward) * 100 : NaN;
      if (ref) (measured.rewardPoints ??= {})[rule] = diff;
      rows.push([`reward ${rule}`, mine[rule].reward.toFixed(4), ref ? `CPU path ${ref.reward.toFixed(4)}: ${diff.toFixed(2)} points apart (best lr ${mine[rule].bestLr} vs ${ref.bestLr})` : 'no reference file']);
    }
  });
  // The tiled convolution kernels (shared memory) against the direct ones, launch shape by launch shape (the same
  // grids and blocks), and what they do to a training step.  After the rewards: a kernel that faults can leave the
  // CUDA context unusable, and only the rate comes after it.
  await guard('tiled', async () => {
    if (protocol.model !== 'convnet' || !direct) { rows.push(['profile: tiled kernels', 'skipped', 'no convnet profile to compare with']); return; }
    const { steps, training } = direct;
    const tiled = (await profile(device, protocol, dataPath, children, 'tiled', false)).training;
    figures.profileTiled = tiled;
    const stepMs = (times: KernelTimes) => (times.reduce((a, t) => a + t.seconds, 0) / steps) * 1e3;
    rows.push(['profile: tiled kernels', `${(stepMs(tiled) / stepMs(training)).toFixed(2)}x`,
      `a training step ${stepMs(tiled).toFixed(1)} ms with the tiled convolutions vs ${stepMs(training).toFixed(1)} ms with the direct ones`]);
    const ms = (k: KernelTimes[number]) => (k.seconds / k.launches) * 1e3;
    for (const t of tiled.filter((k) => k.kernel.endsWith('_tiled'))) {
      const d = training.find((k) => k.kernel === t.kernel.replace(/_tiled$/, '') && k.shape === t.shape);
      rows.push([`  ${t.kernel}`, d ? `${(ms(t) / ms(d)).toFixed(2)}x` : 'n/a', `${t.shape}: ${ms(t).toFixed(3)} ms each vs ${d ? ms(d).toFixed(3) : '?'} ms direct`]);
    }
    tiledRan = true;
  });
  await guard('rate', async () => {
    const seconds = Number(flag('rate-seconds') ?? (device === 'cuda' ? 150 : 60));
    const r = await rate(device, protocol, dataPath, seconds, device === 'cuda' ? undefined : children, tiledRan ? 'auto' : undefined);
    figures.rate = r;
    const kernels = r.tuning ? `${describeKernels(r.tuning.chosen)} (tuned: ${r.tuning.timings.map((t) => `${kernelsName(t.kernels)} ${(t.seconds * 1e3).toFixed(0)} ms`).join(', ')})` : 'direct kernels';
    const cpu = reference?.rulesPerHour2Core;
    if (cpu) measured.rateTimesCpu = r.rulesPerHour / cpu;
    rows.push(['rules/hour', r.rulesPerHour.toFixed(0), `${r.finished} ${protocol.name}-protocol rules in ${seconds} s on ${r.capacity} slots (${JSON.stringify(r.statuses)})${cpu ? `; ${(r.rulesPerHour / cpu).toFixed(1)}x the 2-core CPU path's ${cpu.toFixed(0)}` : ''}; ${kernels}`]);
    rows.push(['rules/hour (full rounds)', r.rulesPerHourFullRounds.toFixed(0), `${r.fullRounds} rounds of >= 90% slots, ${r.meanRoundSeconds.toFixed(2)} s each${cpu ? `; ${(r.rulesPerHourFullRounds / cpu).toFixed(1)}x the CPU path` : ''}`]);
  });
  rows.push(...barRows(measured, REWARD_RULES.length));
  figures.bars = measured;
  const out = flag('json');
  if (out) fs.writeFileSync(out, `${JSON.stringify(figures, null, 2)}\n`);
  const width = Math.max(...rows.map((r) => r[0].length));
  process.stdout.write(`\nchild engine on ${device}, protocol ${protocol.name}${reference ? ` (CPU reference: ${reference.cpu}, ${reference.date.slice(0, 10)})` : ' (no CPU reference for this protocol)'}\n`);
  for (const [name, value, note] of rows) process.stdout.write(`  ${name.padEnd(width)}  ${value.padStart(10)}  ${note}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`gpu-engine: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
