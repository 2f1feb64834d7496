// The parent's handle on one forked job worker: sends it jobs, enforces time and memory limits, reports how it died.
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Job, RunLimits } from './backend';
import type { RunResult } from './envelope';
import { checkRunLimits, MAX_TIMEOUT_MS } from './limits';
import type { RunMessage, WorkerMessage } from './job-worker';

const WORKER_SCRIPT = path.join(__dirname, 'job-worker' + path.extname(__filename));
const RSS_POLL_MS = 100;
const STDERR_TAIL_BYTES = 4096;
/** How long a fresh worker may take to load before it counts as crashed. */
const START_TIMEOUT_MS = 60_000;

/** Resident set size of a process in MiB, from /proc (Linux); null where that can't be read. */
export function readRssMb(pid: number): number | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(status);
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Live worker processes of this process, killed if it exits (a hung worker would not notice its parent is gone). */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => { for (const c of liveChildren) c.kill('SIGKILL'); });
  }
}

/** The longest delay setTimeout honours (about 24.8 days); longer limits are refused (limits.ts). */
export const MAX_TIMER_MS = MAX_TIMEOUT_MS;

export class WorkerProcess {
  private child: ChildProcess | null = null;
  private ready: Promise<void> | null = null;
  private stderrTail = '';
  private busy = false;

  constructor(readonly name: string, readonly limits: RunLimits) {
    checkRunLimits(limits, `worker ${name} limits`);
  }

  get pid(): number | undefined { return this.child?.pid; }
  get alive(): boolean { return this.child !== null && this.child.exitCode === null && this.child.signalCode === null; }
  /** e.g. `local:1:pid4242`. */
  get label(): string { return `${this.name}:pid${this.child?.pid ?? '?'}`; }

  /** Starts the process (once); resolves when it has loaded and said it is ready. */
  start(): Promise<void> {
    if (this.ready && this.alive) return this.ready;
    const execArgv = [`--max-old-space-size=${Math.max(16, Math.floor(this.limits.maxRssMb))}`];
    if (__filename.endsWith('.ts')) execArgv.push('--import', 'tsx');
    const child = fork(WORKER_SCRIPT, [], { execArgv, serialization: 'advanced', silent: true });
    this.child = child;
    track(child);
    this.stderrTail = '';
    // An IPC send to a process that just died surfaces as an 'error' event; its 'exit' event reports the death.
    child.on('error', (e) => { this.stderrTail = (this.stderrTail + `\n[worker process error] ${e.message}`).slice(-STDERR_TAIL_BYTES); });
    child.stdout?.resume(); // a worker's prints must not garble the parent's progress line
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    });
    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { cleanup(); this.kill(); reject(new Error(`worker ${this.name} did not start within ${START_TIMEOUT_MS} ms`)); }, START_TIMEOUT_MS);
      const onMessage = (m: WorkerMessage) => { if (m?.type === 'ready') { cleanup(); resolve(); } };
      const onExit = (code: number | null, signal: string | null) => {
        cleanup();
        reject(new Error(`worker ${this.name} exited while starting (${signal ?? `code ${code}`}): ${this.stderrTail.trim().slice(-800)}`));
      };
      const cleanup = () => { clearTimeout(timer); child.off('message', onMessage); child.off('exit', onExit); };
      child.on('message', onMessage);
      child.on('exit', onExit);
    });
    this.ready.catch(() => undefined); // observed by run(); avoid an unhandled rejection when nobody runs
    return this.ready;
  }

  /**
   * Runs one job. Never rejects: a crash, timeout or memory overrun kills the process and comes back as a failure
   * result (the process is then dead; call start() again to reuse this handle).
   */
  async run(job: Job, attempt: number): Promise<RunResult> {
    if (this.busy) throw new Error(`worker ${this.name} is already running a job`);
    this.busy = true;
    try {
      try {
        await this.start();
      } catch (e) {
        return { kind: 'failure', status: 'crashed', error: (e as Error).message };
      }
      return await this.runStarted(job, attempt);
    } finally {
      this.busy = false;
    }
  }

  private runStarted(job: Job, attempt: number): Promise<RunResult> {
    const child = this.child!;
    if (!this.alive) {
      // Died after saying it was ready and its exit was already reported: no 'exit' event will come for this run.
      return Promise.resolve({ kind: 'failure', status: 'crashed', error: `worker died before the job was sent (${child.signalCode ?? `exit code ${child.exitCode}`})` });
    }
    return new Promise<RunResult>((resolve) => {
      let killedFor: 'timeout' | 'oom-rss' | null = null;
      let peakRssMb = 0;
      const finish = (result: RunResult) => {
        clearTimeout(timer);
        clearInterval(poll);
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(result);
      };
      const onMessage = (m: WorkerMessage) => {
        if (!m || (m.type !== 'result' && m.type !== 'failed') || m.jobId !== job.id) return;
        if (m.type === 'result') finish({ kind: 'outcome', outcome: m.outcome });
        else finish({ kind: 'failure', status: m.status, error: m.error });
      };
      const onExit = (code: number | null, signal: string | null) => {
        const how = signal ? `signal ${signal}` : `exit code ${code}`;
        const tail = this.stderrTail.trim().split('\n').slice(-6).join('\n');
        if (killedFor === 'timeout') {
          finish({ kind: 'failure', status: 'timeout', error: `killed after the ${this.limits.timeoutMs} ms time limit` });
        } else if (killedFor === 'oom-rss') {
          finish({ kind: 'failure', status: 'oom', error: `killed at ${peakRssMb.toFixed(0)} MiB resident, over the ${this.limits.maxRssMb} MiB limit` });
        } else if (/heap out of memory|Allocation failed|OutOfMemory|std::bad_alloc/i.test(this.stderrTail)) {
          finish({ kind: 'failure', status: 'oom', error: `worker ran out of memory (${how}): ${tail}` });
        } else {
          finish({ kind: 'failure', status: 'crashed', error: `worker died (${how})${tail ? `: ${tail}` : ''}` });
        }
      };
      const timer = setTimeout(() => { killedFor = 'timeout'; this.kill(); }, this.limits.timeoutMs);
      const poll = setInterval(() => {
        const rss = child.pid ? readRssMb(child.pid) : null;
        if (rss === null) return;
        peakRssMb = Math.max(peakRssMb, rss);
        if (rss > this.limits.maxRssMb && !killedFor) { killedFor = 'oom-rss'; this.kill(); }
      }, RSS_POLL_MS);
      child.on('message', onMessage);
      child.on('exit', onExit);
      try {
        child.send({ type: 'run', job, attempt } satisfies RunMessage);
      } catch (e) {
        this.kill();
        finish({ kind: 'failure', status: 'crashed', error: `could not send the job to the worker: ${(e as Error).message}` });
      }
    });
  }

  /** Kills the process at once (SIGKILL: a hung native call ignores anything gentler). */
  kill(): void {
    if (this.child && this.alive) this.child.kill('SIGKILL');
  }

  /** Stops the process and waits for it to be gone. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => { child.once('exit', () => resolve()); child.kill('SIGKILL'); });
    }
    this.child = null;
    this.ready = null;
  }
}
