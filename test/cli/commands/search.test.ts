// `nos search` flags and --out checked before anything is written: bad ones exit 2 with one line naming the problem.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadProtocol } from '../../../src/runtime/child/protocol';
import { loadSearchSpace } from '../../../src/controller/search-space';
import { gpuWorks } from '../../support/gpu';
import { nosCaptured } from '../../support/cli-capture';

/** `nos ...args` in this process (only for calls that fail before a search starts). */
const nos = nosCaptured;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-search-flags-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('nos search: a bad --queue URL is refused when parsed, before a search folder is made', async () => {
  const out = path.join(dir, 'queued');
  const r = await nos(['search', '--protocol', 'fake', '--queue', 'http://host:6379', '--out', out]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--queue URL "http:\/\/host:6379": scheme must be redis:\/\/ or rediss:\/\//);
  assert.equal(fs.existsSync(out), false, 'no folder is made for a bad --queue');
});

test('nos search: --seed above 2^32 - 1 is refused as a flag', async () => {
  const r = await nos(['search', '--protocol', 'fake', '--seed', '4294967296', '--out', path.join(dir, 'seeded')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--seed must be an integer from 0 to 4294967295, got "4294967296"/);
});

test('nos search: --out that is a file, or under a file, exits 2 with one line', async () => {
  const file = path.join(dir, 'a-file');
  fs.writeFileSync(file, 'x');
  const r = await nos(['search', '--protocol', 'fake', '--out', file]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, `nos: --out ${file}: is a file, not a folder\n`);
  const under = await nos(['search', '--protocol', 'fake', '--out', path.join(file, 'sub', 'run')]);
  assert.equal(under.code, 2);
  assert.equal(under.stderr, `nos: --out ${path.join(file, 'sub', 'run')}: ${file} is a file, not a folder\n`);
});

test('nos search: --resume of a folder without a search, and a new search in a search folder, exit 2', async () => {
  const empty = fs.mkdtempSync(path.join(dir, 'empty-'));
  const r = await nos(['search', '--resume', '--out', empty]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /holds no search to resume \(no ledger\.jsonl\)/);
  fs.writeFileSync(path.join(empty, 'ledger.jsonl'), '{"type":"start"}\n');
  const again = await nos(['search', '--protocol', 'fake', '--out', empty]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already holds a search \(ledger\.jsonl\); continue it with --resume/);
});

test('nos search: an --out that cannot be written exits 2 naming why', { skip: process.getuid?.() === 0 && 'root writes anywhere' }, async () => {
  const locked = fs.mkdtempSync(path.join(dir, 'locked-'));
  fs.chmodSync(locked, 0o500);
  try {
    const r = await nos(['search', '--protocol', 'fake', '--out', path.join(locked, 'run')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot create the folder: cannot write in .*\(permission denied\)/);
  } finally {
    fs.chmodSync(locked, 0o700);
  }
});

test('nos search --device cuda without a usable GPU: one line before the search starts, exit 1', { skip: gpuWorks() && 'a GPU is here' }, async () => {
  const out = path.join(dir, 'on-cuda');
  const r = await nos(['search', '--device', 'cuda', '--out', out]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^nos: --device cuda: [^\n]+\n$/);
  assert.equal(fs.existsSync(out), false, 'no search is started');
});

test('nos search --resume checks the data again: a dataset that is gone is one error (exit 2), not an error per rule', async () => {
  const out = fs.mkdtempSync(path.join(dir, 'moved-data-'));
  const gone = path.join(dir, 'data-that-was-moved');
  const config = {
    budget: 1, batchSize: 1, strategy: 'random', strategyOptions: { batchSize: 1 }, space: loadSearchSpace('small'), spaceSource: 'small',
    protocol: loadProtocol('quick'), data: { path: gone }, device: 'cpu', seed: 1, workers: 1, limits: { timeoutMs: 60000, maxRssMb: 2048 },
  };
  fs.writeFileSync(path.join(out, 'ledger.jsonl'), JSON.stringify({ type: 'start', time: new Date().toISOString(), runId: 'random-1-test', config }) + '\n');
  const r = await nos(['search', '--resume', '--out', out]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`^nos: --data ${gone}: no such file or folder.*\\(a resumed search reads the data where it started; put it back there\\)\n$`));
  assert.equal(fs.readFileSync(path.join(out, 'ledger.jsonl'), 'utf8').split('\n').length, 2, 'nothing was added to the ledger');
});

test('nos search --queue with Redis unreachable: exit 1 naming the URL, and no search folder left behind', async () => {
  const out = path.join(dir, 'unreachable-queue');
  const r = await nos(['search', '--protocol', 'fake', '--queue', 'redis://127.0.0.1:1', '--out', out]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^nos: cannot reach Redis at redis:\/\/127\.0\.0\.1:1 /);
  assert.equal(fs.existsSync(out), false);
});

test('nos search --out "" is refused, not a search written into the current folder', async () => {
  const cwd = process.cwd();
  const here = fs.mkdtempSync(path.join(dir, 'cwd-'));
  process.chdir(here); // (this file runs in its own process)
  try {
    const r = await nos(['search', '--protocol', 'fake', '--budget', '1', '--out', '']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'nos: --out must name a folder, got ""\n');
    assert.deepEqual(fs.readdirSync(here), []);
  } finally {
    process.chdir(cwd);
  }
});

test('nos search --timeout past what a timer can wait (24.8 days) is refused as a flag', async () => {
  const r = await nos(['search', '--protocol', 'fake', '--timeout', '3000000', '--out', path.join(dir, 'long')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--timeout must be a number from 0.001 to 2147483, got "3000000"/);
});

test('nos search: bad --ppo settings, --ppo for another strategy and a negative --confirm exit 2 before a folder is made', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--ppo', 'learningrate=1e-3'], /--ppo: unknown setting 'learningrate' \(known: learningRate, /],
    [['--ppo', 'clip=2'], /--ppo option clip: must be in \(0, 1\), got 2/],
    [['--ppo', 'batchSize=10'], /--ppo: set the batch with --batch-size, not batchSize/],
    [['--ppo', 'paper', '--strategy', 'random'], /--ppo sets the PPO controller; it does not apply to --strategy random/],
    [['--confirm', '-1'], /--confirm must be an integer >= 0, got "-1"/],
  ];
  for (const [flags, message] of cases) {
    const out = path.join(dir, 'ppo-flags');
    const r = await nos(['search', '--protocol', 'fake', '--out', out, ...flags]);
    assert.equal(r.code, 2, flags.join(' '));
    assert.match(r.stderr, message);
    assert.equal(fs.existsSync(out), false);
  }
});

test('nos search: a flag given twice is refused (exit 2), not the last one silently kept', async () => {
  const cases: Array<[string[], string]> = [
    [['--budget', '1', '--budget', '2'], `option '--budget <n>' is given twice ("1", then "2")`],
    [['--budget=1', '--budget', '2'], `option '--budget <n>' is given twice ("1", then "2")`],
    [['--space', 'small', '--space', 'adaptive'], `option '--space <name|file>' is given twice ("small", then "adaptive")`],
  ];
  for (const [flags, message] of cases) {
    const out = path.join(dir, 'twice');
    const r = await nos(['search', '--protocol', 'fake', '--out', out, ...flags]);
    assert.equal(r.code, 2, flags.join(' '));
    assert.ok(r.stderr.startsWith(`error: ${message}: give it once\n`), r.stderr);
    assert.equal(fs.existsSync(out), false);
  }
});

test('nos search --out followed by another flag: exit 2 naming the missing value, no folder named after the flag', async () => {
  const cwd = process.cwd();
  const here = fs.mkdtempSync(path.join(dir, 'flag-as-value-'));
  process.chdir(here); // (this file runs in its own process)
  try {
    // Was: a search ran in ./--no-progress.
    const r = await nos(['search', '--protocol', 'fake', '--budget', '1', '--workers', '1', '--confirm', '0', '--out', '--no-progress']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: option '--out <dir>' is missing its value: '--no-progress' is a flag\n/);
    const short = await nos(['search', '--protocol', 'fake', '--out', path.join(dir, 'short-flag'), '--space', '-h']);
    assert.equal(short.code, 2);
    assert.match(short.stderr, /^error: option '--space <name\|file>' is missing its value: '-h' is a flag\n/);
    assert.deepEqual(fs.readdirSync(here), []);
  } finally {
    process.chdir(cwd);
  }
});

test('nos search: a blank number, --data or --queue-password-file is refused as a flag (was: --seed "" ran seed 0)', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--seed', ''], /--seed must be an integer from 0 to 4294967295, got ""/],
    [['--confirm', ' '], /--confirm must be an integer >= 0, got " "/],
    [['--timeout', ''], /--timeout must be a number from 0.001 to 2147483, got ""/],
    [['--data', ''], /--data must name a folder or an \.npz file, got ""/],
    [['--queue', 'redis://127.0.0.1:1', '--queue-password-file', ''], /--queue-password-file must name a file, got ""/],
  ];
  for (const [flags, message] of cases) {
    const out = path.join(dir, 'blank');
    const r = await nos(['search', '--protocol', 'fake', '--out', out, ...flags]);
    assert.equal(r.code, 2, flags.join(' '));
    assert.match(r.stderr, message, flags.join(' '));
    assert.equal(fs.existsSync(out), false, flags.join(' '));
  }
});

