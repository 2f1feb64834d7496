// Cost and quality of a search on one fixed list of sampled rules: everything off (every rule trained at full
// fidelity) against hurdles + functional-equivalence cache + a fidelity; CPU seconds per sampled rule, the top rules.
//
//   node dist/bench/search-cost-quality.js generate [--count 300] [--seed 1] [--space paper-full]
//   node dist/bench/search-cost-quality.js run --protocol quick|paper --rules N --mode off|on [--fidelity F] --out DIR [--resume]
//   node dist/bench/search-cost-quality.js compare OFF_DIR ON_DIR [--top 10]
//
// `run` is a real search (runSearch, local workers) whose strategy proposes the fixed list in order, so both sides
// see the same rules in the same order; it can be stopped and continued with --resume (the ledger keeps every result).
import { execSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { Candidate, Strategy } from '../src/controller/strategy';
import { buildReport, type SearchReport } from '../src/search/report';
import { buildSearchConfig } from '../src/search/search-inputs';
import { readLedger, LEDGER_FILE } from '../src/search/ledger';
import { runSearch } from '../src/search/search-loop';

/** The repository root, from dist/bench (compiled) or bench (tsx). */
const ROOT = path.resolve(__dirname, path.basename(path.dirname(__dirname)) === 'dist' ? '../..' : '..');
const LIST_FILE = path.join(ROOT, 'bench', 'fixtures', 'paper-full-rules.json');
const SESSIONS_FILE = 'bench-sessions.jsonl';

interface RuleList { space: string; strategy: string; seed: number; tokens: string[][] }

/** Proposes the list in order; learns nothing (both sides of the study must see the same rules). */
class FixedListStrategy implements Strategy {
  readonly kind = 'random' as const;
  readonly batchSize = 5;
  private next = 0;
  constructor(private readonly list: string[][]) {}
  propose(count: number): Candidate[] {
    if (this.next + count > this.list.length) throw new Error(`the fixed list holds ${this.list.length} rules; asked for ${this.next + count}`);
    const out = this.list.slice(this.next, this.next + count).map((tokens) => ({ tokens, meta: { strategy: 'fixed-list' } }));
    this.next += count;
    return out;
  }
  feedback(): void { /* a fixed list */ }
  saveState(): unknown { return { next: this.next }; }
  loadState(state: unknown): void { this.next = (state as { next: number }).next; }
}

function generate(count: number, seed: number, space: string): void {
  const { createStrategy, loadSearchSpace } = require('../src/controller/strategy') as typeof import('../src/controller/strategy');
  const strategy = createStrategy('random', loadSearchSpace(space), seed);
  const list: RuleList = { space, strategy: 'random', seed, tokens: strategy.propose(count).map((c) => c.tokens) };
  fs.mkdirSync(path.dirname(LIST_FILE), { recursive: true });
  fs.writeFileSync(LIST_FILE, JSON.stringify(list, null, 0).replace(/\],\[/g, '],\n[') + '\n');
  console.log(`wrote ${count} rules sampled by random search (seed ${seed}) from ${space} to ${LIST_FILE}`);
}

const CLOCK_TICKS = Number(execSync('getconf CLK_TCK').toString().trim()) || 100;

/** CPU seconds of this process's reaped children (cutime + cstime): the worker processes once they have exited. */
function childrenCpuSeconds(): number {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS;
}

async function run(options: { protocol: string; rules: number; mode: string; fidelity?: string; out: string; resume: boolean; workers: number }): Promise<void> {
  const list = JSON.parse(fs.readFileSync(LIST_FILE, 'utf8')) as RuleList;
  const deps = { makeStrategy: () => new FixedListStrategy(list.tokens) };
  const cpuStart = process.cpuUsage();
  const childrenStart = childrenCpuSeconds();
  const started = Date.now();
  let summary;
  if (options.resume) {
    summary = await runSearch({ outDir: options.out, resume: true, deps });
  } else {
    const config = buildSearchConfig({
      budget: options.rules, batchSize: 5, workers: options.workers, strategy: 'random', space: list.space,
      protocol: options.protocol, device: 'cpu', seed: 1,
    });
    const settings = options.mode === 'off' ? { hurdles: false, fec: false, fidelity: 'full' } : { fidelity: options.fidelity };
    summary = await runSearch({ outDir: options.out, config: { ...config, ...settings } as typeof config, deps });
  }
  const used = process.cpuUsage(cpuStart);
  const session = {
    mode: options.mode, protocol: options.protocol, started: new Date(started).toISOString(), wallSeconds: (Date.now() - started) / 1000,
    searchCpuSeconds: (used.user + used.system) / 1e6, workersCpuSeconds: childrenCpuSeconds() - childrenStart,
    results: summary.results, stopped: summary.stopped, loadAverage: os.loadavg()[0],
  };
  fs.appendFileSync(path.join(options.out, SESSIONS_FILE), JSON.stringify(session) + '\n');
  console.log(JSON.stringify(session));
}

interface Side { dir: string; report: SearchReport; sampled: number; cpu: number; searchCpu: number; jobCpu: number; sessions: number }

function side(dir: string): Side {
  const report = buildReport(dir);
  const sessions = fs.readFileSync(path.join(dir, SESSIONS_FILE), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { searchCpuSeconds: number; workersCpuSeconds: number });
  const cpu = sessions.reduce((a, s) => a + s.searchCpuSeconds + s.workersCpuSeconds, 0);
  const searchCpu = sessions.reduce((a, s) => a + s.searchCpuSeconds, 0);
  let jobCpu = 0;
  for (const r of readLedger(path.join(dir, LEDGER_FILE)).records) {
    // Each training once: results not reused, and the funnel's promoted screens (their full run is the result).
    if ((r.type === 'result' && r.reusedFrom === undefined) || r.type === 'screen') jobCpu += r.envelope.outcome?.cpuSeconds ?? 0;
  }
  return { dir, report, sampled: report.finished, cpu, searchCpu, jobCpu, sessions: sessions.length };
}

/** The on-run's view of each rule: the rule it was judged as (its equivalent), its status, reward and fidelity. */
function judged(report: SearchReport): Map<string, { as: string; status: string; reward: number; fidelity: string | null }> {
  const out = new Map<string, { as: string; status: string; reward: number; fidelity: string | null }>();
  for (const row of report.rows) {
    if (row.rule !== null && !out.has(row.rule)) out.set(row.rule, { as: row.equivalentTo ?? row.rule, status: row.status, reward: row.reward, fidelity: row.fidelity });
  }
  return out;
}

function compare(offDir: string, onDir: string, top: number): void {
  const off = side(offDir);
  const on = side(onDir);
  for (const s of [off, on]) {
    if (s.report.finished !== s.report.proposed || s.report.state !== 'finished') throw new Error(`${s.dir}: the search has not finished (${s.report.finished} of ${s.report.proposed})`);
  }
  const perRule = (s: Side) => s.cpu / s.sampled;
  const onView = judged(on.report);
  const onTop = new Set(on.report.leaderboard.slice(0, top).map((e) => e.rule));
  // A rule of the everything-off top counts as found when it, or the equivalent rule it was judged as, is in the other top.
  const offTop = off.report.leaderboard.slice(0, top);
  const found = offTop.filter((e) => onTop.has(onView.get(e.rule)?.as ?? e.rule));
  console.log(`sampled rules: off ${off.sampled}, on ${on.sampled} (${on.report.config?.fidelity ?? 'full'} fidelity, hurdles ${on.report.config?.hurdles ? 'on' : 'off'}, equivalence cache ${on.report.config?.fec ? 'on' : 'off'})`);
  console.log(`CPU seconds per sampled rule (search process + workers): off ${perRule(off).toFixed(2)}, on ${perRule(on).toFixed(2)}: off / on = ${(perRule(off) / perRule(on)).toFixed(2)}x`);
  // A session killed before it wrote its record (a search interrupted and resumed) leaves its CPU out of the first
  // figure; the ledger keeps every evaluation's own CPU, so this one counts every rule (the hurdles are in the search process).
  const ledgerPerRule = (s: Side) => (s.jobCpu + s.searchCpu) / s.sampled;
  console.log(`  training CPU (the ledger's, every rule) + search process CPU (sessions), per rule: off ${ledgerPerRule(off).toFixed(2)}, on ${ledgerPerRule(on).toFixed(2)}: off / on = ${(ledgerPerRule(off) / ledgerPerRule(on)).toFixed(2)}x (sessions: off ${off.sessions}, on ${on.sessions})`);
  console.log(`top ${top} of the everything-off run found in the top ${top} of the other: ${found.length} of ${offTop.length}` +
    (found.length < offTop.length ? ` (missing: ${offTop.filter((e) => !found.includes(e)).map((e) => `${e.rule} ${e.reward.toFixed(4)}: ${onView.get(e.rule)?.status ?? '?'}${onView.get(e.rule)?.fidelity === 'screen' ? ' screened out' : ''}`).join('; ')})` : ''));
  const bestOff = off.report.leaderboard[0];
  const bestOn = on.report.leaderboard[0];
  console.log(`best rule: off ${bestOff?.rule} (${bestOff?.reward.toFixed(4)}), on ${bestOn?.rule} (${bestOn?.reward.toFixed(4)}): ${bestOff && bestOn && (onView.get(bestOff.rule)?.as ?? bestOff.rule) === bestOn.rule ? 'the same' : 'DIFFERENT'}`);
  console.log(`status counts: off ${JSON.stringify(off.report.statusCounts)}; on ${JSON.stringify(on.report.statusCounts)}`);
  // Each hurdle's share of the sampled rules, and the rules it refused that scored above 0.5 with everything off.
  const offReward = new Map(off.report.rows.filter((r) => r.rule !== null).map((r) => [r.rule!, r.reward]));
  for (const status of ['no-gradient', 'no-descent']) {
    const refused = on.report.rows.filter((r) => r.status === status);
    const good = refused.filter((r) => (offReward.get(r.rule!) ?? 0) > 0.5);
    console.log(`${status}: ${refused.length} of ${on.sampled} (${(100 * refused.length / on.sampled).toFixed(1)}%); scored above 0.5 with everything off: ${good.length}${good.length ? ` (${good.map((r) => `${r.rule} ${offReward.get(r.rule!)!.toFixed(4)}`).join('; ')})` : ''}`);
  }
  const equivalent = on.report.rows.filter((r) => r.equivalentTo !== null);
  console.log(`equivalent to an earlier rule: ${equivalent.length} (${(100 * equivalent.length / on.sampled).toFixed(1)}%); their everything-off rewards differ from the matched rule's by at most ${Math.max(0, ...equivalent.map((r) => Math.abs((offReward.get(r.rule!) ?? 0) - (offReward.get(r.equivalentTo!) ?? 0)))).toFixed(4)}`);
  const screened = on.report.rows.filter((r) => r.fidelity === 'screen' && r.reusedFrom === null);
  if (screened.length) {
    const goodScreened = screened.filter((r) => (offReward.get(r.rule!) ?? 0) > (offTop.at(-1)?.reward ?? 1));
    console.log(`stopped at the funnel's screen: ${screened.length}; of them in the everything-off top ${top}: ${goodScreened.length}`);
  }
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  const { values, positionals } = parseArgs({
    args: rest, allowPositionals: true,
    options: {
      count: { type: 'string', default: '300' }, seed: { type: 'string', default: '1' }, space: { type: 'string', default: 'paper-full' },
      protocol: { type: 'string', default: 'quick' }, rules: { type: 'string', default: '300' }, mode: { type: 'string', default: 'off' },
      fidelity: { type: 'string' }, out: { type: 'string' }, resume: { type: 'boolean', default: false },
      workers: { type: 'string', default: String(os.availableParallelism()) }, top: { type: 'string', default: '10' },
    },
  });
  if (command === 'generate') generate(Number(values.count), Number(values.seed), values.space!);
  else if (command === 'run') {
    if (!values.out) throw new Error('run needs --out DIR');
    await run({ protocol: values.protocol!, rules: Number(values.rules), mode: values.mode!, fidelity: values.fidelity, out: path.resolve(values.out), resume: values.resume!, workers: Number(values.workers) });
  } else if (command === 'compare') compare(positionals[0], positionals[1], Number(values.top));
  else throw new Error('usage: search-cost-quality generate|run|compare ... (see the header of bench/search-cost-quality.ts)');
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
