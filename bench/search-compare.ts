// Search benchmark: rules evaluated per hour by the local pool with each protocol (against one worker and the
// paper's figure), and the study of PPO vs random search vs regularized evolution on the same budget over several
// seeds and spaces: mean reward per window of sampled rules (Figure 4, drawn as one SVG), best and top-10 mean.
// The searches of a study share one pool of workers and one result cache (bench/study/), and their folders are
// kept under --out: the same command again resumes an interrupted study or reuses a finished one.
import { execSync } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { KERNEL_ABI_VERSION } from '../src/compiler/kernel-abi';
import { compileRule } from '../src/compiler';
import { loadProtocol, PROTOCOL_VERSION, type ProtocolConfig } from '../src/runtime/child/protocol';
import type { Envelope, Job } from '../src/search/backend';
import { createLocalBackend } from '../src/search/pool-local';
import { checkDeterminism } from './study/check-determinism';
import { jobKey, readCacheFile } from './study/result-cache';
import { runStudy, type StudyDevice, type StudySearch } from './study/run-study';
import { renderStudyFigure, type StudyPanel } from './study/study-figure';
import { mean, meanSd, searchStats } from './study/study-stats';

const { values: args } = parseArgs({
  options: {
    workers: { type: 'string', default: String(os.availableParallelism()) },
    'quick-rules': { type: 'string', default: '16' },
    'paper-rules': { type: 'string', default: '2' },
    budget: { type: 'string', default: '60' },
    seeds: { type: 'string', default: '1,2,3' },
    // Repeatable: NAME or NAME:SEEDS (e.g. --space sign-family:1,2,3 --space paper-full:1).
    space: { type: 'string', multiple: true, default: ['sign-family'] },
    strategies: { type: 'string', default: 'ppo,random,evolution' },
    ppo: { type: 'string' }, // PPO settings (nos search --ppo), for the ppo searches
    random: { type: 'string' }, // random search's options as key=value pairs, e.g. freshDraws=20
    label: { type: 'string' }, // names a variant: PPO's folders are ppo-LABEL-seedN (random's too, with --random)
    // Where the study trains: cpu (the local pool), cuda (the child engine on the GPU), host (the engine's CPU twin).
    device: { type: 'string', default: 'cpu' },
    'in-flight': { type: 'string' }, // trainings each search keeps queued or running (default: 20 on the engine)
    // New searches' screening, as nos search takes it (default: hurdles and cache on, the search's default fidelity);
    // a study continued from folders made without them needs them off to stay one protocol.
    'no-hurdles': { type: 'boolean', default: false },
    'no-fec': { type: 'boolean', default: false },
    fidelity: { type: 'string' },
    'stop-after': { type: 'string' }, // seconds: then stop as Ctrl-C does, and still summarize what finished
    'progress-seconds': { type: 'string', default: '60' },
    data: { type: 'string' }, // the dataset folder (default: Fashion-MNIST where Debian puts it)
    out: { type: 'string' }, // kept: run the same command again to resume or reuse (default runs/search-compare[-DEVICE])
    cache: { type: 'string' }, // the study's result cache (default OUT/results-cache.jsonl)
    window: { type: 'string' }, // rules per window of the mean-reward curve (default budget / 10)
    top: { type: 'string', default: '10' },
    concurrent: { type: 'string' }, // searches running at once (default all)
    figure: { type: 'string' }, // where the SVG goes (default OUT/study.svg)
    protocol: { type: 'string', default: 'quick' }, // 'fake' tries the machinery in seconds
    'check-determinism': { type: 'string' }, // N: train N cached rules again and compare bit for bit
    skip: { type: 'string', default: '' }, // 'rate' and/or 'compare'
  },
});
const workers = Number(args.workers);
const skip = new Set(args.skip!.split(',').filter(Boolean));
const device = args.device as StudyDevice;
if (!['cpu', 'cuda', 'host'].includes(device)) usage(`--device must be cpu, cuda or host, got ${JSON.stringify(args.device)}`);
/**
 * Rules each search keeps in flight on the engine: four PPO batches, so the controller samples from a policy a few
 * batches behind its results, while 12 searches (240 rules, up to 1,680 sweep children) keep the GPU's ~1,000 child
 * slots busy; the same for every strategy, so all advance at the same pace (docs/search.md, "The study on the child engine").
 */
