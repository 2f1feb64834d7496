// The parent's handle on the forked GPU worker process (gpu-worker.ts): start, send jobs, messages, resident memory,
// how it died.  Unlike a job worker (worker-process.ts) it runs many jobs at once; pool-gpu.ts does the bookkeeping.
import { fork, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Job } from './backend';
import type { GpuMessage, GpuRequest, GpuWorkerSettings } from './gpu-worker';
import { readRssMb } from './worker-process';

const WORKER_SCRIPT = path.join(__dirname, 'gpu-worker' + path.extname(__filename));
const STDERR_TAIL_BYTES = 4096;
/** Loading the worker is quick (the engine is built on its first job); past this it counts as crashed. */
const START_TIMEOUT_MS = 60_000;

const live = new Set<ChildProcess>();
let exitHook = false;
/** A worker outlives neither its parent's exit nor a hang: killed with the parent. */
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => { for (const c of live) c.kill('SIGKILL'); });
  }
}

/**
 * The worker compiles each new rule's kernel with NVRTC on libuv's thread pool, 4 threads unless told: one per core
 * instead (a search of new rules is bound by those compiles), or the user's UV_THREADPOOL_SIZE.
 */
function compileThreads(): string {
  return process.env.UV_THREADPOOL_SIZE ?? String(Math.min(32, Math.max(4, os.availableParallelism())));
}

/** One of several GPUs: its index among those visible, and how CUDA_VISIBLE_DEVICES names it. */
export interface GpuChoice { index: number; visible: string }

export interface GpuProcessEvents {
  onMessage: (message: GpuMessage) => void;
  onExit: (how: { code: number | null; signal: string | null; stderrTail: string }) => void;
}

export class GpuProcess {
  private child: ChildProcess | null = null;
  private stderrTail = '';
  private started = false;
  readonly ready: Promise<void>;

  /** gpu: which of several GPUs this worker trains on (its index, for labels, and its CUDA_VISIBLE_DEVICES entry). */
  constructor(maxHeapMb: number, settings: GpuWorkerSettings, events: GpuProcessEvents, private readonly gpu?: GpuChoice) {
    const execArgv = [`--max-old-space-size=${Math.max(16, Math.floor(maxHeapMb))}`];
    if (__filename.endsWith('.ts')) execArgv.push('--import', 'tsx');
    const child = fork(WORKER_SCRIPT, [], {
      execArgv, serialization: 'advanced', silent: true,
      env: { ...process.env, NOS_GPU_WORKER: JSON.stringify(settings), UV_THREADPOOL_SIZE: compileThreads(), ...(gpu ? { CUDA_VISIBLE_DEVICES: gpu.visible } : {}) },
    });
    this.child = child;
    track(child);
    child.on('error', (e) => { this.stderrTail = (this.stderrTail + `\n[gpu worker error] ${e.message}`).slice(-STDERR_TAIL_BYTES); });
    child.stdout?.resume();
    child.stderr?.on('data', (chunk: Buffer) => { this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES); });
    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { this.kill(); reject(new Error(`the GPU worker did not start within ${START_TIMEOUT_MS} ms`)); }, START_TIMEOUT_MS);
      child.on('message', (m: GpuMessage) => {
        if (m?.type === 'ready') {
          this.started = true;
          clearTimeout(timer);
          resolve();
        } else if (this.started) events.onMessage(m);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (!this.started) reject(new Error(`the GPU worker exited while starting (${signal ?? `code ${code}`}): ${this.stderrTail.trim().slice(-800)}`));
        else events.onExit({ code, signal, stderrTail: this.stderrTail });
      });
    });
    this.ready.catch(() => undefined); // the pool observes it
  }

  get pid(): number | undefined { return this.child?.pid; }
  get alive(): boolean { return this.child !== null && this.child.exitCode === null && this.child.signalCode === null; }
  /** Said it is ready: jobs sent before would be answered before that word, which is not heard. */
  get isReady(): boolean { return this.started && this.alive; }
  get label(): string { return `gpu${this.gpu?.index ?? ''}:pid${this.child?.pid ?? '?'}`; }

  send(job: Job, attempt: number): boolean {
    try {
      this.child!.send({ type: 'run', job, attempt } satisfies GpuRequest);
      return true;
    } catch {
      this.kill();
      return false;
    }
  }

  rssMb(): number | null {
    return this.child?.pid ? readRssMb(this.child.pid) : null;
  }

  /** SIGKILL: a native call stuck on the device ignores anything gentler. */
  kill(): void {
    if (this.alive) this.child!.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => { child.once('exit', () => resolve()); child.kill('SIGKILL'); });
    }
  }
}
