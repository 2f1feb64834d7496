// `nos transfer`: a quick run on tiny data (table, files, progress), a second run continuing the folder, bad input.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tinyText } from '../../transfer/tiny-data';
import { nosCaptured } from '../../support/cli-capture';
import { runSearch } from '../../../src/search/search-loop';
import { buildReport } from '../../../src/search/report';
import { fakeConfig, standInDeps } from '../../search/fixtures/stand-ins';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-transfer-cli-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const text = path.join(dir, 'corpus.txt');
fs.writeFileSync(text, tinyText(2000));

const nos = nosCaptured;

test('nos transfer --quick: ranks the rule and the baselines per task, writes the report, and continues a folder', async () => {
  const out = path.join(dir, 'run');
  const args = ['transfer', 'powersign', '--baselines', 'sgd,adam', '--tasks', 'rosenbrock,lm', '--quick', '--text', text, '--seeds', '2', '--lrs', '1e-3,1e-2', '--out', out];
  const first = await nos(args);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stderr, /^starting .*run: 3 optimizers \(powersign, sgd, adam\) on rosenbrock, lm, seeds 0\.\.1, quick sizes$/m);
  assert.match(first.stderr, /^run 1\/24: rosenbrock powersign tune lr 1e-3 \| \d+s elapsed \| ETA \S+$/m);
  assert.match(first.stdout, /rosenbrock: mean final distance .* \(lower is better\), seeds 0, 1$/m);
  assert.match(first.stdout, /^ {2}rank +optimizer +loss\/char +sd +tuned lr +status$/m);
  assert.match(first.stdout, /^ {2}1 +(powersign|sgd|adam) +\d\.\d+ /m);
  assert.match(first.stdout, /24 runs done now, 0 found done in the folder/);
  for (const f of ['runs.jsonl', 'summary.md', 'summary.json', 'rosenbrock.svg', 'lm.svg', 'rosenbrock-classic.svg', 'rosenbrock-far.svg']) {
    assert.ok(fs.existsSync(path.join(out, f)), f);
  }
  const md = fs.readFileSync(path.join(out, 'summary.md'), 'utf8');
  assert.ok(md.includes(`\`nos transfer powersign --tasks rosenbrock,lm --baselines sgd,adam --seeds 2 --quick --text ${text} --lrs 0.001,0.01 --out ${out}\``), md.slice(0, 300));
  const again = await nos(args);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /^continuing /m);
  assert.match(again.stdout, /0 runs done now, 24 found done in the folder/);
});

test('nos transfer: bad input is refused with exit 2 before anything runs', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--tasks', 'rosenbrock,mnist'], /--tasks: unknown task 'mnist': expected some of rosenbrock, convnet-large, lm/],
    [['--baselines', 'sgd,lion'], /unknown baseline 'lion': expected some of sgd, momentum, adam, rmsprop/],
    [['exp(sign(g)*sgn(m))*g'], /unknown name 'sgn'/],
    [['--seeds', '0'], /--seeds must be an integer from 1 to 100, got "0"/],
    [['--lrs', '1e-3,-1'], /--lrs takes comma-separated learning rates > 0/],
    [['--tasks', 'lm', '--text', path.join(dir, 'missing.txt')], /missing\.txt: no such file or folder/],
    [['--out', ''], /--out must name a folder/],
    [['--baselines', ''], /nothing to compare/],
    // Were: a rate that is 0 as a float32, the default data or corpus, and ENOENT with exit 1 after loading the tasks.
    [['--lrs', '1e-3,1e-50'], /--lrs takes comma-separated learning rates > 0/],
    [['--tasks', 'lm', '--text', ''], /--text must name a file or folder, got ""/],
    [['--tasks', 'convnet-large', '--data', ' '], /--data must name a folder or an \.npz file, got " "/],
    [['--out', '/proc/nos-transfer-test'], /^nos: --out \/proc\/nos-transfer-test: cannot create the folder: no such file or directory \(ENOENT\)\n$/],
    [['--out', path.join(text, 'sub')], /^nos: --out \S+corpus\.txt\/sub: cannot create the folder: not a directory \(ENOTDIR\)\n$/],
    [['--seeds', '1', '--seeds', '2'], /^error: option '--seeds <n>' is given twice \("1", then "2"\): give it once\n/],
    [['--timeout', '0'], /--timeout must be a number from 0\.001 to \d+, got "0"/],
    [['--timeout', 'soon'], /--timeout must be a number from 0\.001 to \d+, got "soon"/],
  ];
  for (const [extra, message] of cases) {
    const out = path.join(dir, 'bad');
    // Each case replaces the base command's flag (a flag given twice is an error of its own).
    const base = extra.includes('--tasks') ? [] : ['--tasks', 'rosenbrock'];
    const r = await nos(['transfer', '--quick', ...base, ...(extra.includes('--out') ? [] : ['--out', out]), ...extra]);
    assert.equal(r.code, 2, `${extra.join(' ')}: exit ${r.code}, ${r.stderr}`);
    assert.match(r.stderr, message, extra.join(' '));
    assert.ok(!fs.existsSync(path.join(out, 'runs.jsonl')), `${extra.join(' ')} ran nothing`);
  }
});