const ENGINE_IN_FLIGHT = 20;
const inFlight = args['in-flight'] !== undefined ? Number(args['in-flight']) : device === 'cpu' ? undefined : ENGINE_IN_FLIGHT;
if (inFlight !== undefined && !(Number.isInteger(inFlight) && inFlight >= 1)) usage(`--in-flight must be an integer >= 1, got ${args['in-flight']}`);
const stopAfter = args['stop-after'] !== undefined ? Number(args['stop-after']) : undefined;
if (stopAfter !== undefined && !(stopAfter > 0)) usage(`--stop-after must be a number of seconds > 0, got ${args['stop-after']}`);
if (device !== 'cpu' && args['check-determinism']) usage('--check-determinism retrains on the CPU pool; it does not apply with --device cuda or host');
const outRoot = path.resolve(args.out ?? (device === 'cpu' ? 'runs/search-compare' : `runs/search-compare-${device}`));

/** Bad input: one line naming it, exit 2. */
function usage(message: string): never {
  console.error(`search-compare: ${message}`);
  process.exit(2);
}

/**
 * A study folder trains on one device: its file study-device says which, and a study on another device refuses it
 * (the child engine's rewards differ from the CPU path's, and the CPU twin's are no GPU figures).
 */
function claimStudyFolder(out: string): void {
  const file = path.join(out, 'study-device');
  const before = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : null;
  const hasSearches = fs.existsSync(out) && fs.readdirSync(out).some((f) => fs.statSync(path.join(out, f)).isDirectory());
  const recorded = before ?? (hasSearches ? 'cpu' : null); // folders made before the file existed are CPU studies
  if (recorded !== null && recorded !== device) usage(`--out ${out}: holds a study on device ${recorded}; a --device ${device} study needs its own folder`);
  fs.mkdirSync(out, { recursive: true });
  if (before === null) fs.writeFileSync(file, `${device}\n`);
}

/** Distinct, well-known rules so every pass trains the same work. */
const RULES = ['sgd', 'adam', 'rmsprop', 'powersign', 'addsign', 'powersign-ld', 'addsign-ld', 'powersign-cd',
  'sign(g)', 'sign(m)', 'm', 'g*m', 'sign(g)*sign(m)*g', 'exp(sign(g)*sign(m))*m', 'g + sign(m)', 'm*v',
  'sign(g)*exp(m)', 'g*exp(sign(m))', 'clip(g, 1e-3)', 'sign(m)*sqrt(v)'];

function jobs(protocol: ProtocolConfig, count: number, tag: string): Job[] {
  return RULES.slice(0, count).map((name, i) => ({
    id: `${tag}:${i}`, rule: compileRule(name).canonical, protocol, data: {}, device: 'cpu', seed: 1,
    versions: { compiler: KERNEL_ABI_VERSION, protocol: PROTOCOL_VERSION },
  }));
}

const CLOCK_TICKS = Number(execSync('getconf CLK_TCK').toString().trim()) || 100;

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from the 3rd on
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime, stime (14th and 15th)
}

/** Trains the jobs on a pool of k workers; returns wall seconds, worker CPU seconds and the envelopes. */
async function timePool(list: Job[], k: number): Promise<{ seconds: number; cpu: number; envelopes: Envelope[] }> {
  const pool = createLocalBackend({ workers: k, limits: { timeoutMs: 3_600_000, maxRssMb: 4096 } });
  try {
    const started = process.hrtime.bigint();
    await pool.submit(list);
    const envelopes: Envelope[] = [];
    while (pool.pending() > 0) envelopes.push(await pool.next());
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = pool.pids().reduce((a, pid) => a + cpuSeconds(pid), 0); // includes each worker's start-up
    const bad = envelopes.filter((e) => e.status !== 'ok' && e.status !== 'diverged');
    if (bad.length) throw new Error(`benchmark jobs failed: ${bad.map((e) => `${e.jobId} ${e.status} ${e.error}`).join('; ')}`);
    return { seconds, cpu, envelopes };
  } finally {
    await pool.close();
  }
}

