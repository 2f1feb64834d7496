// What the hurdles and the equivalence cache cost and catch, against a quick-protocol evaluation in the same run:
// CPU per rule of the static check, the fingerprint and the descent probe (in the search's process), over the fixed
// list of sampled paper-full rules, and the CPU of evaluating a few rules under the quick protocol.
//
//   node dist/bench/search-hurdles.js [--rules 300] [--evals 6]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { compileRule, decodeTokens, printInfix } from '../src/compiler';
import { evaluateRule, loadProtocol } from '../src/runtime/child/protocol';
import { EquivalenceCache, fingerprint } from '../src/search/fingerprint';
import { dependsOnGradient, descentProbe } from '../src/search/hurdles';

const { values: args } = parseArgs({ options: { rules: { type: 'string', default: '300' }, evals: { type: 'string', default: '6' } } });
const ROOT = path.resolve(__dirname, path.basename(path.dirname(__dirname)) === 'dist' ? '../..' : '..');
const list = (JSON.parse(fs.readFileSync(path.join(ROOT, 'bench', 'fixtures', 'paper-full-rules.json'), 'utf8')) as { tokens: string[][] }).tokens;

function cpuMs<T>(fn: () => T): { value: T; ms: number } {
  const start = process.cpuUsage();
  const value = fn();
  const used = process.cpuUsage(start);
  return { value, ms: (used.user + used.system) / 1000 };
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

async function main(): Promise<void> {
  const quick = loadProtocol('quick');
  console.log(`hurdles and equivalence cache: ${os.availableParallelism()} CPUs, load average at start ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  // Warm-up: JIT of the kernels' code paths, the data and onnxruntime sessions of the quick protocol.
  descentProbe(compileRule('adam'), quick.lrs);
  await evaluateRule('sgd', quick, {}, { seed: 1 });
  const evalRules = ['adam', 'powersign', 'sign(m)', 'g*exp(m)', 'addsign-ld', 'rmsprop'].slice(0, Number(args.evals));
  const evalMs: number[] = [];
  for (const rule of evalRules) {
    const outcome = await evaluateRule(rule, quick, {}, { seed: 1 });
    evalMs.push(outcome.cpuSeconds! * 1000);
  }
  const cache = new EquivalenceCache<string>();
  const counts = { noGradient: 0, equivalent: 0, noDescent: 0, train: 0 };
  const staticMs: number[] = [], fingerprintMs: number[] = [], probeMs: number[] = [], failedProbeMs: number[] = [], totalMs: number[] = [];
  for (const tokens of list.slice(0, Number(args.rules))) {
    const compiled = cpuMs(() => compileRule(printInfix(decodeTokens(tokens))));
    const info = compiled.value;
    const gradient = cpuMs(() => dependsOnGradient(info.root));
    staticMs.push(compiled.ms + gradient.ms);
    let total = compiled.ms + gradient.ms;
    if (!gradient.value) { counts.noGradient++; totalMs.push(total); continue; }
    const print = cpuMs(() => fingerprint(info));
    fingerprintMs.push(print.ms);
    total += print.ms;
    if (cache.find(print.value) !== undefined) { counts.equivalent++; totalMs.push(total); continue; }
    cache.add(print.value, info.canonical);
    const probe = cpuMs(() => descentProbe(info, quick.lrs));
    probeMs.push(probe.ms);
    total += probe.ms;
    totalMs.push(total);
    if (probe.value.passed) counts.train++;
    else { counts.noDescent++; failedProbeMs.push(probe.ms); }
  }
  const n = totalMs.length;
  const evalMean = mean(evalMs);
  console.log(`\nquick-protocol evaluation: ${evalRules.length} rules, ${evalMean.toFixed(0)} CPU ms each on average (${evalMs.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`${n} sampled paper-full rules: refused for no gradient ${counts.noGradient} (${(100 * counts.noGradient / n).toFixed(1)}%), ` +
    `equivalent to an earlier one ${counts.equivalent} (${(100 * counts.equivalent / n).toFixed(1)}%), ` +
    `refused by the descent probe ${counts.noDescent} (${(100 * counts.noDescent / n).toFixed(1)}%), to train ${counts.train} (${(100 * counts.train / n).toFixed(1)}%)`);
  console.log('\n| step | rules | mean CPU ms | p90 | max | mean / quick evaluation | max / quick evaluation |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  const row = (name: string, xs: number[]) => console.log(`| ${name} | ${xs.length} | ${mean(xs).toFixed(2)} | ${quantile(xs, 0.9).toFixed(2)} | ${Math.max(...xs).toFixed(2)} | ${(100 * mean(xs) / evalMean).toFixed(3)}% | ${(100 * Math.max(...xs) / evalMean).toFixed(3)}% |`);
  row('compile + static hurdle', staticMs);
  row('fingerprint', fingerprintMs);
  row('descent probe (all)', probeMs);
  row('descent probe (refused rules)', failedProbeMs);
  row('everything, per sampled rule', totalMs);
  console.log(`\nload average at end ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
