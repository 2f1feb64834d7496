// The local process pool against the backend conformance suite, plus its own argument checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLocalBackend } from '../../src/search/pool-local';
import { fakeJob, runBackendConformance } from './backend-conformance';

runBackendConformance('local pool', ({ workers, limits }) => createLocalBackend({ workers, limits }));

test('local pool: bad options and bad jobs give clear errors', async () => {
  assert.throws(() => createLocalBackend({ workers: 0, limits: { timeoutMs: 1000, maxRssMb: 256 } }), /workers must be an integer >= 1/);
  assert.throws(() => createLocalBackend({ workers: 1, limits: { timeoutMs: 0, maxRssMb: 256 } }), /timeoutMs must be > 0/);
  const pool = createLocalBackend({ workers: 1, limits: { timeoutMs: 1000, maxRssMb: 256 } });
  try {
    await assert.rejects(pool.submit([{ id: 3 } as never]), /needs a string id and rule/);
    await pool.submit([fakeJob('d:0', 'g')]);
    await assert.rejects(pool.submit([fakeJob('d:0', 'g')]), /already submitted/);
    assert.equal((await pool.next()).status, 'ok');
  } finally {
    await pool.close();
  }
  await assert.rejects(pool.submit([fakeJob('d:1', 'g')]), /after close/);
});

test('local pool: when the search process exits, its workers die with it (even one hung in a job)', async () => {
  const script = path.join(__dirname, 'fixtures', 'pool-exit' + path.extname(__filename));
  const execArgv = __filename.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const run = spawnSync(process.execPath, [...execArgv, script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  const pid = Number(run.stdout.trim());
  assert.ok(pid > 0);
  let gone = false;
  for (let i = 0; i < 100 && !gone; i++) {
    const state = (() => { try { return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0]; } catch { return 'gone'; } })();
    gone = state === 'gone' || state === 'Z'; // dead (a zombie waits only for its new parent to reap it)
    if (!gone) await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(gone, `worker ${pid} outlived its search process`);
});

test('local pool: SIGINT or SIGTERM sent to the whole group does not kill a worker mid-job (the search stops its workers)', async () => {
  const pidDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-pool-signal-'));
  const pool = createLocalBackend({ workers: 1, limits: { timeoutMs: 20_000, maxRssMb: 1024 } });
  try {
    await pool.submit([fakeJob('sig:1', 'g', { sleepMs: 600, pidDir })]);
    const pidFile = path.join(pidDir, 'sig_1.pid');
    while (!fs.existsSync(pidFile)) await new Promise((r) => setTimeout(r, 10));
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    process.kill(pid, 'SIGINT');
    process.kill(pid, 'SIGTERM');
    const envelope = await pool.next();
    assert.equal(envelope.status, 'ok', envelope.error);
    assert.equal(envelope.attempt, 1);
  } finally {
    await pool.close();
    fs.rmSync(pidDir, { recursive: true, force: true });
  }
});

test('local pool: a time limit past 2^31 - 1 ms (24.8 days) is refused up front (a timer would fire at once)', async () => {
  assert.throws(() => createLocalBackend({ workers: 1, limits: { timeoutMs: 3e9, maxRssMb: 1024 } }), /timeoutMs must be > 0 and at most 2147483647/);
  const pool = createLocalBackend({ workers: 1, limits: { timeoutMs: 2 ** 31 - 1, maxRssMb: 1024 } });
  try {
    await pool.submit([fakeJob('long-limit:1', 'g')]);
    const envelope = await pool.next();
    assert.equal(envelope.status, 'ok', envelope.error);
  } finally {
    await pool.close();
  }
});
