// `nos worker` flags: durations a timer cannot wait are refused before anything connects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../../../src/cli/nos';

test('nos worker: --timeout, --lock-duration and --stalled-interval past 2147483 s (24.8 days) exit 2', async () => {
  for (const flag of ['--timeout', '--lock-duration', '--stalled-interval']) {
    let stderr = '';
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string) => { stderr += chunk; return true; }) as typeof process.stderr.write;
    let code: number;
    try {
      code = await main(['node', 'nos', 'worker', '--queue', 'redis://127.0.0.1:1', flag, '3000000']);
    } finally {
      process.stderr.write = write;
    }
    assert.equal(code, 2, flag);
    assert.match(stderr, new RegExp(`${flag} must be a number from 0.001 to 2147483, got "3000000"`));
  }
});
