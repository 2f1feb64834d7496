// `nos eval` flags: bad ones exit 2 with one line naming the flag, before any data is read or any training starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as os from 'node:os';
import { nosCaptured } from '../../support/cli-capture';

const nos = nosCaptured;

test('nos eval: a blank --seed or --data, a flag in place of a value and a flag given twice exit 2 before training', async () => {
  // A protocol file that does not exist: had a flag been accepted, the command would stop there instead of training.
  const missing = path.join(os.tmpdir(), 'nos-eval-cli-no-such-protocol.json');
  const cases: Array<[string[], RegExp]> = [
    [['--seed', ''], /--seed must be an integer from 0 to 4294967295, got ""/], // was: seed 0
    [['--data', ''], /--data must name a folder or an \.npz file, got ""/], // was: "nos: : data directory does not exist"
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
