// The addon in several worker threads at once (each its own Node environment): same results as the main thread.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { createOptimizer } from '../../src/runtime/optimizer';

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-workers-test-'));
process.on('exit', () => fs.rmSync(cacheDir, { recursive: true, force: true }));

const probe = path.join(__dirname, 'worker-threads-probe' + path.extname(__filename));

/** A worker running the probe; under tsx (a .ts test) the worker registers tsx's CommonJS hook first. */
function startWorker(data: object): Worker {
  if (!__filename.endsWith('.ts')) return new Worker(probe, { workerData: data });
  return new Worker(`require('tsx/cjs'); require(${JSON.stringify(probe)});`, { eval: true, workerData: data });
}

function runInWorker(data: object): Promise<{ device: string; params: Float32Array[] }> {
  return new Promise((resolve, reject) => {
    const worker = startWorker(data);
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

test('optimizers in two worker threads at once match the main thread', async () => {
  const data = { rule: 'adam', cacheDir, sizes: [70_001, 5], steps: 3 };
  const opt = createOptimizer('adam', { lr: 0.01, cacheDir, threads: 2 });
  const params = data.sizes.map((n) => Float32Array.from({ length: n }, (_, i) => Math.cos(i)));
  for (let t = 0; t < data.steps; t++) opt.step(params, data.sizes.map((n) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.3 + t))));
  const results = await Promise.all([runInWorker(data), runInWorker(data)]);
  for (const r of results) {
    assert.equal(r.device, 'cpu');
    assert.deepEqual(r.params, params);
  }
});
