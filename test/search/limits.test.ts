// Limits that parse can run: every flag, protocol field and stored setting is range-checked with the bounds the job
// processes enforce (src/search/limits.ts), and refused with exit 2 naming the flag or field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MAX_PROTOCOL_SECONDS, loadProtocol } from '../../src/runtime/child/protocol';
import { MAX_RSS_MB, MAX_TIMEOUT_MS, MIN_RSS_MB, runLimitsProblem } from '../../src/search/limits';
import { defaultLimits, validateConfig } from '../../src/search/search-config';
import { WorkerProcess } from '../../src/search/worker-process';
import { fakeConfig } from './fixtures/stand-ins';
import { nosCaptured } from '../support/cli-capture';

/** `nos ...args` in this process (only calls that fail before anything starts). */
const nos = nosCaptured;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-limits-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('limits: the flags of nos search, nos worker and nos eval refuse what a job cannot run, naming the flag (exit 2)', async () => {
  const out = path.join(dir, 'never');
  const queue = ['--queue', 'redis://127.0.0.1:1'];
  const cases: Array<[string[], RegExp]> = [
    [['search', '--max-rss', '1e308'], /--max-rss must be a number from 64 to 1048576, got "1e308"/], // was: exit 0, every rule crashed
    [['search', '--max-rss', '1'], /--max-rss must be a number from 64 to 1048576, got "1"/],
    [['search', '--timeout', '0.0001'], /--timeout must be a number from 0.001 to 2147483, got "0.0001"/],
    [['search', '--timeout', 'Infinity'], /--timeout must be a number from 0.001 to 2147483, got "Infinity"/],
    [['search', '--workers', '100000'], /--workers must be an integer from 1 to 1024, got "100000"/],
    [['worker', ...queue, '--max-rss', '1'], /--max-rss must be a number from 64 to 1048576, got "1"/], // was: every job failed on the search side
    [['worker', ...queue, '--max-rss', '1e308'], /--max-rss must be a number from 64 to 1048576, got "1e308"/],
    [['worker', ...queue, '--concurrency', '100000'], /--concurrency must be an integer from 1 to 1024, got "100000"/],
    [['worker', ...queue, '--lock-duration', '0'], /--lock-duration must be a number from 0.001 to 2147483, got "0"/],
    [['eval', 'sgd', '--threads', '100000'], /--threads must be an integer from 1 to 256, got "100000"/],
    [['eval', 'sgd', '--device', 'cuda', '--timeout', '0'], /--timeout must be a number from 0.001 to 2147483, got "0"/],
    [['eval', 'sgd', '--timeout', '5'], /--timeout applies to --device cuda only \(on the CPU a run stops at the protocol's maxSeconds\)/],
  ];
  for (const [args, message] of cases) {
    const r = await nos(args[0] === 'search' ? [...args, '--protocol', 'fake', '--out', out] : args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  assert.equal(fs.existsSync(out), false);
});

test('limits: a protocol file whose time cap or threads cannot run is refused, naming the field (exit 2)', async () => {
  for (const [field, value, message] of [
    ['maxSeconds', 1e308, /\/maxSeconds must be <= 2147483/], // was: a timeout of Infinity, stored as null: no resume
    ['threads', 100000, /\/threads must be <= 256/], // was: never started training
  ] as const) {
    const file = path.join(dir, `${field}.json`);
    fs.writeFileSync(file, JSON.stringify({ extends: 'quick', [field]: value }));
    assert.throws(() => loadProtocol(file), message);
    const r = await nos(['search', '--protocol', file, '--out', path.join(dir, `p-${field}`)]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`--protocol ${file.replace(/[.]/g, '\\.')}: protocol file .*${message.source}`));
  }
  // At the bound, the job's derived time limit is still one a timer can wait, and JSON keeps it.
  const longest = defaultLimits({ ...loadProtocol('quick'), maxSeconds: MAX_PROTOCOL_SECONDS });
  assert.equal(longest.timeoutMs, MAX_TIMEOUT_MS);
  assert.equal(JSON.parse(JSON.stringify(longest)).timeoutMs, MAX_TIMEOUT_MS);
});

test('limits: one set of bounds for flags, stored settings and the job process itself', () => {
  for (const [limits, ok] of [
    [{ timeoutMs: 1, maxRssMb: MIN_RSS_MB }, true], [{ timeoutMs: MAX_TIMEOUT_MS, maxRssMb: MAX_RSS_MB }, true],
    [{ timeoutMs: 0, maxRssMb: 256 }, false], [{ timeoutMs: MAX_TIMEOUT_MS + 1, maxRssMb: 256 }, false],
    [{ timeoutMs: 1000, maxRssMb: MIN_RSS_MB - 1 }, false], [{ timeoutMs: 1000, maxRssMb: MAX_RSS_MB + 1 }, false],
    [{ timeoutMs: NaN, maxRssMb: 256 }, false], [{ timeoutMs: null, maxRssMb: 256 }, false], [{ timeoutMs: 1000, maxRssMb: '256' }, false],
  ] as const) {
    const where = JSON.stringify(limits);
    assert.equal(runLimitsProblem(limits) === null, ok, where);
    if (ok) {
      assert.doesNotThrow(() => new WorkerProcess('w', limits as never), where);
      assert.doesNotThrow(() => validateConfig(fakeConfig({ limits: limits as never })), where);
    } else {
      assert.throws(() => new WorkerProcess('w', limits as never), /worker w limits: (timeoutMs|maxRssMb) must be/, where);
      assert.throws(() => validateConfig(fakeConfig({ limits: limits as never })), /search config: limits\.(timeoutMs|maxRssMb) must be/, where);
    }
  }
  // A folder written before the bounds (a timeout of Infinity stored as null) names the field on --resume.
  assert.throws(() => validateConfig(fakeConfig({ limits: { timeoutMs: null as never, maxRssMb: 4096 } })), /limits\.timeoutMs must be > 0 and at most 2147483647 \(ms, what a timer can wait\), got null/);
});