async function measureRates(): Promise<void> {
  const threadsEach = Math.max(1, Math.floor(os.availableParallelism() / workers));
  console.log(`## rules evaluated per hour (${workers} workers, ${threadsEach} thread(s) each, load average ${os.loadavg()[0].toFixed(1)} at start)`);
  const quick = { ...loadProtocol('quick'), threads: threadsEach };
  const n = Number(args['quick-rules']);
  await timePool(jobs(quick, n, 'warm'), workers); // compiles every kernel once (disk cache), loads the data
  const single = await timePool(jobs(quick, n, 'one'), 1);
  const pool = await timePool(jobs(quick, n, 'pool'), workers);
  const perHour = (count: number, s: number) => (3600 * count) / s;
  const singleRate = perHour(n, single.seconds);
  const poolRate = perHour(n, pool.seconds);
  // The hardware limit: every core busy with training, at the CPU time per rule measured on the pool's workers.
  const cpuPerRule = pool.cpu / n;
  const cores = os.availableParallelism();
  const limit = perHour(cores, cpuPerRule);
  console.log(`quick: ${n} rules; 1 worker ${single.seconds.toFixed(1)} s = ${singleRate.toFixed(0)} rules/h; ` +
    `${workers} workers ${pool.seconds.toFixed(1)} s = ${poolRate.toFixed(0)} rules/h; ` +
    `pool / (${workers} x one worker) = ${(poolRate / (workers * singleRate)).toFixed(2)}; ` +
    `${cpuPerRule.toFixed(2)} CPU s per rule, so ${cores} idle cores would give ${limit.toFixed(0)} rules/h: pool / limit = ${(poolRate / limit).toFixed(2)}`);
  const pn = Number(args['paper-rules']);
  if (pn > 0) {
    const paper = { ...loadProtocol('paper'), threads: threadsEach };
    const run = await timePool(jobs(paper, pn, 'paper'), workers);
    const paperRate = perHour(pn, run.seconds);
    const perRule = run.envelopes.reduce((a, e) => a + e.timings.runMs, 0) / run.envelopes.length / 1000;
    const paperLimit = perHour(os.availableParallelism(), run.cpu / pn);
    console.log(`paper: ${pn} rules on ${workers} workers ${run.seconds.toFixed(1)} s = ${paperRate.toFixed(1)} rules/h ` +
      `(${perRule.toFixed(0)} s per rule per worker, ${(run.cpu / pn).toFixed(0)} CPU s per rule: idle-core limit ${paperLimit.toFixed(1)} rules/h, ` +
      `pool / limit = ${(paperRate / paperLimit).toFixed(2)}); quick / paper = ${(poolRate / paperRate).toFixed(1)}x; ` +
      `per worker vs the paper's "under 10 minutes" per child (6 rules/h): ${(3600 / perRule / 6).toFixed(1)}x`);
  }
}

/** `sign-family:1,2,3` -> the space and its seeds (the --seeds default when none are given). */
function parseSpaceSeeds(item: string, defaultSeeds: number[]): { space: string; seeds: number[] } {
  const colon = item.lastIndexOf(':');
  if (colon < 0) return { space: item, seeds: defaultSeeds };
  return { space: item.slice(0, colon), seeds: item.slice(colon + 1).split(',').map(Number) };
}

const COLORS: Record<string, string> = { ppo: '#1f77b4', random: '#7f7f7f', evolution: '#ff7f0e' };
const EXTRA_COLORS = ['#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#d62728'];

/** A strategy's colour, also for its one variant (`ppo-lr3e-4`); several variants of one strategy get colours of their own. */
function seriesColor(group: string, groups: string[], index: number): string {
  const strategy = group.split('-')[0];
  const alone = groups.filter((o) => o.split('-')[0] === strategy).length === 1;
  return COLORS[group] ?? (alone ? COLORS[strategy] : undefined) ?? EXTRA_COLORS[index % EXTRA_COLORS.length];
}

/** key=value pairs separated by commas, numbers as numbers (the strategy checks the names and ranges). */
function parseOptions(text: string, flag: string): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  for (const item of text.split(',')) {
    const [key, value, extra] = item.split('=').map((x) => x.trim());
    if (!key || value === undefined || extra !== undefined) usage(`${flag}: expected key=value pairs separated by commas, got ${JSON.stringify(item)}`);
    options[key] = Number.isFinite(Number(value)) && value !== '' ? Number(value) : value;
  }
  return options;
}

