// The bounds of every limit a search or a worker takes (per-job time and memory, processes at once). One home, read
// by the flag parsers, the config check, the queue worker and the job process itself, so a limit that parses can run.
import type { RunLimits } from './backend';

/** The longest a Node timer waits (2^31 - 1 ms, about 24.8 days); a longer one fires at once. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;
/** MAX_TIMEOUT_MS in whole seconds (2147483), for flags given in seconds. */
export const MAX_TIMEOUT_SECONDS = Math.floor(MAX_TIMEOUT_MS / 1000);
/** A time limit in seconds is stored in whole milliseconds: anything shorter is 0. */
export const MIN_TIMEOUT_SECONDS = 0.001;
/** A job process at rest takes about 50 MiB resident (with its watchdog thread): under this no job can run. */
export const MIN_RSS_MB = 64;
/** 1 TiB: beyond any machine here, and a heap size V8 still accepts (--max-old-space-size). */
export const MAX_RSS_MB = 1024 * 1024;
/** Processes one search or one queue worker runs at once (--workers, --concurrency). */
export const MAX_PROCESSES = 1024;

/** Why `limits` cannot run (the field, its bounds and what it held), or null when they can. */
export function runLimitsProblem(limits: unknown): string | null {
  const l = limits as Partial<Record<keyof RunLimits, unknown>> | null;
  if (!l || typeof l !== 'object') return `limits must be an object with timeoutMs and maxRssMb, got ${JSON.stringify(limits)}`;
  const inRange = (x: unknown, min: number, max: number) => typeof x === 'number' && x >= min && x <= max; // NaN fails
  if (!inRange(l.timeoutMs, 1, MAX_TIMEOUT_MS)) return `timeoutMs must be > 0 and at most ${MAX_TIMEOUT_MS} (ms, what a timer can wait), got ${String(l.timeoutMs)}`;
  if (!inRange(l.maxRssMb, MIN_RSS_MB, MAX_RSS_MB)) return `maxRssMb must be from ${MIN_RSS_MB} to ${MAX_RSS_MB} (MiB; a job process needs about 50 at rest), got ${String(l.maxRssMb)}`;
  return null;
}

/** The limits, or a RangeError naming `where` and the field out of range. */
export function checkRunLimits(limits: RunLimits, where: string): RunLimits {
  const problem = runLimitsProblem(limits);
  if (problem) throw new RangeError(`${where}: ${problem}`);
  return limits;
}
