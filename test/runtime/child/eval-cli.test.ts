// `nos eval`: registered on a fresh commander program, run on synthetic IDX data, human and JSON output, bad input.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { spawn } from 'node:child_process';
import { evalOutput, formatOutcome, ProgressLine, register } from '../../../src/cli/commands/eval';
import { zipSync } from 'fflate';
import { loadTrainingData } from '../../../src/runtime/child/data';
import { writeBandsIdx } from '../../support/bands-idx';
import { npyBytes } from '../../support/npy-write';
import { gpuWorks } from '../../support/gpu';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-eval-cli-'));
writeBandsIdx(dir, 500, 5, { side: 8, classes: 8, noise: 100, band: 150 });
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const protocolFile = path.join(dir, 'tiny.json');
fs.writeFileSync(protocolFile, JSON.stringify({ extends: 'quick', lrs: [0.01, 0.1], finalEpochs: 2, trainExamples: 300, validationExamples: 100, batchSize: 20 }));

/** Runs `nos eval ...args` in process; returns what it wrote and the error it threw, if any. */
async function runEval(args: string[]): Promise<{ stdout: string; stderr: string; error?: Error & { exitCode?: number } }> {
  const program = new Command('nos').exitOverride().configureOutput({ writeErr: () => undefined });
  register(program);
  let stdout = '';
  let stderr = '';
  evalOutput.stdout = { write: (chunk: string) => { stdout += chunk; return true; } };
  evalOutput.stderr = { write: (chunk: string) => { stderr += chunk; return true; }, isTTY: false };
  try {
    await program.parseAsync(['node', 'nos', 'eval', ...args]);
    return { stdout, stderr };
  } catch (e) {
    return { stdout, stderr, error: e as Error };
  } finally {
    process.exitCode = undefined;
  }
}

test('nos eval prints the sweep, best lr, reward, status and time, with progress on stderr', async () => {
  const r = await runEval(['sgd', '--protocol', protocolFile, '--data', dir, '--seed', '2']);
  assert.equal(r.error, undefined, r.error?.message);
  assert.match(r.stdout, /protocol: tiny \(mlp, v\d+\)/);
  // How nos read the data: its file, the split, the image size and the classes.
  assert.match(r.stdout, /^data: .*train-images-idx3-ubyte: 300 training and 100 held-out examples of 1x8x8, 10 classes$/m); // IDX: 10 classes at least
  assert.match(r.stdout, /^ {2}1e-2 +ok +0\.\d{4} +\d+\.\d{4}/m);
  assert.match(r.stdout, /best lr: +1e-[12]/);
  const reward = Number(/reward: +([\d.]+)/.exec(r.stdout)?.[1]);
  assert.ok(reward > 0.8, `reward ${reward} (chance 0.125)`);
  assert.match(r.stdout, /status: +ok/);
  assert.match(r.stdout, /time: +[\d.]+ s/);
  assert.match(r.stderr, /sweep lr 1e-2 epoch 1: started at [\d.]+s, ETA/);
});

test('nos eval --json prints one JSON object with the outcome', async () => {
  const r = await runEval(['powersign', '--protocol', protocolFile, '--data', dir, '--json', '--no-progress']);
  assert.equal(r.error, undefined, r.error?.message);
  assert.equal(r.stderr, '');
  const o = JSON.parse(r.stdout);
  assert.equal(o.rule, 'powersign');
  assert.equal(o.status, 'ok');
  assert.equal(o.sweep.length, 2);
  assert.ok([0.01, 0.1].includes(o.bestLr));
  assert.ok(o.reward > 0.5 && o.reward <= 1);
  assert.equal(o.protocol.trainExamples, 300);
});