test('nos transfer --timeout: runs past it are recorded as timed out and said so; the same command keeps them', async () => {
  const out = path.join(dir, 'limited');
  // 1 ms: no language-model run (an onnxruntime step or more) finishes inside it, so every run times out.
  const args = ['transfer', 'powersign', '--baselines', 'sgd', '--tasks', 'lm', '--quick', '--text', text, '--seeds', '1', '--lrs', '1e-2,1e-1', '--timeout', '0.001', '--out', out];
  const first = await nos(args);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stderr, /seeds 0\.\.0, quick sizes, at most 0\.001 s per run$/m);
  assert.match(first.stderr, /^ {2}timed out in \d+\.\d s$/m);
  assert.match(first.stdout, /^ {2}- +powersign +- +- +- +timed out at every rate$/m);
  assert.match(first.stdout, /4 runs done now, 0 found done in the folder/);
  const md = fs.readFileSync(path.join(out, 'summary.md'), 'utf8');
  assert.ok(md.includes(`--lrs 0.01,0.1 --timeout 0.001 --out ${out}\``), md.slice(0, 300));
  const again = await nos(args);
  assert.match(again.stdout, /0 runs done now, 4 found done in the folder/);
});

test('nos transfer --from a search folder compares its best rules (--top), named as text in the command that continues', async () => {
  const search = path.join(dir, 'search');
  await runSearch({ outDir: search, config: fakeConfig({ budget: 10 }), deps: standInDeps });
  const ranked = buildReport(search).leaderboard.map((e) => e.rule);
  assert.ok(ranked.length >= 2, `${ranked.length} rules ranked`);
  const out = path.join(dir, 'from-search');
  const r = await nos(['transfer', '--from', search, '--top', '2', '--baselines', '', '--tasks', 'rosenbrock', '--quick', '--seeds', '1', '--lrs', '1e-2', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^from \S+search: the top 2 rules of its leaderboard$/m);
  assert.ok(r.stderr.includes(`  1. ${ranked[0]} (reward `) && r.stderr.includes(`  2. ${ranked[1]} (reward `), r.stderr);
  const runs = fs.readFileSync(path.join(out, 'runs.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual([...new Set(runs.map((run) => run.optimizer))], ranked.slice(0, 2));
  // The report's command names the rules, so continuing takes the same ones whatever the search does next.
  const md = fs.readFileSync(path.join(out, 'summary.md'), 'utf8');
  assert.doesNotMatch(md, /--from/);
  const more = await nos(['transfer', '--from', search, '--top', '50', '--baselines', '', '--tasks', 'rosenbrock', '--quick', '--seeds', '1', '--lrs', '1e-2', '--out', path.join(dir, 'from-all')]);
  assert.equal(more.code, 0, more.stderr);
  assert.match(more.stderr, new RegExp(`the top ${ranked.length} rules of its leaderboard \\(it ranks ${ranked.length}\\)`));
  // Found in review: a rule that starts with '-' was written first in the command that continues, where it reads as a flag.
  const dashed = path.join(dir, 'dashed');
  const minus = await nos(['transfer', '--baselines', '', '--tasks', 'rosenbrock', '--quick', '--seeds', '1', '--lrs', '1e-2', '--out', dashed, '--', '-sign(g)']);
  assert.equal(minus.code, 0, minus.stderr);
  assert.ok(fs.readFileSync(path.join(dashed, 'summary.md'), 'utf8').includes(`--lrs 0.01 --out ${dashed} -- '-sign(g)'\``));
  const cases: Array<[string[], RegExp]> = [
    [['--top', '2'], /--top picks rules of a search's ranking: give --from SEARCH_DIR too/],
    [['--from', dir], /--from \S+: not a search folder \(no ledger\.jsonl\)/],
    [['--from', search, '--top', '0'], /--top must be an integer from 1 to 50, got "0"/],
  ];
  for (const [args, message] of cases) {
    const bad = await nos(['transfer', '--tasks', 'rosenbrock', '--quick', '--out', path.join(dir, 'bad-from'), ...args]);
    assert.equal(bad.code, 2, `${args.join(' ')}: ${bad.stderr}`);
    assert.match(bad.stderr, message);
  }
});

const NOS = path.join(__dirname, '..', '..', '..', 'src', 'cli', 'nos' + path.extname(__filename));
const EXEC_ARGV = __filename.endsWith('.ts') ? ['--import', 'tsx'] : [];

test('nos transfer: Ctrl-C keeps the finished runs (exit 130, how to continue), and the same command finishes the rest', async () => {
  const out = path.join(dir, 'interrupted');
  const args = ['transfer', 'addsign', '--baselines', 'momentum', '--tasks', 'lm', '--quick', '--text', text, '--seeds', '2', '--lrs', '1e-2,1e-1', '--out', out];
  const child = spawn(process.execPath, [...EXEC_ARGV, NOS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let sent = false;
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => {
    stderr += d;
    // After the second finished run, while the third is under way.
    if (!sent && (stderr.match(/^ {2}ok /gm) ?? []).length >= 2) { sent = true; child.kill('SIGINT'); }
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 130, stderr);
  assert.match(stderr, /stopping: every finished run is in runs\.jsonl/);
  assert.match(stdout, /stopped early; continue with: nos transfer addsign --tasks lm --baselines momentum --seeds 2 --quick/);
  const kept = fs.readFileSync(path.join(out, 'runs.jsonl'), 'utf8').trimEnd().split('\n').length;
  assert.ok(kept >= 2 && kept < 8, `${kept} runs kept`);
  assert.match(fs.readFileSync(path.join(out, 'summary.md'), 'utf8'), /\*\*partial\*\*/);
  const rest = await nos(args);
  assert.equal(rest.code, 0, rest.stderr);
  assert.match(rest.stdout, new RegExp(`${8 - kept} runs done now, ${kept} found done in the folder`));
});

// Found in review: a full disk ended the command with Node's bare error (`nos: ENOSPC: ..., write
// '.../summary.json.PID.tmp'`), left that temporary file for good and did not say how to continue.
test('nos transfer on a full disk: exit 1 naming the file, finished runs kept, no temporary file; the same command finishes', async () => {
  const out = path.join(dir, 'full');
  const args = ['transfer', '--baselines', 'sgd', '--tasks', 'rosenbrock', '--quick', '--seeds', '1', '--lrs', '1e-3,1e-2', '--out', out, '--no-progress'];
  const PRELOAD = path.join(__dirname, '..', '..', 'support', 'full-disk-preload' + path.extname(__filename));
  const preload = __filename.endsWith('.ts') ? ['--import', PRELOAD] : ['--require', PRELOAD];
  const env = { ...process.env, NOS_TEST_FULL_DISK: JSON.stringify({ file: 'summary.json', failAt: 2 }) };
  const child = spawn(process.execPath, [...EXEC_ARGV, ...preload, NOS, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 1, stderr);
  assert.match(stderr, /^nos: could not write \S+summary\.json: no space left on device \(ENOSPC\)$/m);
  assert.match(stderr, /^every run finished before it is in \S+runs\.jsonl; once that is fixed, continue with: nos transfer --tasks rosenbrock --baselines sgd .*--out /m);
  assert.deepEqual(fs.readdirSync(out).filter((n) => /tmp/.test(n)), []);
  assert.equal(fs.readFileSync(path.join(out, 'runs.jsonl'), 'utf8').trimEnd().split('\n').length, 2);
  const rest = await nos(args);
  assert.equal(rest.code, 0, rest.stderr);
  assert.match(rest.stdout, /1 runs done now, 2 found done in the folder/);
});

test('nos transfer: a damaged runs.jsonl, or a folder in its place, is refused with exit 2 before any run', async () => {
  for (const [make, message] of [
    [(f: string) => fs.writeFileSync(f, 'not json\n{}\n'), /runs\.jsonl: line 1 is not a run record; the file was damaged/],
    [(f: string) => fs.mkdirSync(f), /runs\.jsonl: not a file; the log of finished runs must be a file/],
  ] as const) {
    const out = fs.mkdtempSync(path.join(dir, 'damaged-'));
    make(path.join(out, 'runs.jsonl'));
    const r = await nos(['transfer', '--baselines', 'sgd', '--tasks', 'rosenbrock', '--quick', '--out', out, '--no-progress']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.deepEqual(fs.readdirSync(out), ['runs.jsonl']);
  }
});
