// End to end: `nos search --queue` through a real Redis, killed with -9 mid-batch and resumed; every rule trained once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startRedisWorker } from '../../src/search/worker-redis';
import { findRedisServer, startRedisServer, type RedisServerFixture } from './redis-server-fixture';

const ext = path.extname(__filename);
const nos = path.join(__dirname, '..', '..', 'src', 'cli', 'nos' + ext);
const nodeArgs = ext === '.ts' ? ['--import', 'tsx'] : [];

interface LedgerLine { type: string; index?: number; candidates?: Array<{ hash: string | null }>; envelope?: { jobId: string } }

function readLedger(file: string): LedgerLine[] {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter((line) => line.trim() !== '').flatMap((line) => {
    try { return [JSON.parse(line) as LedgerLine]; } catch { return []; } // a line cut by the kill
  });
}

const found = findRedisServer();
describe('nos search --queue', { skip: found.bin ? false : found.reason }, () => {
  let server: RedisServerFixture;
  let dir: string;
  before(async () => {
    server = await startRedisServer();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-redis-search-'));
  });
  after(async () => {
    await server?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('killed with -9 mid-batch, then --resume: every candidate has one result and each distinct rule ran once', { timeout: 90_000 }, async () => {
    const protocolFile = path.join(dir, 'fake-slow.json');
    fs.writeFileSync(protocolFile, JSON.stringify({ name: 'fake', sleepMs: 500 }));
    const out = path.join(dir, 'run');
    const ledgerFile = path.join(out, 'ledger.jsonl');
    const worker = await startRedisWorker(server.url, { concurrency: 2, log: () => undefined });
    try {
      const search = spawn(process.execPath, [...nodeArgs, nos, 'search', '--queue', server.url, '--protocol', protocolFile,
        // Every distinct rule one job: no hurdle or equivalence cache deciding without the queue, no funnel training
        // a promoted rule a second time (the funnel's resume has its own test, search-funnel.test.ts).
        '--budget', '15', '--batch-size', '5', '--no-hurdles', '--no-fec', '--fidelity', 'full', '--out', out, '--no-progress'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      search.stdout!.on('data', (c: Buffer) => { output += c.toString(); });
      search.stderr!.on('data', (c: Buffer) => { output += c.toString(); });
      const exited = new Promise((resolve) => search.once('exit', resolve));
      const deadline = Date.now() + 60_000;
      while (!readLedger(ledgerFile).some((r) => r.type === 'result')) {
        assert.ok(Date.now() < deadline, `no result within 60 s: ${output}`);
        assert.equal(search.exitCode, null, `the search ended early: ${output}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      search.kill('SIGKILL'); // jobs of the first batch are still queued or running in Redis
      await exited;

      // Not spawnSync: the queue worker lives in this process and must keep serving while the search runs.
      const resumed = spawn(process.execPath, [...nodeArgs, nos, 'search', '--resume', '--out', out, '--no-progress'],
        { stdio: ['ignore', 'pipe', 'pipe'] });
      let resumedOutput = '';
      resumed.stdout!.on('data', (c: Buffer) => { resumedOutput += c.toString(); });
      resumed.stderr!.on('data', (c: Buffer) => { resumedOutput += c.toString(); });
      const code = await new Promise((resolve) => resumed.once('exit', resolve));
      assert.equal(code, 0, resumedOutput);
      assert.match(resumedOutput, /15 of 15 sampled rules finished/);

      const ledger = readLedger(ledgerFile);
      const results = ledger.filter((r) => r.type === 'result');
      assert.equal(results.length, 15);
      assert.equal(new Set(results.map((r) => r.index)).size, 15, 'one result per candidate');
      const distinct = new Set(ledger.filter((r) => r.type === 'batch').flatMap((b) => b.candidates!.map((c) => c.hash)).filter((h) => h !== null));
      // nos search confirms its top rules (--confirm 10 by default) with two more seeds: one training per confirm record.
      const confirms = ledger.filter((r) => r.type === 'confirm').length;
      assert.ok(confirms > 0 && confirms % 2 === 0, `the top rules confirmed with two more seeds each (${confirms} confirm records)`);
      assert.equal(worker.finished, distinct.size + confirms, 'each distinct rule trained exactly once across the kill, then each confirmation once');
    } finally {
      await worker.close();
    }
  });
});
