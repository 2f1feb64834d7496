// Worker utilization of the search loop: N fake jobs of a fixed duration on K local workers and on K `nos worker`s
// sharing one real redis-server; busy time (the jobs' run time) against K x the search's wall time, in one run,
// with the synchronous loop of before (--in-flight 1: one batch at a time) as the peer.
//
//   node dist/bench/search-utilization.js [--workers 8] [--jobs 200] [--sleep-ms 500] [--skip-redis] [--skip-sync] [--trace]
//
// --skip-sync: without the --in-flight 1 rows (the device check: half the time).
// --trace: after each Redis search, where the fleet's time went (bench/utilization-trace.ts): job run time, BullMQ's
// overhead, gaps between jobs, lead-in and tail; jobs waiting in Redis; result pickup; CPU per job of each process.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { SearchConfig } from '../src/search/search-config';
import { buildSearchConfig } from '../src/search/search-inputs';
import { LEDGER_FILE, readLedger } from '../src/search/ledger';
import { runSearch } from '../src/search/search-loop';
import { descendantCpu, fleetCpuSeconds, formatBreakdown, traceRedisSearch } from './utilization-trace';
import { findRedisServer, spawnQueueWorker, startRedisServer, type WorkerProcessFixture } from '../test/search/redis-server-fixture';

const { values: args } = parseArgs({
  options: {
    workers: { type: 'string', default: '8' }, jobs: { type: 'string', default: '200' },
    'sleep-ms': { type: 'string', default: '500' }, 'skip-redis': { type: 'boolean', default: false },
    'skip-sync': { type: 'boolean', default: false }, trace: { type: 'boolean', default: false },
  },
});
const workers = Number(args.workers);
const jobs = Number(args.jobs);
const sleepMs = Number(args['sleep-ms']);

/** --trace: the Redis searches' breakdowns, printed after the table. */
const traceLines: string[] = [];

interface Measured { trained: number; busySeconds: number; evalSeconds: number; wallSeconds: number; utilization: number }

/** One search of `jobs` sampled rules (random search over paper-full: nearly all distinct) on fake jobs. */
async function measure(tag: string, extra: Partial<SearchConfig>, queue?: string, fleetPids = new Set<number>()): Promise<Measured> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `nos-bench-util-${tag}-`));
  const protocolFile = path.join(root, 'fake.json');
  fs.writeFileSync(protocolFile, JSON.stringify({ name: 'fake', sleepMs }));
  const config = buildSearchConfig({ budget: jobs, workers, strategy: 'random', space: 'paper-full', protocol: protocolFile, device: 'cpu', seed: 7, queue });
  const outDir = path.join(root, 'run');
  const loopBefore = performance.eventLoopUtilization();
  const cpuBefore = process.cpuUsage();
  const fleetBefore = args.trace ? descendantCpu(process.pid) : new Map();
  const startedMs = Date.now();
  const started = process.hrtime.bigint();
  // Hurdles and the equivalence cache would send no job for some rules, the funnel a second job for others: off, so
  // every distinct rule is one job.
  await runSearch({ outDir, config: { ...config, ...extra, hurdles: false, fec: false, fidelity: 'full' } as SearchConfig });
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const endedMs = Date.now();
  const loopBusy = performance.eventLoopUtilization(loopBefore).utilization;
  const searchCpu = process.cpuUsage(cpuBefore);
  const fleetCpu = fleetCpuSeconds(fleetBefore, args.trace ? descendantCpu(process.pid) : new Map(), fleetPids);
  let busyMs = 0;
  let evalSeconds = 0;
  let trained = 0;
  const records = readLedger(path.join(outDir, LEDGER_FILE)).records;
  if (queue && args.trace) traceLines.push(formatBreakdown(tag, await traceRedisSearch(queue, records, startedMs, endedMs, workers), loopBusy, { search: (searchCpu.user + searchCpu.system) / 1e6, ...fleetCpu }));
  for (const r of records) {
    if (r.type !== 'result' || r.reusedFrom !== undefined || r.envelope.worker === 'compiler') continue;
    trained++;
    busyMs += r.envelope.timings.runMs;
    evalSeconds += r.envelope.outcome?.seconds ?? 0;
  }
  fs.rmSync(root, { recursive: true, force: true });
  const busySeconds = busyMs / 1000;
  return { trained, busySeconds, evalSeconds, wallSeconds, utilization: busySeconds / (workers * wallSeconds) };
}

function pidsOf(fleet: WorkerProcessFixture[]): Set<number> {
  return new Set(fleet.map((w) => w.child.pid).filter((pid): pid is number => pid !== undefined));
}

function row(name: string, m: Measured): string {
  return `| ${name} | ${m.trained} | ${m.busySeconds.toFixed(1)} | ${m.evalSeconds.toFixed(1)} | ${m.wallSeconds.toFixed(1)} | ${m.utilization.toFixed(3)} | ${(m.evalSeconds / (workers * m.wallSeconds)).toFixed(3)} |`;
}

async function main(): Promise<void> {
  console.log(`search utilization: ${jobs} sampled rules, fake jobs of ${sleepMs} ms, ${workers} workers, ${os.availableParallelism()} CPUs, load average at start ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  console.log('utilization = busy / (workers x wall): busy is the sum of the jobs\' run times as the pool or the queue worker timed them (a');
  console.log('worker\'s start-up is part of its first job), wall the whole search; "evaluation only" counts just the time inside the');
  console.log('evaluator (the sleep), against the same wall\n');
  console.log('| loop | jobs trained | busy s | evaluation s | wall s | utilization | evaluation only |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  if (!args['skip-sync']) console.log(row(`local pool, --in-flight 1 (one batch at a time, as before)`, await measure('local-sync', { inFlight: 1 })));
  const local = await measure('local', {});
  console.log(row(`local pool, default --in-flight (${2 * workers})`, local));
  if (!args['skip-redis']) {
    const found = findRedisServer();
    if (!found.bin) throw new Error(found.reason);
    const server = await startRedisServer();
    const fleet: WorkerProcessFixture[] = [];
    try {
      for (let i = 0; i < workers; i++) fleet.push(await spawnQueueWorker(server.url, []));
      if (!args['skip-sync']) console.log(row(`${workers} nos workers on redis-server, --in-flight 1`, await measure('redis-sync', { inFlight: 1 }, server.url, pidsOf(fleet))));
      console.log(row(`${workers} nos workers on redis-server, default --in-flight (32)`, await measure('redis', {}, server.url, pidsOf(fleet))));
    } finally {
      for (const w of fleet) { w.child.kill('SIGTERM'); await w.exited; }
      await server.dispose();
    }
  }
  for (const line of traceLines) console.log('\n' + line);
  console.log(`\nload average at end ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
