// Starts, restarts and stops a throwaway redis-server on a free loopback port for the Redis queue tests and bench.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export interface RedisServerFixture {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** Stops the server cleanly (SIGTERM: an appendonly server flushes its log first). */
  stop(): Promise<void>;
  /** Starts it again on the same port and directory (after stop()). */
  start(): Promise<void>;
  /** stop() then start(). */
  restart(): Promise<void>;
  /** stop() and remove the temp directory. */
  dispose(): Promise<void>;
}

/** The redis-server binary, or null with the reason tests print when they skip. */
export function findRedisServer(): { bin: string | null; reason: string } {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    return { bin: null, reason: 'redis-server is not on PATH (apt-get install redis-server; CI installs it)' };
  }
  return { bin: 'redis-server', reason: '' };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves when the server answers PING on the port; rejects after timeoutMs. */
export function waitForPong(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = net.connect(port, '127.0.0.1');
      let reply = '';
      const retry = () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      };
      socket.once('error', retry);
      socket.on('data', (chunk) => {
        reply += chunk.toString();
        if (reply.includes('\r\n')) {
          socket.destroy();
          if (reply.startsWith('+PONG') || reply.startsWith('-NOAUTH')) resolve(); // NOAUTH: up, with a password
          else retry(); // e.g. -LOADING while an appendonly file is replayed
        }
      });
      socket.once('connect', () => socket.write('PING\r\n'));
    };
    attempt();
  });
}

export async function startRedisServer(options: { appendonly?: boolean; password?: string } = {}): Promise<RedisServerFixture> {
  const found = findRedisServer();
  if (!found.bin) throw new Error(found.reason);
  const bin = found.bin;
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
    '--appendonly', options.appendonly ? 'yes' : 'no', '--appendfsync', 'always', '--daemonize', 'no',
    '--logfile', path.join(dir, 'redis.log'), ...(options.password ? ['--requirepass', options.password] : [])];
  let child: ChildProcess | null = null;

  const start = async () => {
    if (child) return;
    const spawned = spawn(bin, args, { stdio: 'ignore' });
    child = spawned;
    spawned.once('exit', () => { if (child === spawned) child = null; });
    await waitForPong(port, 10_000);
  };
  const stop = async () => {
    const running = child;
    if (!running) return;
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve());
      running.kill('SIGTERM');
    });
    child = null;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    start,
    stop,
    restart: async () => { await stop(); await start(); },
    dispose: async () => { await stop(); fs.rmSync(dir, { recursive: true, force: true }); },
  };
}

export interface WorkerProcessFixture {
  readonly child: ChildProcess;
  /** Everything the worker printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  /**
   * SIGTERM (the worker finishes its running jobs and exits), then its exit; a worker still there after `graceMs`
   * is killed and the promise rejects with what it printed, so a worker that does not stop fails the test, not hangs it.
   */
  stop(graceMs?: number): Promise<number | string>;
}

/** Starts `nos worker` in its own process (through redis-worker-main, with `env`) and resolves once it serves the queue. */
/** Workers not yet exited: a test that fails before its cleanup must not leave one serving after the run ends. */
const liveWorkers = new Set<ChildProcess>();
process.once('exit', () => { for (const child of liveWorkers) child.kill('SIGKILL'); });

export async function spawnQueueWorker(url: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<WorkerProcessFixture> {
  const ext = path.extname(__filename);
  const script = path.join(__dirname, 'redis-worker-main' + ext);
  const child = spawn(process.execPath, [...(ext === '.ts' ? ['--import', 'tsx'] : []), script, 'worker', '--queue', url, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], env });
  let text = '';
  liveWorkers.add(child);
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => { liveWorkers.delete(child); resolve(signal ?? code ?? -1); }));
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('serving queue')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((how) => reject(new Error(`queue worker exited (${how}) before serving: ${text}`)));
  });
  const stop = async (graceMs = 30_000): Promise<number | string> => {
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), graceMs); });
    const how = await Promise.race([exited, late]).finally(() => clearTimeout(timer));
    if (how !== 'late') return how;
    child.kill('SIGKILL');
    await exited;
    throw new Error(`the queue worker did not stop within ${graceMs / 1000} s of SIGTERM; it printed:\n${text}`);
  };
  return { child, output: () => text, exited, stop };
}