test('nos eval --data FILE.npz: the same images and labels as NumPy arrays (channels last, float, one-hot) train to the same outcome', async () => {
  const raw = loadTrainingData(dir);
  const pixels = raw.height * raw.width;
  const floats = Array.from(raw.images, (v) => v / 255); // channels last with one channel: the same order
  const oneHot = Array.from(raw.labels).flatMap((l) => Array.from({ length: raw.classes }, (_, k) => (k === l ? 1 : 0)));
  const npz = path.join(dir, 'bands.npz');
  fs.writeFileSync(npz, zipSync({
    'x_train.npy': new Uint8Array(npyBytes('<f4', [raw.count, raw.height, raw.width, 1], floats)),
    'y_train.npy': new Uint8Array(npyBytes('<f4', [raw.count, raw.classes], oneHot)),
  }));
  assert.equal(floats.length, raw.count * pixels);
  const outcome = async (data: string) => {
    const r = await runEval(['adam', '--protocol', protocolFile, '--data', data, '--json', '--no-progress']);
    assert.equal(r.error, undefined, r.error?.message);
    const { seconds: _s, cpuSeconds: _c, ...rest } = JSON.parse(r.stdout);
    return rest;
  };
  const fromIdx = await outcome(dir);
  const fromNpz = await outcome(npz);
  assert.equal(fromIdx.status, 'ok');
  // Float pixels standardize through other roundings than bytes: the same best rate and accuracies within a point.
  assert.equal(fromNpz.bestLr, fromIdx.bestLr);
  assert.ok(Math.abs(fromNpz.reward - fromIdx.reward) <= 0.01, `${fromNpz.reward} vs ${fromIdx.reward}`);
  fs.rmSync(npz);
});

test('nos eval refuses bad input with exit code 2 and a message naming the problem', async () => {
  const badRule = await runEval(['g +* m', '--protocol', protocolFile, '--data', dir]);
  assert.equal(badRule.error?.exitCode, 2);
  const noData = await runEval(['sgd', '--protocol', protocolFile, '--data', path.join(dir, 'missing')]);
  assert.equal(noData.error?.exitCode, 2);
  assert.match(noData.error?.message ?? '', /missing: no such file or folder.*apt-get install dataset-fashion-mnist/);
  const noProtocol = await runEval(['sgd', '--protocol', 'fastest', '--data', dir]);
  assert.equal(noProtocol.error?.exitCode, 2);
  assert.match(noProtocol.error?.message ?? '', /'fastest': not a preset/);
  const badThreads = await runEval(['sgd', '--threads', 'two']);
  assert.match(badThreads.error?.message ?? '', /--threads must be an integer from 1 to 256/);
});

test('nos eval refuses a --seed past 2^32 - 1 as a flag, not as a failed evaluation', async () => {
  const r = await runEval(['sgd', '--protocol', protocolFile, '--data', dir, '--seed', '4294967296', '--no-progress']);
  assert.equal(r.stdout, '');
  assert.match(r.error?.message ?? '', /--seed must be an integer from 0 to 4294967295, got "4294967296"/);
});

test('nos eval --device cuda without a usable GPU: one line naming the device, exit 1, no table', { skip: gpuWorks() && 'a GPU is here' }, async () => {
  for (const extra of [[], ['--json']]) {
    const r = await runEval(['adam', '--protocol', protocolFile, '--data', dir, '--device', 'cuda', '--no-progress', ...extra]);
    assert.equal(r.stdout, '');
    assert.equal(r.error?.exitCode, 1);
    assert.match(r.error?.message ?? '', /^--device cuda: \S/);
    assert.doesNotMatch(r.error?.message ?? '', /\n/);
  }
});

test('nos eval runs rules with decays (ld, cd, rd), named or written out', async () => {
  for (const rule of ['powersign-cd', 'addsign-rd10', 'ld*sign(g)*g']) {
    const r = await runEval([rule, '--protocol', protocolFile, '--data', dir, '--json', '--no-progress']);
    assert.equal(r.error, undefined, `${rule}: ${r.error?.message}`);
    assert.equal(JSON.parse(r.stdout).sweep.length, 2, rule);
  }
});

