// Child process for native-cpu.test.ts: a threaded step while the system refuses new threads (run under a low
// RLIMIT_NPROC); prints the result, or dies with SIGABRT if the thread pool lets std::system_error reach N-API.
import { createOptimizer } from '../../src/runtime/optimizer';

if (require.main === module) {
  const n = 1 << 22;
  const opt = createOptimizer('sgd', { threads: 64, lr: 1, cacheDir: process.argv[2] });
  const w = new Float32Array(n).fill(1);
  opt.step([w], [new Float32Array(n).fill(0.5)]);
  process.stdout.write(JSON.stringify({ device: opt.device, wrong: w.filter((x) => x !== 0.5).length }));
}