test('nos search --resume of a folder whose ledger.jsonl is a folder: exit 2 naming it (was: EISDIR, exit 1)', async () => {
  const out = fs.mkdtempSync(path.join(dir, 'ledger-folder-'));
  fs.mkdirSync(path.join(out, 'ledger.jsonl'));
  const r = await nos(['search', '--resume', '--out', out]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, `nos: --out ${out}: ledger.jsonl is not a file: holds no search to resume\n`);
});

test('nos search --resume on a ledger damaged from outside: exit 2 (a bad file) naming the line', { timeout: 60_000 }, () => {
  const out = path.join(dir, 'damaged');
  const ext = path.extname(__filename);
  const cli = path.join(__dirname, '..', '..', '..', 'src', 'cli', 'nos' + ext);
  const run = (args: string[]) => spawnSync(process.execPath, [...(ext === '.ts' ? ['--import', 'tsx'] : []), cli, 'search', ...args, '--no-progress'],
    { encoding: 'utf8', timeout: 50_000 });
  const first = run(['--protocol', 'fake', '--budget', '2', '--out', out]);
  assert.equal(first.status, 0, first.stderr);
  const ledger = path.join(out, 'ledger.jsonl');
  const lines = fs.readFileSync(ledger, 'utf8').split('\n');
  lines[1] = '{"type": garbage';
  fs.writeFileSync(ledger, lines.join('\n'));
  const resumed = run(['--resume', '--out', out]);
  assert.equal(resumed.status, 2, resumed.stderr);
  assert.match(resumed.stderr, /ledger\.jsonl line 2: not JSON/);
});

test('nos search without a terminal prints its status line on the clock while no result comes', { timeout: 60_000 }, () => {
  const out = path.join(dir, 'quiet');
  const protocol = path.join(dir, 'slow-fake.json');
  fs.writeFileSync(protocol, JSON.stringify({ name: 'fake', sleepMs: 6500 }));
  const ext = path.extname(__filename);
  const cli = path.join(__dirname, '..', '..', '..', 'src', 'cli', 'nos' + ext);
  const r = spawnSync(process.execPath, [...(ext === '.ts' ? ['--import', 'tsx'] : []), cli, 'search', '--protocol', protocol, '--budget', '1',
    '--workers', '1', '--confirm', '0', '--no-hurdles', '--no-fec', '--out', out], { encoding: 'utf8', timeout: 50_000 });
  assert.equal(r.status, 0, r.stderr);
  // Before the one result (6.5 s), the clock printed the line: nothing done yet, one in flight.
  assert.match(r.stderr, /\n {2}0\/1 rules \| - rules\/h \| ETA \? \| best - \| 1 in flight \| none yet\n[\s\S]*\n {2}1\/1 rules \|/);
});
