// Tunes the controller on a cheap stand-in reward (bench/study/proxy-reward.ts): PPO settings against random search
// and evolution, mean reward per window of samples and the top-10 mean of distinct rules, in minutes instead of
// hours. It ranks settings for the real study (bench/search-compare.ts); its rewards are not search results.
//
// Run: npx tsc -p . && node dist/bench/controller-tuning.js --space sign-family --rules 1000 --seeds 1,2,3 \
//        --variant default --variant paper --variant lr1e-3=learningRate=1e-3
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { createStrategy, loadSearchSpace, parsePpoSettings, type StrategyKind } from '../src/controller/strategy';
import { identifyWithCompiler } from '../src/search/rule-identity';
import { loadProxyData, proxyReward } from './study/proxy-reward';
import { mean, meanSd } from './study/study-stats';

const { values: args } = parseArgs({
  options: {
    space: { type: 'string', default: 'sign-family' },
    rules: { type: 'string', default: '1000' },
    seeds: { type: 'string', default: '1,2,3' },
    window: { type: 'string', default: '100' },
    // NAME=SETTINGS (settings as `nos search --ppo`), or a preset name alone; repeatable.
    variant: { type: 'string', multiple: true, default: ['default'] },
    baselines: { type: 'string', default: 'random,evolution' },
    cache: { type: 'string', default: 'runs/controller-tuning/proxy-cache.jsonl' },
  },
});

const rules = Number(args.rules);
const window = Number(args.window);
const seeds = args.seeds!.split(',').map(Number);
const space = loadSearchSpace(args.space!);

/** Proxy rewards by canonical rule and seed, kept across runs in a JSONL file. */
const cacheFile = path.resolve(args.cache!);
fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
const cache = new Map<string, number>();
if (fs.existsSync(cacheFile)) {
  for (const line of fs.readFileSync(cacheFile, 'utf8').split('\n')) {
    try { const e = JSON.parse(line) as { key: string; reward: number }; cache.set(e.key, e.reward); } catch { /* a torn last line */ }
  }
}
const data = loadProxyData();
let trained = 0;

function rewardOf(tokens: string[], seed: number): { rule: string | null; reward: number } {
  let rule: string;
  try { rule = identifyWithCompiler(tokens).canonical; } catch { return { rule: null, reward: 0 }; }
  const key = `${seed}\u0000${rule}`;
  let reward = cache.get(key);
  if (reward === undefined) {
    try { reward = proxyReward(rule, seed, data); } catch { reward = 0; }
    trained++;
    cache.set(key, reward);
    fs.appendFileSync(cacheFile, JSON.stringify({ key, reward }) + '\n');
  }
  return { rule, reward };
}

interface RunResult { windows: number[]; topMean: number; best: number; distinct: number }

function runOne(kind: StrategyKind, options: object, seed: number): RunResult {
  const strategy = createStrategy(kind, space, seed, options);
  const rewards: number[] = [];
  const bestByRule = new Map<string, number>();
  while (rewards.length < rules) {
    const batch = strategy.propose(Math.min(5, rules - rewards.length));
    const results = batch.map((candidate) => ({ candidate, ...rewardOf(candidate.tokens, seed) }));
    for (const r of results) {
      rewards.push(r.reward);
      if (r.rule !== null) bestByRule.set(r.rule, r.reward);
    }
    strategy.feedback(results.map((r) => ({ candidate: r.candidate, reward: r.reward })));
  }
  const windows: number[] = [];
  for (let s = 0; s + window <= rewards.length; s += window) windows.push(mean(rewards.slice(s, s + window)));
  const top = [...bestByRule.values()].sort((a, b) => b - a).slice(0, 10);
  return { windows, topMean: mean(top), best: top[0] ?? 0, distinct: bestByRule.size };
}

const variants: Array<{ name: string; kind: StrategyKind; options: object }> = [
  ...args.baselines!.split(',').filter(Boolean).map((k) => ({ name: k, kind: k as StrategyKind, options: {} })),
  ...(args.variant as string[]).map((v) => {
    const eq = v.indexOf('=');
    const [name, text] = eq < 0 ? [v, v] : [v.slice(0, eq), v.slice(eq + 1)];
    return { name: `ppo ${name}`, kind: 'ppo' as StrategyKind, options: parsePpoSettings(text, `--variant ${v}`) };
  }),
];

console.log(`## controller tuning on the proxy reward: space ${space.name}, ${rules} samples, seeds ${seeds.join(',')}, windows of ${window}`);
console.log(`\n| strategy | window means (mean over seeds) | last - first, per seed | best (mean ± sd) | top-10 mean (mean ± sd) | distinct | seconds |`);
console.log('| --- | --- | --- | ---: | ---: | ---: | ---: |');
for (const v of variants) {
  const started = Date.now();
  const runs = seeds.map((seed) => runOne(v.kind, v.options, seed));
  const n = Math.min(...runs.map((r) => r.windows.length));
  const means = Array.from({ length: n }, (_, w) => mean(runs.map((r) => r.windows[w])));
  const rises = runs.map((r) => r.windows[r.windows.length - 1] - r.windows[0]);
  console.log(`| ${v.name} | ${means.map((x) => x.toFixed(3)).join(' ')} | ${rises.map((x) => (x >= 0 ? '+' : '') + x.toFixed(3)).join(', ')} | ` +
    `${meanSd(runs.map((r) => r.best))} | ${meanSd(runs.map((r) => r.topMean))} | ${mean(runs.map((r) => r.distinct)).toFixed(0)} | ${((Date.now() - started) / 1000).toFixed(0)} |`);
}
console.log(`\n(${trained} proxy trainings in this run; ${cache.size} in ${path.relative(process.cwd(), cacheFile)})`);
