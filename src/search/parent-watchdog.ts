// Makes a worker process die with the process that started it, even while its main thread hangs (a native call,
// Atomics.wait): a small worker thread watches the parent pid and SIGKILLs this process once the parent is gone.
import { Worker } from 'node:worker_threads';

/** How often the watchdog looks; an orphaned worker is gone within about this long. */
export const WATCHDOG_POLL_MS = 500;

// Plain JavaScript evaluated in the thread: it runs the same under tsx and from dist, and loads nothing of ours.
// A parent that dies leaves this process to init or a subreaper, so its parent pid changes.
const WATCHDOG_SOURCE = `
const { workerData } = require('node:worker_threads');
setInterval(() => {
  if (process.ppid !== workerData.parentPid) process.kill(process.pid, 'SIGKILL');
}, workerData.pollMs);
`;

/**
 * Starts the watchdog thread (once per process) and resolves when it runs: a worker must not take a job before
 * (a thread that has not started yet does not start while the main thread hangs). It does not keep the process
 * alive. Without it, a worker whose search was killed with SIGKILL (no exit hook runs) would live on, hung in a job.
 * If the thread cannot start, this says so on stderr and resolves: the worker still stops with a live parent.
 */
export function dieWithParent(pollMs = WATCHDOG_POLL_MS): Promise<void> {
  const watchdog = new Worker(WATCHDOG_SOURCE, {
    eval: true, workerData: { parentPid: process.ppid, pollMs },
    resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 2 },
    stdout: false, stderr: false,
  });
  watchdog.unref();
  return new Promise((resolve) => {
    watchdog.once('online', () => resolve());
    watchdog.once('error', (e) => {
      process.stderr.write(`worker ${process.pid}: the parent watchdog did not start (${e.message}); a hung job outlives a killed search\n`);
      resolve();
    });
  });
}