async function compareStrategies(): Promise<void> {
  const budget = Number(args.budget);
  const window = Number(args.window ?? Math.max(1, Math.floor(budget / 10)));
  const top = Number(args.top);
  const seeds = args.seeds!.split(',').map(Number);
  const strategies = args.strategies!.split(',') as StudySearch['strategy'][];
  const label = args.label ?? '';
  const randomOptions = args.random === undefined ? undefined : parseOptions(args.random, '--random');
  const out = outRoot;
  claimStudyFolder(out);
  const plan = (args.space as string[]).map((item) => parseSpaceSeeds(item, seeds));
  const searches: StudySearch[] = [];
  for (const { space, seeds: spaceSeeds } of plan) {
    for (const seed of spaceSeeds) {
      for (const strategy of strategies) {
        const variant = strategy === 'ppo' || (strategy === 'random' && randomOptions) ? label : '';
        const name = `${strategy}${variant ? `-${variant}` : ''}-seed${seed}`;
        searches.push({ space, strategy, seed, label: variant, ppo: strategy === 'ppo' ? args.ppo : undefined,
          options: strategy === 'random' ? randomOptions : undefined, outDir: path.join(out, space, name) });
      }
    }
  }
  const where = device === 'cpu' ? `${workers} CPU workers` : `the child engine on ${device === 'cuda' ? 'the GPU' : 'its CPU twin'}, ${inFlight} rules in flight per search`;
  console.log(`\n## strategies on the same budget: ${budget} rules per search, ${args.protocol} protocol, ${plan.map((p) => `${p.space} seeds ${p.seeds.join(',')}`).join('; ')}` +
    `${args.ppo ? `, PPO settings ${args.ppo}` : ''}${args.random ? `, random search ${args.random}` : ''}; ${where} (load average ${os.loadavg()[0].toFixed(1)} at start)`);
  const abort = new AbortController();
  setMaxListeners(4 * searches.length + 10, abort.signal); // each search's loop listens to it
  const stop = (why: string) => {
    if (abort.signal.aborted) return;
    console.log(`\nstopping (${why}): every finished result is recorded; run the same command again to continue`);
    abort.abort();
  };
  process.once('SIGINT', () => stop('interrupted'));
  const timer = stopAfter !== undefined ? setTimeout(() => stop(`--stop-after ${stopAfter} s`), stopAfter * 1000) : null;
  timer?.unref();
  const started = Date.now();
  const stats = await runStudy(searches, {
    budget, workers, cacheFile: args.cache ? path.resolve(args.cache) : path.join(out, 'results-cache.jsonl'), protocol: args.protocol!,
    device, inFlight, data: args.data, progressEvery: Number(args['progress-seconds']),
    screen: { hurdles: !args['no-hurdles'], fec: !args['no-fec'], fidelity: args.fidelity },
    concurrent: Number(args.concurrent ?? searches.length), signal: abort.signal, log: (line) => console.log(line),
  });
  if (timer) clearTimeout(timer);
  console.log(`\n${searches.length} searches ${abort.signal.aborted ? 'stopped' : 'done'} after ${((Date.now() - started) / 60000).toFixed(1)} min: ${stats.trained} trainings ` +
    `(${(stats.trainMs / 3.6e6).toFixed(2)} ${device === 'cpu' ? 'worker' : 'rule'}-hours), ${stats.fromCache} results from the study cache, ${stats.joined} joined a training in flight`);
  summarize(searches.filter((s) => fs.existsSync(path.join(s.outDir, 'ledger.jsonl'))), plan, { budget, window, top, out, partial: abort.signal.aborted });
}

