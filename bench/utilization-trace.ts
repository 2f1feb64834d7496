// Where a Redis fleet's time goes in one search: from BullMQ's own job timestamps and the search's ledger, each
// worker's wall split into job run time, BullMQ overhead, gaps between jobs, lead-in and tail; queue depth; pickup.
import { Queue, type Job as BullJob } from 'bullmq';
import * as fs from 'node:fs';
import type { Envelope } from '../src/search/backend';
import { DEFAULT_QUEUE_NAME, connectionOptions, decodeBullJobId, parseRedisUrl } from '../src/search/queue-redis';
import type { LedgerRecord } from '../src/search/ledger';

/** Seconds summed over all workers, so that the parts add up to workers x wall. */
export interface FleetBreakdown {
  workers: number; wallSeconds: number;
  /** The jobs' run times as the worker timed them (the bench's "busy"). */
  runSeconds: number;
  /** Active in BullMQ but outside the worker's run timer: handing the job to the processor and the result back. */
  inJobOverheadSeconds: number;
  /** Between one job's finish and the same worker's next start, while the search was still handing out jobs. */
  gapSeconds: number;
  /** From the search's start to each worker's first job (the search's own start-up, the first batch, the first fetch). */
  leadInSeconds: number;
  /** From each worker's last job to the search's end (the last jobs of others, then the search's wrap-up). */
  tailSeconds: number;
  /** The search's wrap-up alone: from the last result recorded in the ledger to the end of runSearch. */
  wrapUpSeconds: number;
  /** Jobs waiting in Redis (added, not yet taken): the minimum and mean while jobs were still being added. */
  waitingMin: number; waitingMean: number;
  /** From a job's finish on a worker to its result in the search's ledger: mean and max, ms. */
  pickupMeanMs: number; pickupMaxMs: number;
  /** Largest single gap between two jobs of one worker, ms. */
  gapMaxMs: number;
  results: number;
}

/** One finished job: who ran it, when it was added, started and finished in BullMQ, its run timer, when it was recorded. */
export interface TimedJob { worker: string; added: number; started: number; finished: number; runMs: number; recorded: number }

/** Reads the finished jobs of this search (its job ids are in the ledger) back from Redis and splits the fleet's time. */
export async function traceRedisSearch(url: string, records: LedgerRecord[], startMs: number, endMs: number, workers: number): Promise<FleetBreakdown> {
  const recordedAt = new Map<string, number>();
  // A rule sampled again later takes the first one's envelope (same job id): only the training's own record counts.
  for (const r of records) if (r.type === 'result' && r.reusedFrom === undefined) recordedAt.set((r.envelope as Envelope).jobId, Date.parse(r.time));
  const queue = new Queue(DEFAULT_QUEUE_NAME, { connection: connectionOptions(parseRedisUrl(url)) });
  let jobs: BullJob[];
  try {
    jobs = await queue.getJobs(['completed'], 0, -1);
  } finally {
    await queue.close();
  }
  const timed: TimedJob[] = [];
  for (const j of jobs) {
    const id = j.id === undefined ? null : decodeBullJobId(j.id);
    const recorded = id === null ? undefined : recordedAt.get(id);
    if (recorded === undefined || j.processedOn === undefined || j.finishedOn === undefined) continue;
    const envelope = j.returnvalue as Envelope;
    timed.push({ worker: j.processedBy ?? 'unknown', added: j.timestamp, started: j.processedOn, finished: j.finishedOn, runMs: envelope.timings.runMs, recorded });
  }
  return splitFleetTime(timed, startMs, endMs, workers, Math.max(...timed.map((t) => t.recorded)));
}

export function splitFleetTime(timed: TimedJob[], startMs: number, endMs: number, workers: number, lastRecorded: number): FleetBreakdown {
  const byWorker = new Map<string, TimedJob[]>();
  for (const t of timed) byWorker.set(t.worker, [...(byWorker.get(t.worker) ?? []), t]);
  let run = 0, overhead = 0, gap = 0, leadIn = 0, tail = 0, gapMax = 0;
  for (const list of byWorker.values()) {
    list.sort((a, b) => a.started - b.started);
    leadIn += list[0].started - startMs;
    tail += endMs - list[list.length - 1].finished;
    list.forEach((t, i) => {
      run += t.runMs;
      overhead += t.finished - t.started - t.runMs;
      if (i > 0) { gap += t.started - list[i - 1].finished; gapMax = Math.max(gapMax, t.started - list[i - 1].finished); }
    });
  }
  // A worker that never got a job idled the whole search.
  leadIn += (workers - byWorker.size) * (endMs - startMs);
  const lastAdded = Math.max(...timed.map((t) => t.added));
  const firstStarted = Math.min(...timed.map((t) => t.started));
  const depth = waitingOverTime(timed, firstStarted, lastAdded);
  const pickups = timed.map((t) => t.recorded - t.finished);
  return {
    workers, wallSeconds: (endMs - startMs) / 1000, runSeconds: run / 1000, inJobOverheadSeconds: overhead / 1000,
    gapSeconds: gap / 1000, leadInSeconds: leadIn / 1000, tailSeconds: tail / 1000, wrapUpSeconds: (endMs - lastRecorded) / 1000,
    waitingMin: depth.min, waitingMean: depth.mean,
    pickupMeanMs: pickups.reduce((a, b) => a + b, 0) / pickups.length, pickupMaxMs: Math.max(...pickups), gapMaxMs: gapMax, results: timed.length,
  };
}

