// `nos worker` flags: durations a timer cannot wait are refused before anything connects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gpuWorks } from '../../support/gpu';
import { nosCaptured } from '../../support/cli-capture';

test('nos worker: --timeout, --lock-duration and --stalled-interval past 2147483 s (24.8 days) exit 2', async () => {
  for (const flag of ['--timeout', '--lock-duration', '--stalled-interval']) {
    const { code, stderr } = await nosCaptured(['worker', '--queue', 'redis://127.0.0.1:1', flag, '3000000']);
    assert.equal(code, 2, flag);
    assert.match(stderr, new RegExp(`${flag} must be a number from 0.001 to 2147483, got "3000000"`));
  }
});

test('nos worker: an empty --queue-name or one with \':\', an empty --queue-password-file and a repeated --queue exit 2 before connecting', async () => {
  const cases: Array<[string[], RegExp]> = [
    // Were: exit 1 with BullMQ's 'Queue name must be provided' / 'Queue name cannot contain :', naming no flag.
    [['--queue-name', ''], /--queue-name must be a non-empty name without ':', got ""/],
    [['--queue-name', 'nos:a'], /--queue-name must be a non-empty name without ':', got "nos:a"/],
    [['--queue-password-file', ''], /--queue-password-file must name a file, got ""/],
    [['--queue', 'redis://127.0.0.1:2'], /^error: option '--queue <url>' is given twice \("redis:\/\/127\.0\.0\.1:1", then "redis:\/\/127\.0\.0\.1:2"\): give it once\n/],
  ];
  for (const [flags, message] of cases) {
    const { code, stderr } = await nosCaptured(['worker', '--queue', 'redis://127.0.0.1:1', ...flags]);
    assert.equal(code, 2, flags.join(' '));
    assert.match(stderr, message, flags.join(' '));
  }
});

test('nos worker --device cuda without a usable GPU: one line and exit 1 before serving (was: served, exit 1 at the first job)', { skip: gpuWorks() && 'a GPU is here' }, async () => {
  // Redis is not reached: the GPU is checked first (without the check this says 'cannot reach Redis').
  const { code, stderr } = await nosCaptured(['worker', '--queue', 'redis://127.0.0.1:1', '--device', 'cuda']);
  assert.equal(code, 1);
  assert.match(stderr, /^nos: --device cuda: [^\n]+\n$/);
});
