// Worker utilization of the search loop: N fake jobs of a fixed duration on K local workers and on K `nos worker`s
// sharing one real redis-server; busy time (the jobs' run time) against K x the search's wall time, in one run,
// with the synchronous loop of before (--in-flight 1: one batch at a time) as the peer.
//
//   node dist/bench/search-utilization.js [--workers 8] [--jobs 200] [--sleep-ms 500] [--skip-redis]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { SearchConfig } from '../src/search/search-config';
import { buildSearchConfig } from '../src/search/search-inputs';
import { LEDGER_FILE, readLedger } from '../src/search/ledger';
import { runSearch } from '../src/search/search-loop';
import { findRedisServer, spawnQueueWorker, startRedisServer, type WorkerProcessFixture } from '../test/search/redis-server-fixture';

const { values: args } = parseArgs({
  options: {
    workers: { type: 'string', default: '8' }, jobs: { type: 'string', default: '200' },
    'sleep-ms': { type: 'string', default: '500' }, 'skip-redis': { type: 'boolean', default: false },
  },
});
const workers = Number(args.workers);
const jobs = Number(args.jobs);
const sleepMs = Number(args['sleep-ms']);

interface Measured { trained: number; busySeconds: number; evalSeconds: number; wallSeconds: number; utilization: number }

/** One search of `jobs` sampled rules (random search over paper-full: nearly all distinct) on fake jobs. */
async function measure(tag: string, extra: Partial<SearchConfig>, queue?: string): Promise<Measured> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `nos-bench-util-${tag}-`));
  const protocolFile = path.join(root, 'fake.json');
  fs.writeFileSync(protocolFile, JSON.stringify({ name: 'fake', sleepMs }));
  const config = buildSearchConfig({ budget: jobs, workers, strategy: 'random', space: 'paper-full', protocol: protocolFile, device: 'cpu', seed: 7, queue });
  const outDir = path.join(root, 'run');
  const started = process.hrtime.bigint();
  // Hurdles and the equivalence cache would send no job for some rules, the funnel a second job for others: off, so
  // every distinct rule is one job.
  await runSearch({ outDir, config: { ...config, ...extra, hurdles: false, fec: false, fidelity: 'full' } as SearchConfig });
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  let busyMs = 0;
  let evalSeconds = 0;
  let trained = 0;
  for (const r of readLedger(path.join(outDir, LEDGER_FILE)).records) {
    if (r.type !== 'result' || r.reusedFrom !== undefined || r.envelope.worker === 'compiler') continue;
    trained++;
    busyMs += r.envelope.timings.runMs;
    evalSeconds += r.envelope.outcome?.seconds ?? 0;
  }
  fs.rmSync(root, { recursive: true, force: true });
  const busySeconds = busyMs / 1000;
  return { trained, busySeconds, evalSeconds, wallSeconds, utilization: busySeconds / (workers * wallSeconds) };
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
  console.log(row(`local pool, --in-flight 1 (one batch at a time, as before)`, await measure('local-sync', { inFlight: 1 })));
  const local = await measure('local', {});
  console.log(row(`local pool, default --in-flight (${2 * workers})`, local));
  if (!args['skip-redis']) {
    const found = findRedisServer();
    if (!found.bin) throw new Error(found.reason);
    const server = await startRedisServer();
    const fleet: WorkerProcessFixture[] = [];
    try {
      for (let i = 0; i < workers; i++) fleet.push(await spawnQueueWorker(server.url, []));
      console.log(row(`${workers} nos workers on redis-server, --in-flight 1`, await measure('redis-sync', { inFlight: 1 }, server.url)));
      console.log(row(`${workers} nos workers on redis-server, default --in-flight (32)`, await measure('redis', {}, server.url)));
    } finally {
      for (const w of fleet) { w.child.kill('SIGTERM'); await w.exited; }
      await server.dispose();
    }
  }
  console.log(`\nload average at end ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
