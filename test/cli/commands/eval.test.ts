// `nos eval` flags: bad ones exit 2 with one line naming the flag, before any data is read or any training starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as os from 'node:os';
import { main } from '../../../src/cli/nos';

/** Runs `nos ...args` in this process (only calls that fail before training); returns its code and output. */
async function nos(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const [out, err] = [process.stdout.write, process.stderr.write];
  process.stdout.write = ((chunk: string) => { stdout += chunk; return true; }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => { stderr += chunk; return true; }) as typeof process.stderr.write;
  try {
    return { code: await main(['node', 'nos', ...args]), stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    process.exitCode = undefined;
  }
}

test('nos eval: a blank --seed or --data, a flag in place of a value and a flag given twice exit 2 before training', async () => {
  // A protocol file that does not exist: had a flag been accepted, the command would stop there instead of training.
  const missing = path.join(os.tmpdir(), 'nos-eval-cli-no-such-protocol.json');
  const cases: Array<[string[], RegExp]> = [
    [['--seed', ''], /--seed must be an integer from 0 to 4294967295, got ""/], // was: seed 0
    [['--data', ''], /--data must name a folder, got ""/], // was: "nos: : data directory does not exist"
    [['--protocol', '--json'], /^error: option '--protocol <paper\|quick\|FILE>' is missing its value: '--json' is a flag\n/],
    [['--seed', '1', '--seed', '2'], /^error: option '--seed <S>' is given twice \("1", then "2"\): give it once\n/],
  ];
  for (const [flags, message] of cases) {
    const r = await nos(['eval', 'adam', ...(flags.includes('--protocol') ? [] : ['--protocol', missing]), ...flags, '--no-progress']);
    assert.equal(r.code, 2, flags.join(' '));
    assert.match(r.stderr, message, flags.join(' '));
    assert.equal(r.stdout, '', flags.join(' '));
  }
});
