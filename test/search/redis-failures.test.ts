// The Redis queue under failure: unreachable Redis, a worker killed mid-job, a Redis restart, racing workers, SIGTERM.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Queue } from 'bullmq';
import type { Envelope } from '../../src/search/backend';
import { fakeReward } from '../../src/search/fake-evaluator';
import { createRedisBackend, parseRedisUrl, toBullJobId, type RedisBackend } from '../../src/search/queue-redis';
import { startRedisWorker } from '../../src/search/worker-redis';
import { collect, fakeJob } from './backend-conformance';
import { buildFakeCudaEnv } from '../support/fake-cuda';
import { findRedisServer, freePort, spawnQueueWorker, startRedisServer, type RedisServerFixture, type WorkerProcessFixture } from './redis-server-fixture';

const quiet = () => undefined;
const limits = { timeoutMs: 20_000, maxRssMb: 512 };
/** Short locks so a killed worker's job moves on within a couple of seconds (production uses 60 s). */
const fastLockArgs = ['--lock-duration', '1', '--stalled-interval', '0.5', '--timeout', '20', '--max-rss', '512'];

function waitFor(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (check()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(poll, 20);
    };
    poll();
  });
}

function parentPid(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

async function stopWorkers(workers: WorkerProcessFixture[]) {
  for (const w of workers) {
    if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await w.exited;
  }
}

test('a bad --queue URL is refused with a message naming the problem', async () => {
  assert.throws(() => parseRedisUrl('localhost:6379'), /bad --queue URL "localhost:6379": scheme must be redis:\/\//);
  assert.throws(() => parseRedisUrl('redis://host:6379/x'), /database must be a number/);
  assert.throws(() => parseRedisUrl('redis://:hunter2@host:6379/x'), (err: Error) => err.message.includes(':***@host') && !err.message.includes('hunter2'));
  assert.equal(parseRedisUrl('redis://:hunter2@host:6379/2').url, 'redis://:***@host:6379/2');
  assert.equal(parseRedisUrl('redis://:hunter2@host:6379/2').password, 'hunter2');
  assert.deepEqual({ ...parseRedisUrl('redis://10.0.0.5:7000/3'), url: '' }, { host: '10.0.0.5', port: 7000, db: 3, username: undefined, password: undefined, tls: false, url: '' });
  await assert.rejects(createRedisBackend('http://127.0.0.1:6379'), /scheme must be redis/);
});

test('Redis unreachable at start: the search and the worker fail with a clear error instead of hanging', { timeout: 20_000 }, async () => {
  const refused = await freePort(); // nothing listens there
  await assert.rejects(createRedisBackend(`redis://127.0.0.1:${refused}`, { log: quiet }),
    new RegExp(`cannot reach Redis at redis://127.0.0.1:${refused} \\(.*ECONNREFUSED`));
  await assert.rejects(startRedisWorker(`redis://127.0.0.1:${refused}`, { limits, log: quiet }), /cannot reach Redis at/);
  // A server that accepts the connection and never answers (a firewall, a wrong service): times out.
  const silent = net.createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as net.AddressInfo).port;
  try {
    await assert.rejects(createRedisBackend(`redis://127.0.0.1:${port}`, { connectTimeoutMs: 1000, log: quiet }),
      /cannot reach Redis at .*no answer within 1000 ms/);
  } finally {
    silent.close();
  }
});

test('nos worker: an unreachable Redis exits 1 with the reason, a bad flag exits 2', { timeout: 30_000 }, async () => {
  const ext = path.extname(__filename);
  const nos = path.join(__dirname, '..', '..', 'src', 'cli', 'nos' + ext);
  const run = (args: string[]) => spawnSync(process.execPath, [...(ext === '.ts' ? ['--import', 'tsx'] : []), nos, 'worker', ...args], { encoding: 'utf8', timeout: 20_000 });
  const port = await freePort();
  const unreachable = run(['--queue', `redis://127.0.0.1:${port}`]);
  assert.equal(unreachable.status, 1, unreachable.stderr);
  assert.match(unreachable.stderr, new RegExp(`cannot reach Redis at redis://127.0.0.1:${port}`));
  const badFlag = run(['--queue', `redis://127.0.0.1:${port}`, '--concurrency', 'two']);
  assert.equal(badFlag.status, 2, badFlag.stderr);
  assert.match(badFlag.stderr, /--concurrency must be an integer from 1 to 1024, got "two"/);
});

const found = findRedisServer();
describe('with a real redis-server', { skip: found.bin ? false : found.reason }, () => {
  let server: RedisServerFixture;
  let queues = 0;
  const nextQueue = () => `failures${++queues}`;
  before(async () => { server = await startRedisServer({ appendonly: true }); });
  after(async () => { await server?.dispose(); });

  test('a database the server does not have is refused by the search and the worker, naming it', { timeout: 20_000 }, async () => {
    // The server has 16 databases (0 to 15); ioredis reported the failed SELECT as an event and served database 0.
    const url = `${server.url.replace(/\/\d+$/, '')}/99999`;
    await assert.rejects(createRedisBackend(url, { log: quiet }), /Redis at redis:\/\/127\.0\.0\.1:\d+\/99999 has no database 99999 \(.*DB index is out of range/);
    await assert.rejects(startRedisWorker(url, { limits, log: quiet }), /has no database 99999/);
  });

  test('kill -9 of a worker mid-job: another worker finishes it, and it is recorded once', { timeout: 60_000 }, async () => {
    const queueName = nextQueue();
    const pidDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-pids-'));
    const workers = await Promise.all([0, 1].map(() => spawnQueueWorker(server.url, ['--queue-name', queueName, ...fastLockArgs])));
    const backend = await createRedisBackend(server.url, { queueName, sweepIntervalMs: 300, log: quiet });
    try {
      const job = fakeJob('kill:0', 'g * v', { sleepMs: 1500, pidDir });
      await backend.submit([job]);
      const pidFile = path.join(pidDir, 'kill_0.pid');
      await waitFor(() => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8') !== '', 'the job to start');
      const childPid = Number(fs.readFileSync(pidFile, 'utf8'));
      const victim = workers.find((w) => w.child.pid === parentPid(childPid))!;
      assert.ok(victim, 'the job runs in a child of one of the two queue workers');
      fs.rmSync(pidFile);
      victim.child.kill('SIGKILL');
      assert.equal(await victim.exited, 'SIGKILL');
      const envelope = await backend.next();
      assert.equal(envelope.jobId, 'kill:0');
      assert.equal(envelope.status, 'ok');
      assert.equal(envelope.reward, fakeReward(job.rule, job.seed));
      assert.equal(envelope.attempt, 2, 'the re-run after a lost worker counts as the second try');
      assert.ok(!envelope.worker.includes(`:${victim.child.pid}:`), `finished by the surviving worker, got ${envelope.worker}`);
      assert.equal(backend.pending(), 0);
      const survivorPid = Number(fs.readFileSync(pidFile, 'utf8'));
      assert.notEqual(parentPid(survivorPid), victim.child.pid);
    } finally {
      await backend.close();
      await stopWorkers(workers);
      fs.rmSync(pidDir, { recursive: true, force: true });
    }
  });

  test('a job that kills every worker that takes it is recorded as crashed after 3 lost workers, so its batch closes', { timeout: 90_000 }, async () => {
    const queueName = nextQueue();
    const pidDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-pids-'));
    const backend = await createRedisBackend(server.url, { queueName, sweepIntervalMs: 300, log: quiet });
    const spawned: WorkerProcessFixture[] = [];
    try {
      await backend.submit([fakeJob('doomed:0', 'g * g', { sleepMs: 20_000, pidDir })]);
      const pidFile = path.join(pidDir, 'doomed_0.pid');
      for (let lost = 1; lost <= 3; lost += 1) {
        const worker = await spawnQueueWorker(server.url, ['--queue-name', queueName, ...fastLockArgs]);
        spawned.push(worker);
        await waitFor(() => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8') !== '', `try ${lost} to start`);
        assert.equal(parentPid(Number(fs.readFileSync(pidFile, 'utf8'))), worker.child.pid);
        fs.rmSync(pidFile);
        worker.child.kill('SIGKILL');
        await worker.exited;
      }
      // The next worker to take it (in this process: quicker to start) finds it over the limit and fails it.
      const last = await startRedisWorker(server.url, { limits, queueName, lockDurationMs: 1000, stalledIntervalMs: 500, log: quiet });
      const envelope = await backend.next().finally(() => last.close());
      assert.equal(envelope.jobId, 'doomed:0');
      assert.equal(envelope.status, 'crashed');
      assert.equal(envelope.reward, 0);
      assert.match(envelope.error ?? '', /stopped answering .*\(after 3 tries\)$/);
      assert.equal(envelope.attempt, 3, 'each lost worker was a try');
      assert.equal(backend.pending(), 0);
    } finally {
      await backend.close();
      await stopWorkers(spawned);
      fs.rmSync(pidDir, { recursive: true, force: true });
    }
  });

  test('Redis restart mid-search: workers and search reconnect, every job recorded once', { timeout: 60_000 }, async () => {
    const queueName = nextQueue();
    const workers = await Promise.all([0, 1].map(() => spawnQueueWorker(server.url, ['--queue-name', queueName, ...fastLockArgs])));
    const backend = await createRedisBackend(server.url, { queueName, sweepIntervalMs: 300, log: quiet });
    try {
      const jobs = ['g', 'm', 'v', 'sign(g) * m', 'adam', 'g * 2'].map((rule, i) => fakeJob(`restart:${i}`, rule, { sleepMs: 400 }));
      await backend.submit(jobs);
      const got = new Map<string, Envelope>();
      const first = await backend.next();
      got.set(first.jobId, first);
      await server.restart(); // appendonly: the queue survives, every connection drops
      for (const [id, e] of await collect(backend, jobs.length - 1)) {
        assert.ok(!got.has(id), `job ${id} returned twice`);
        got.set(id, e);
      }
      assert.equal(backend.pending(), 0);
      for (const job of jobs) {
        assert.equal(got.get(job.id)?.status, 'ok', `${job.id}: ${JSON.stringify(got.get(job.id))}`);
        assert.equal(got.get(job.id)!.reward, fakeReward(job.rule, job.seed));
      }
      // The workers are still serving after the restart.
      await backend.submit([fakeJob('restart:after', 'v * 2')]);
      assert.equal((await backend.next()).status, 'ok');
      for (const w of workers) assert.equal(w.child.exitCode, null, w.output());
    } finally {
      await backend.close();
      await stopWorkers(workers);
    }
  });

  test('a Redis without persistence restarted mid-search: the search enqueues the lost jobs again, nothing is lost', { timeout: 60_000 }, async () => {
    const volatile = await startRedisServer({ appendonly: false });
    const queueName = nextQueue();
    const handle = await startRedisWorker(volatile.url, { limits, queueName, concurrency: 2, lockDurationMs: 2000, stalledIntervalMs: 1000, log: quiet });
    const notes: string[] = [];
    const backend = await createRedisBackend(volatile.url, { queueName, sweepIntervalMs: 300, log: (line) => notes.push(line) });
    try {
      const jobs = ['g', 'm', 'v', 'sign(g) * m'].map((rule, i) => fakeJob(`volatile:${i}`, rule, { sleepMs: 300 }));
      await backend.submit(jobs);
      const first = await backend.next();
      await volatile.restart(); // every queued job and the events stream are gone
      const got = await collect(backend, jobs.length - 1);
      got.set(first.jobId, first);
      assert.equal(got.size, jobs.length);
      for (const job of jobs) assert.equal(got.get(job.id)!.reward, fakeReward(job.rule, job.seed));
      assert.ok(notes.some((line) => /no longer has \d+ pending job\(s\); enqueuing them again/.test(line)), notes.join('\n'));
    } finally {
      await backend.close();
      await handle.close();
      await volatile.dispose();
    }
  });

  test('a worker without the dataset gives the job back for another machine; after the last try it is recorded as error', { timeout: 30_000 }, async () => {
    const queueName = nextQueue();
    const handle = await startRedisWorker(server.url, { limits, queueName, name: 'bare-machine', log: quiet });
    const backend = await createRedisBackend(server.url, { queueName, backoffMs: 50, sweepIntervalMs: 300, log: quiet });
    try {
      const job = { ...fakeJob('nodata:0', 'g'), data: { path: path.join(os.tmpdir(), 'nos-no-such-dataset') } };
      await backend.submit([job]);
      const envelope = await backend.next();
      assert.equal(envelope.status, 'error');
      assert.equal(envelope.reward, 0);
      assert.equal(envelope.attempt, 2, 'tried twice before giving up');
      assert.match(envelope.error ?? '', /the dataset .*nos-no-such-dataset is not on worker bare-machine/);
    } finally {
      await backend.close();
      await handle.close();
    }
  });

  test('a password and a database number in the URL are used; a wrong password is a clear error', { timeout: 30_000 }, async () => {
    const guarded = await startRedisServer({ password: 's3cret/pw' });
    const url = `redis://:${encodeURIComponent('s3cret/pw')}@127.0.0.1:${guarded.port}/3`;
    try {
      await assert.rejects(createRedisBackend(`redis://:wrong@127.0.0.1:${guarded.port}/3`, { log: quiet }),
        /cannot reach Redis at redis:\/\/:\*\*\*@127.0.0.1:\d+\/3 \(.*(WRONGPASS|invalid username-password).*check the user and password in --queue/);
      const queueName = nextQueue();
      const handle = await startRedisWorker(url, { limits, queueName, log: quiet });
      const backend = await createRedisBackend(url, { queueName, log: quiet });
      try {
        await backend.submit([fakeJob('auth:0', 'sign(g)')]);
        assert.equal((await backend.next()).status, 'ok');
        const queue = new Queue(queueName, { connection: { host: '127.0.0.1', port: guarded.port, password: 's3cret/pw', db: 3 } });
        try {
          assert.equal(await queue.getJobState(toBullJobId('auth:0')), 'completed', 'the job lives in database 3');
        } finally {
          await queue.close();
        }
      } finally {
        await backend.close();
        await handle.close();
      }
    } finally {
      await guarded.dispose();
    }
  });

  test('stopping the search and a worker while Redis is down does not hang', { timeout: 30_000 }, async () => {
    const doomed = await startRedisServer();
    try {
      const notes: string[] = [];
      const handle = await startRedisWorker(doomed.url, { limits, queueName: 'down', closeGraceMs: 500, log: (line) => notes.push(line) });
      const backend = await createRedisBackend(doomed.url, { queueName: 'down', closeGraceMs: 500, log: quiet });
      await backend.submit([fakeJob('down:0', 'g')]);
      assert.equal((await backend.next()).status, 'ok');
      await doomed.stop();
      // The test's own timeout is the "does not hang" check; closing may or may not need its 0.5 s grace (it logs
      // when it gives up on Redis), so the note is not required, only a clean end: nothing running, the job counted.
      await Promise.all([backend.close(), handle.close()]);
      assert.equal(handle.running, 0, notes.join('\n'));
      assert.equal(handle.finished, 1, notes.join('\n'));
    } finally {
      await doomed.dispose();
    }
  });

  test('two workers racing for one job: it runs once and is recorded once; a second submit of the id is ignored', { timeout: 60_000 }, async () => {
    const queueName = nextQueue();
    const handles = await Promise.all([1, 2].map((i) => startRedisWorker(server.url, { limits, queueName, name: `racer${i}`, log: quiet })));
    const backend = await createRedisBackend(server.url, { queueName, sweepIntervalMs: 300, log: quiet });
    const queue = new Queue(queueName, { connection: { host: '127.0.0.1', port: server.port } });
    try {
      const job = fakeJob('race:0', 'exp(sign(g) * sign(m)) * g', { sleepMs: 200 });
      await Promise.all([backend.submit([job]), backend.submit([job])]);
      assert.equal(backend.pending(), 1);
      const envelope = await backend.next();
      assert.equal(envelope.status, 'ok');
      assert.equal(envelope.attempt, 1);
      assert.equal(handles[0].finished + handles[1].finished, 1, 'exactly one worker ran it');
      // A resumed search submitting the same candidate again takes the stored result; nothing runs twice.
      const resumed = await createRedisBackend(server.url, { queueName, sweepIntervalMs: 200, log: quiet });
      try {
        await resumed.submit([job]);
        const again = await resumed.next();
        assert.deepEqual(again, envelope);
      } finally {
        await resumed.close();
      }
      assert.equal(handles[0].finished + handles[1].finished, 1);
      const stored = await queue.getJob(toBullJobId(job.id));
      assert.equal(stored?.attemptsStarted, 1);
    } finally {
      await queue.close();
      await backend.close();
      await Promise.all(handles.map((h) => h.close()));
    }
  });

  test('reconcile on --resume: takes finished results, waits for running jobs, enqueues missing ones', { timeout: 60_000 }, async () => {
    const queueName = nextQueue();
    const pidDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-pids-'));
    const done = fakeJob('resume:0', 'g');
    const running = fakeJob('resume:1', 'm * v', { sleepMs: 1500, pidDir });
    const missing = fakeJob('resume:2', 'sign(m)');
    const handle = await startRedisWorker(server.url, { limits, queueName, concurrency: 2, log: quiet });
    let first: RedisBackend | null = await createRedisBackend(server.url, { queueName, log: quiet });
    try {
      await first.submit([done, running]);
      const recorded = await first.next();
      assert.equal(recorded.jobId, 'resume:0');
      await waitFor(() => fs.existsSync(path.join(pidDir, 'resume_1.pid')), 'resume:1 to start');
      await first.close(); // the search dies: resume:0 finished but, say, never reached the ledger
      first = null;
      const resumed = await createRedisBackend(server.url, { queueName, sweepIntervalMs: 300, log: quiet });
      try {
        const report = await resumed.reconcile([done, running, missing]);
        assert.deepEqual(report, { taken: ['resume:0'], waiting: ['resume:1'], requeued: ['resume:2'] });
        assert.equal(resumed.pending(), 3);
        const got = await collect(resumed, 3);
        assert.deepEqual(got.get('resume:0'), recorded);
        for (const job of [done, running, missing]) assert.equal(got.get(job.id)!.reward, fakeReward(job.rule, job.seed));
        assert.equal(handle.finished, 3, `each job ran once: ${JSON.stringify([...got.values()])}`);
      } finally {
        await resumed.close();
      }
    } finally {
      await first?.close();
      await handle.close();
      fs.rmSync(pidDir, { recursive: true, force: true });
    }
  });

  test('SIGTERM: the worker finishes its running job, takes no new one, and exits 0; a second SIGTERM hands jobs back', { timeout: 60_000 }, async () => {
    const queueName = nextQueue();
    const pidDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-pids-'));
    const backend = await createRedisBackend(server.url, { queueName, sweepIntervalMs: 300, log: quiet });
    const stopping = await spawnQueueWorker(server.url, ['--queue-name', queueName, ...fastLockArgs]);
    let replacement: WorkerProcessFixture | null = null;
    try {
      const slow = fakeJob('term:0', 'g * m * v', { sleepMs: 1200, pidDir });
      await backend.submit([slow]);
      await waitFor(() => fs.existsSync(path.join(pidDir, 'term_0.pid')), 'term:0 to start');
      stopping.child.kill('SIGTERM');
      await waitFor(() => stopping.output().includes('taking no new job'), 'the worker to acknowledge SIGTERM');
      await backend.submit([fakeJob('term:1', 'sign(g)')]);
      const first = await backend.next();
      assert.equal(first.jobId, 'term:0');
      assert.equal(first.status, 'ok');
      assert.equal(await stopping.exited, 0);
      assert.equal(backend.pending(), 1, 'the stopping worker took no new job');

      // A second worker takes term:1; a long job on it is handed back by two SIGTERMs and finished by a third worker.
      replacement = await spawnQueueWorker(server.url, ['--queue-name', queueName, ...fastLockArgs]);
      assert.equal((await backend.next()).jobId, 'term:1');
      const handedBack = fakeJob('term:2', 'exp(g) * m', { sleepMs: 30_000, pidDir });
      await backend.submit([handedBack]);
      await waitFor(() => fs.existsSync(path.join(pidDir, 'term_2.pid')), 'term:2 to start');
      replacement.child.kill('SIGTERM');
      await waitFor(() => replacement!.output().includes('taking no new job'), 'the first SIGTERM');
      replacement.child.kill('SIGTERM');
      assert.equal(await replacement.exited, 0);
      const queue = new Queue(queueName, { connection: { host: '127.0.0.1', port: server.port } });
      try {
        assert.equal(await queue.getJobState(toBullJobId('term:2')), 'waiting', 'handed back to the queue at once');
      } finally {
        await queue.close();
      }
      assert.equal(backend.pending(), 1);
    } finally {
      await backend.close();
      await stopWorkers([stopping, ...(replacement ? [replacement] : [])]);
      fs.rmSync(pidDir, { recursive: true, force: true });
    }
  });
  test('nos worker --device cuda on a GPU that cannot train (the control rule fails too) hands the job back untried and exits 1', { timeout: 60_000 }, async (t) => {
    // A GPU the up-front check takes (the fake driver: a context and a kernel load work) on which no rule trains.
    const fake = buildFakeCudaEnv();
    if (!fake) return t.skip('no C compiler for the fake CUDA driver');
    const queueName = nextQueue();
    const backend = await createRedisBackend(server.url, { queueName, sweepIntervalMs: 300, log: quiet });
    let broken: WorkerProcessFixture | undefined;
    try {
      // Inside the try: a worker that fails to start must not leave the backend open (its connections kept the test
      // file's process alive for ever).
      broken = await spawnQueueWorker(server.url, ['--queue-name', queueName, '--device', 'cuda', ...fastLockArgs], { ...process.env, ...fake.env });
      // Every rule text holding a 'g' crashes its worker, the control rule 'sgd' too: a GPU on which nothing trains.
      await backend.submit([fakeJob('gpu:0', 'g * m', { faults: { crash: ['g'] } })]);
      assert.equal(await broken.exited, 1, broken.output());
      assert.match(broken.output(), /serving queue .* with 256 slot\(s\)/, 'on a GPU, by default as many rules as keep its engine busy');
      assert.match(broken.output(), /stopping: gpu pool: the GPU cannot train even the control rule sgd alone .*; its jobs go back to the queue for other workers\n/);
      const queue = new Queue(queueName, { connection: { host: '127.0.0.1', port: server.port } });
      try {
        const id = toBullJobId('gpu:0');
        assert.equal(await queue.getJobState(id), 'waiting', 'handed back to the queue');
        assert.equal((await queue.getJob(id))?.attemptsMade, 0, 'with no try of the job spent');
      } finally {
        await queue.close();
      }
      assert.equal(backend.pending(), 1, 'nothing recorded');
    } finally {
      await backend.close();
      if (broken) await stopWorkers([broken]);
    }
  });
});
