// Worker for worker-threads.test.ts: runs an optimizer inside a worker thread and posts the parameters back.
import { parentPort, workerData } from 'node:worker_threads';
import { createOptimizer } from '../../src/runtime/optimizer';

if (parentPort) {
  const { rule, cacheDir, sizes, steps } = workerData as { rule: string; cacheDir: string; sizes: number[]; steps: number };
  const opt = createOptimizer(rule, { lr: 0.01, cacheDir, threads: 2 });
  const params = sizes.map((n) => Float32Array.from({ length: n }, (_, i) => Math.cos(i)));
  for (let t = 0; t < steps; t++) opt.step(params, sizes.map((n) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.3 + t))));
  parentPort.postMessage({ device: opt.device, params });
}