/** Jobs added and not yet started, sampled every 10 ms from `from` to `to`. */
function waitingOverTime(timed: TimedJob[], from: number, to: number): { min: number; mean: number } {
  let min = Infinity, sum = 0, samples = 0;
  for (let t = from; t <= to; t += 10) {
    const waiting = timed.filter((j) => j.added <= t && j.started > t).length;
    min = Math.min(min, waiting);
    sum += waiting;
    samples++;
  }
  return samples === 0 ? { min: 0, mean: 0 } : { min, mean: sum / samples };
}

/** One line per part, each as a share of workers x wall. */
export interface CpuUse { search: number; workers: number; jobChildren: number; redis: number }

export function formatBreakdown(tag: string, b: FleetBreakdown, loopBusy: number, cpu: CpuUse): string {
  const perJob = (s: number) => `${(1000 * s / b.results).toFixed(1)}`;
  const total = b.workers * b.wallSeconds;
  const part = (s: number) => `${s.toFixed(1)} s (${(100 * s / total).toFixed(1)}%)`;
  return [
    `${tag}: ${b.workers} workers x ${b.wallSeconds.toFixed(2)} s wall = ${total.toFixed(1)} worker-s`,
    `  job run time (busy)           ${part(b.runSeconds)}`,
    `  BullMQ overhead inside a job  ${part(b.inJobOverheadSeconds)}`,
    `  gaps between jobs             ${part(b.gapSeconds)} (largest ${b.gapMaxMs.toFixed(0)} ms)`,
    `  lead-in before first job      ${part(b.leadInSeconds)}`,
    `  tail after last job           ${part(b.tailSeconds)} (of which the search's wrap-up after its last result: ${b.wrapUpSeconds.toFixed(2)} s per worker)`,
    `  jobs waiting in Redis while the search still added: min ${b.waitingMin}, mean ${b.waitingMean.toFixed(1)}`,
    `  result pickup (worker finish -> ledger): mean ${b.pickupMeanMs.toFixed(0)} ms, max ${b.pickupMaxMs.toFixed(0)} ms`,
    `  the search's event loop busy ${(100 * loopBusy).toFixed(0)}% of the wall`,
    `  CPU ms per job: search ${perJob(cpu.search)}, nos workers ${perJob(cpu.workers)}, their job processes ${perJob(cpu.jobChildren)}, redis-server ${perJob(cpu.redis)}`,
  ].join('\n');
}

/** CPU seconds used so far by the processes below `root` (Linux /proc; an empty map elsewhere), by pid, with parents. */
export function descendantCpu(root: number): Map<number, { ppid: number; name: string; seconds: number }> {
  const all = new Map<number, { ppid: number; name: string; seconds: number }>();
  let pids: string[];
  try { pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)); } catch { return all; }
  for (const p of pids) {
    let stat: string;
    try { stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8'); } catch { continue; } // gone meanwhile
    // Fields after the parenthesized name: state ppid ... utime(14) stime(15), in clock ticks (100 per second).
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    all.set(Number(p), { ppid: Number(fields[1]), name: stat.slice(stat.indexOf('(') + 1, close), seconds: (Number(fields[11]) + Number(fields[12])) / 100 });
  }
  const below = new Map<number, { ppid: number; name: string; seconds: number }>();
  const isBelow = (pid: number): boolean => {
    for (let at = all.get(pid)?.ppid; at !== undefined && at > 1; at = all.get(at)?.ppid) if (at === root) return true;
    return false;
  };
  for (const [pid, info] of all) if (isBelow(pid)) below.set(pid, info);
  return below;
}

/** CPU used between two snapshots by the fleet's parts: `nos worker` processes, their job children, redis-server. */
export function fleetCpuSeconds(before: ReturnType<typeof descendantCpu>, after: ReturnType<typeof descendantCpu>, workerPids: Set<number>): { workers: number; jobChildren: number; redis: number } {
  const used = (pid: number) => (after.get(pid)?.seconds ?? 0) - (before.get(pid)?.seconds ?? 0);
  let workers = 0, jobChildren = 0, redis = 0;
  for (const [pid, info] of after) {
    if (workerPids.has(pid)) workers += used(pid);
    else if (workerPids.has(info.ppid)) jobChildren += used(pid);
    else if (info.name === 'redis-server') redis += used(pid);
  }
  return { workers, jobChildren, redis };
}