/** The study's tables, summary.json and figure, from the search folders (partial: the study was stopped before the end). */
function summarize(searches: StudySearch[], plan: Array<{ space: string }>, o: { budget: number; window: number; top: number; out: string; partial: boolean }): void {
  const { budget, window, top, out } = o;
  if (o.partial) console.log(`\n(stopped: the figures below are of the rules recorded so far; the searches resume where they stopped)`);
  const panels: StudyPanel[] = [];
  const summary: Record<string, unknown>[] = [];
  for (const { space } of plan) {
    const mine = searches.filter((s) => s.space === space);
    if (mine.length === 0) continue;
    const groups = [...new Set(mine.map((s) => (s.label ? `${s.strategy}-${s.label}` : s.strategy)))];
    console.log(`\n### ${space}: mean reward per window of ${window} rules (failures count 0), best and top-${top} mean of distinct rules\n`);
    console.log(`| strategy | seeds | window means (mean over seeds) | last - first window, per seed | best (mean ± sd) | top-${top} mean (mean ± sd) | distinct rules | failed rules |`);
    console.log('| --- | ---: | --- | --- | ---: | ---: | ---: | ---: |');
    const series: StudyPanel['series'] = [];
    groups.forEach((group, g) => {
      const runs = mine.filter((s) => (s.label ? `${s.strategy}-${s.label}` : s.strategy) === group).map((s) => ({ s, st: searchStats(s.outDir, window, top) }));
      const windows = runs.map((r) => r.st.windows);
      const n = Math.min(...windows.map((w) => w.length));
      const meanWindows = Array.from({ length: n }, (_, w) => mean(windows.map((ws) => ws[w])));
      const rises = windows.map((ws) => (ws.length >= 2 ? ws[ws.length - 1] - ws[0] : NaN));
      console.log(`| ${group} | ${runs.map((r) => r.s.seed).join(',')} | ${meanWindows.map((x) => x.toFixed(3)).join(' ')} | ${rises.map((x) => (x >= 0 ? '+' : '') + x.toFixed(3)).join(', ')} | ` +
        `${meanSd(runs.map((r) => r.st.best))} | ${meanSd(runs.map((r) => r.st.topMean))} | ${mean(runs.map((r) => r.st.distinct)).toFixed(0)} | ${mean(runs.map((r) => r.st.failed)).toFixed(0)} |`);
      series.push({ label: group, color: seriesColor(group, groups, g), runs: windows.map((w) => w.slice(0, n)) });
      for (const r of runs) summary.push({ space, strategy: group, seed: r.s.seed, ...r.st });
    });
    const seedCount = new Set(mine.map((s) => s.seed)).size;
    panels.push({ title: `${space} (${seedCount} seed${seedCount > 1 ? 's' : ''})`, window, series });
  }
  fs.writeFileSync(path.join(out, 'summary.json'), JSON.stringify(summary, null, 1) + '\n');
  const figure = args.figure ? path.resolve(args.figure) : path.join(out, 'study.svg');
  fs.mkdirSync(path.dirname(figure), { recursive: true });
  const engine = device === 'cpu' ? '' : device === 'cuda' ? ', GPU child engine' : ', CPU twin of the child engine';
  fs.writeFileSync(figure, renderStudyFigure(panels, `Mean reward per ${window} sampled rules (the paper's Figure 4), ${o.partial ? 'up to ' : ''}${budget} rules per search, ${args.protocol} protocol${engine}`));
  const shown = (p: string) => (path.relative(process.cwd(), p).startsWith('..') ? p : path.relative(process.cwd(), p) || '.');
  console.log(`\n(search folders, summary.json and the figure ${shown(figure)} in ${shown(out)})`);
}

/**
 * Trains N rules of the study's cache again on a fresh pool and compares the results bit for bit. Each job is
 * rebuilt from its rule and seed as the study builds it, and used only when its key matches the cached one.
 */
async function checkCachedRewards(count: number): Promise<void> {
  const { entries } = readCacheFile(args.cache ? path.resolve(args.cache) : path.join(outRoot, 'results-cache.jsonl'));
  const quick = { ...loadProtocol(args.protocol!), threads: Math.max(1, Math.floor(os.availableParallelism() / workers)) };
  // The entries this build would train the same way (same key: entries of other kernel or protocol versions are
  // left out), then every k-th of them, so the sample spans the study (ok and diverged rules, every seed).
  const same = entries.flatMap((entry) => {
    const job: Job = { id: `check:${entry.key}`, rule: entry.rule, protocol: quick, data: {}, device: 'cpu', seed: entry.seed,
      versions: { compiler: KERNEL_ABI_VERSION, protocol: PROTOCOL_VERSION } };
    return jobKey(job) === entry.key ? [{ job, entry }] : [];
  });
  const step = Math.max(1, Math.floor(same.length / count));
  const picked = same.filter((_, i) => i % step === 0).slice(0, count);
  console.log(`\n## determinism: ${picked.length} cached trainings (of ${same.length} of this build's versions, ${entries.length} in all) trained again on a fresh pool of ${workers} workers`);
  const checks = await checkDeterminism(picked, workers);
  for (const c of checks) {
    console.log(`${c.same ? 'same' : 'DIFFERENT'}  seed ${c.seed}  ${c.before.status} ${c.before.reward?.toFixed(4)} at lr ${c.before.bestLr} -> ${c.after.status} ${c.after.reward?.toFixed(4)} at lr ${c.after.bestLr}  ${c.rule}`);
  }
  console.log(`${checks.filter((c) => c.same).length} of ${checks.length} identical (status, reward, best learning rate and every sweep entry)`);
}

async function main(): Promise<void> {
  if (!skip.has('rate')) {
    if (device === 'cpu') await measureRates();
    else console.log('(rules per hour on the child engine: bench/gpu-engine.ts; --device skips the CPU pool\'s rate)');
  }
  if (args['check-determinism']) await checkCachedRewards(Number(args['check-determinism']));
  if (!skip.has('compare')) await compareStrategies();
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
