// Workers die with their search: after kill -9 of `nos search` or `nos worker` (no exit hook runs), a worker hung in a
// job (and deaf to SIGTERM) is gone within a few seconds.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRedisBackend } from '../../src/search/queue-redis';
import { fakeJob } from './backend-conformance';
import { findRedisServer, spawnQueueWorker, startRedisServer, type RedisServerFixture } from './redis-server-fixture';

const EXT = path.extname(__filename);
const NOS = path.join(__dirname, '..', '..', 'src', 'cli', 'nos' + EXT);
const EXEC_ARGV = EXT === '.ts' ? ['--import', 'tsx'] : [];
/** The watchdog looks every 0.5 s; a loaded machine gets some slack. */
const GONE_WITHIN_MS = 5000;

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'nos-watchdog-'));
}

/** The pids written by fake jobs into pidDir, once `count` of them are there. */
async function jobPids(pidDir: string, count: number): Promise<number[]> {
  for (let i = 0; i < 1500; i++) {
    const pids = fs.readdirSync(pidDir).filter((f) => f.endsWith('.pid')).map((f) => Number(fs.readFileSync(path.join(pidDir, f), 'utf8')));
    if (pids.length >= count && pids.every((p) => p > 0)) return pids;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`fewer than ${count} jobs started`);
}

function alive(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0] !== 'Z'; // a zombie waits only to be reaped
  } catch {
    return false;
  }
}

/** Resolves with how long the processes took to be gone; fails if one outlives the limit. */
async function goneWithin(pids: number[], ms: number): Promise<number> {
  const started = Date.now();
  while (pids.some(alive)) {
    if (Date.now() - started > ms) {
      for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL'); // tidy up before failing
      assert.fail(`worker(s) ${pids.join(', ')} outlived their killed parent by more than ${ms} ms`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - started;
}

test('kill -9 of nos search: its local workers, hung in jobs and deaf to SIGTERM, die within a few seconds', async () => {
  const dir = tempDir();
  const pidDir = fs.mkdtempSync(path.join(dir, 'pids-'));
  const protocol = path.join(dir, 'hang.json');
  fs.writeFileSync(protocol, JSON.stringify({ name: 'fake', pidDir, faults: { hang: [''] } })); // every rule hangs
  const search = spawn(process.execPath, [...EXEC_ARGV, NOS, 'search', '--protocol', protocol, '--budget', '5', '--workers', '2',
    // Every rule a job: no hurdle or equivalence cache deciding in the search's own process.
    '--strategy', 'random', '--space', 'small', '--no-hurdles', '--no-fec', '--out', path.join(dir, 'run'), '--no-progress'], { stdio: 'ignore' });
  const exited = new Promise((resolve) => search.once('exit', resolve));
  const pids = await jobPids(pidDir, 2);
  for (const pid of pids) process.kill(pid, 'SIGTERM'); // ignored: a worker's job is the search's to stop
  search.kill('SIGKILL');
  await exited;
  await goneWithin(pids, GONE_WITHIN_MS);
});

const found = findRedisServer();
describe('with a real redis-server', { skip: found.bin ? false : found.reason }, () => {
  let server: RedisServerFixture;
  before(async () => { server = await startRedisServer(); });
  after(async () => { await server?.dispose(); });

  test('kill -9 of nos worker: its child, hung in a job, dies within a few seconds', async () => {
    const pidDir = tempDir();
    const worker = await spawnQueueWorker(server.url, ['--queue-name', 'watchdog']);
    const backend = await createRedisBackend(server.url, { queueName: 'watchdog', log: () => undefined });
    try {
      await backend.submit([fakeJob('hang:0', 'g', { pidDir, faults: { hang: ['g'] } })]);
      const [pid] = await jobPids(pidDir, 1);
      worker.child.kill('SIGKILL');
      await worker.exited;
      await goneWithin([pid], GONE_WITHIN_MS);
    } finally {
      await backend.close();
    }
  });
});