test('nos eval "-g*m": exit 2 with a hint to put the rule after --', async () => {
  const program = new Command('nos').exitOverride();
  let stderr = '';
  program.configureOutput({ writeErr: (chunk: string) => { stderr += chunk; } });
  register(program);
  await assert.rejects(program.parseAsync(['node', 'nos', 'eval', '-g*m']), (e: Error & { code?: string }) => e.code === 'commander.unknownOption');
  assert.match(stderr, /a rule that starts with '-' goes after --: nos eval --json -- "-g\*m"/);
});

test('nos eval: the reward line counts the final epochs in good English', () => {
  const outcome = { status: 'ok' as const, reward: 0.5, bestLr: 0.1, sweep: [{ lr: 0.1, accuracy: 0.5, loss: 1, status: 'ok' as const }], seconds: 1 };
  const base = JSON.parse(fs.readFileSync(protocolFile, 'utf8'));
  assert.match(formatOutcome('sgd', { ...base, name: 'one', model: 'mlp', finalEpochs: 1 }, outcome), /reward: +0\.5000 \(held-out accuracy after 1 epoch\)/);
  assert.match(formatOutcome('sgd', { ...base, name: 'two', model: 'mlp', finalEpochs: 2 }, outcome), /reward: +0\.5000 \(held-out accuracy after 2 epochs\)/);
});

// Found in review: the first progress line's ETA came from the first batch alone, which also builds and warms up the
// session (`sweep lr 1e-2 epoch 1: started at 0.1s, ETA 380s` for a 2-second run, kept for good in a log).
test('nos eval progress: no ETA from the first batch alone ("ETA ?"); from the second on, a number of seconds', () => {
  let text = '';
  const line = new ProgressLine({ ...JSON.parse(fs.readFileSync(protocolFile, 'utf8')), name: 't', model: 'mlp', threads: 1, maxSeconds: 60, sweepEpochs: 1 },
    { write: (s: string) => { text += s; } }, false);
  line.update({ phase: 'sweep', lr: 0.01, epoch: 0, batch: 0, batches: 15 });
  assert.match(text, /^sweep lr 1e-2 epoch 1: started at [\d.]+s, ETA \?\n$/);
  line.update({ phase: 'sweep', lr: 0.01, epoch: 0, batch: 1, batches: 15 });
  line.update({ phase: 'sweep', lr: 0.1, epoch: 0, batch: 0, batches: 15 });
  assert.match(text.split('\n')[1], /^sweep lr 1e-1 epoch 1: started at [\d.]+s, ETA \d+s$/);
});

// Found in review: Ctrl-C killed `nos eval` mid-line: the progress bar stayed on the terminal with no word of why.
test('nos eval: Ctrl-C or SIGTERM while training clears the progress line and says so, exit 130 or 143, nothing on stdout', async () => {
  const long = path.join(dir, 'long.json');
  fs.writeFileSync(long, JSON.stringify({ extends: 'quick', lrs: [0.01], finalEpochs: 10000, trainExamples: 300, validationExamples: 100, batchSize: 20 }));
  const NOS = path.join(__dirname, '..', '..', '..', 'src', 'cli', 'nos' + path.extname(__filename));
  const execArgv = __filename.endsWith('.ts') ? ['--import', 'tsx'] : [];
  for (const [signal, code, words] of [['SIGINT', 130, 'Ctrl-C'], ['SIGTERM', 143, 'SIGTERM']] as const) {
    const child = spawn(process.execPath, [...execArgv, NOS, 'eval', 'sgd', '--protocol', long, '--data', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => {
      stderr += d;
      if (/final lr 1e-2 epoch 2:/.test(stderr) && child.exitCode === null && !child.killed) child.kill(signal);
    });
    const exit = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(exit, code, stderr.slice(-300));
    assert.match(stderr, new RegExp(`\\nnos eval: stopped by ${words} before the evaluation finished; no result\\n$`));
    assert.equal(stdout, '');
  }
});
