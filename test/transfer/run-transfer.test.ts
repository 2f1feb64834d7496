// The transfer loop on fake tasks: tuning then seeds, the report files, resuming without re-running, a stop keeping
// what finished, a change of settings re-running, an optimizer that diverges everywhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveOptimizers } from '../../src/transfer/optimizers';
import { RUNS_FILE } from '../../src/transfer/run-log';
import { runTransfer, type TransferHooks } from '../../src/transfer/run-transfer';
import { fakeTask } from './fake-task';
import { tempDirs } from '../support/temp-dirs';

const tmp = tempDirs('nos-transfer-');

const optimizers = resolveOptimizers(['powersign'], ['sgd', 'adam']);
const best = { powersign: 1e-2, sgd: 1e-1, adam: 1e-3 };
const go: TransferHooks = { stopped: () => false };

test('each optimizer is tuned over the grid with seed 0, then its best rate runs every seed; the table ranks them', async () => {
  const out = tmp();
  const task = fakeTask({ best: { ...best, adam: 1e-2 }, diverges: { sgd: [1e-3] } });
  const r = await runTransfer({ tasks: [task], optimizers, seeds: [0, 1, 2], out, command: 'nos transfer' }, go);
  assert.equal(r.ran, 3 * 3 + 3 * 3);
  assert.deepEqual(task.calls.filter((c) => c.optimizer === 'powersign').map((c) => `${c.phase} ${c.lr} ${c.seed}`), [
    'tune 0.001 0', 'tune 0.01 0', 'tune 0.1 0', 'final 0.01 0', 'final 0.01 1', 'final 0.01 2',
  ]);
  const rows = r.summaries[0].rows;
  assert.deepEqual(rows.map((row) => [row.optimizer, row.bestLr, row.rank]), [['powersign', 0.01, 1], ['sgd', 0.1, 1], ['adam', 0.01, 1]]);
  assert.ok(Math.abs(rows[0].mean! - 0.01) < 1e-12);
  assert.equal(rows[1].tuning[0].status, 'diverged');
  for (const f of ['summary.md', 'summary.json', 'fake.svg', RUNS_FILE]) assert.ok(fs.existsSync(path.join(out, f)), f);
  const md = fs.readFileSync(path.join(out, 'summary.md'), 'utf8');
  assert.match(md, /\| powersign \| 0\.0100 ± 0\.010 \(#1\) lr 1e-2 \|/);
  assert.match(md, /\| sgd \| diverged \| 2\.00 \| \*\*1\.00\*\* \|/); // the tuning grid, the chosen rate in bold
  const json = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
  assert.equal(json.tasks[0].rows[2].optimizer, 'adam');
  assert.equal(json.partial, false);
});

test('a second run on the same folder re-runs nothing; a changed setting re-runs that task only', async () => {
  const out = tmp();
  const plan = (settings: Record<string, unknown>) => ({ tasks: [fakeTask({ best, settings }), fakeTask({ name: 'other', best })], optimizers, seeds: [0, 1], out, command: 'nos transfer' });
  const first = await runTransfer(plan({ size: 1 }), go);
  assert.equal(first.ran, 2 * 3 * (3 + 2));
  const again = plan({ size: 1 });
  const second = await runTransfer(again, go);
  assert.deepEqual([second.ran, second.reused], [0, 30]);
  assert.equal((again.tasks[0] as ReturnType<typeof fakeTask>).calls.length, 0);
  const changed = await runTransfer(plan({ size: 2 }), go);
  assert.deepEqual([changed.ran, changed.reused], [15, 15]);
});

test('a stop (Ctrl-C) keeps every finished run, drops the one in progress, and the next run continues', async () => {
  const out = tmp();
  let stop = false;
  const task = fakeTask({ best });
  let starts = 0;
  // The stop comes while the fifth run is in progress: the task throws RunInterrupted and the run is dropped.
  const r = await runTransfer({ tasks: [task], optimizers, seeds: [0, 1], out, command: 'nos transfer' }, {
    stopped: () => stop,
    onRunStart: () => { if (++starts === 5) stop = true; },
  });
  assert.equal(r.interrupted, true);
  assert.equal(r.ran, 4);
  assert.equal(fs.readFileSync(path.join(out, RUNS_FILE), 'utf8').trimEnd().split('\n').length, 4);
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')).partial, true);
  assert.match(fs.readFileSync(path.join(out, 'summary.md'), 'utf8'), /\*\*partial\*\*/);
  const task2 = fakeTask({ best });
  const rest = await runTransfer({ tasks: [task2], optimizers, seeds: [0, 1], out, command: 'nos transfer' }, go);
  assert.deepEqual([rest.ran, rest.reused, rest.interrupted], [11, 4, false]);
  assert.deepEqual(task2.calls[0], { optimizer: 'powersign', phase: 'final', lr: 1e-2, seed: 1 });
});

test('an optimizer that diverges at every rate gets no seeds and no rank; progress reports an ETA', async () => {
  const out = tmp();
  const task = fakeTask({ best, diverges: { adam: [1e-3, 1e-2, 1e-1] } });
  const etas: number[] = [];
  const r = await runTransfer({ tasks: [task], optimizers, seeds: [0, 1], out, command: 'nos transfer' }, {
    stopped: () => false, onRunStart: (i) => etas.push(i.etaSeconds),
  });
  const adam = r.summaries[0].rows[2];
  assert.deepEqual([adam.state, adam.rank, adam.finals.length], ['failed', null, 0]);
  assert.equal(task.calls.filter((c) => c.optimizer === 'adam' && c.phase === 'final').length, 0);
  assert.ok(etas.every((e) => Number.isFinite(e) && e >= 0));
  assert.ok(etas[etas.length - 1] <= etas[0]);
});

// Found in review: two transfers on one folder both ran every run and wrote the same files (and one's opening could
// cut a line the other had just appended).
test('a second transfer on a folder in use is refused naming the first; the folder is free again after it', async () => {
  const out = tmp();
  let open!: () => void;
  const gate = new Promise<void>((resolve) => { open = resolve; });
  let started!: () => void;
  const running = new Promise<void>((resolve) => { started = resolve; });
  const task = fakeTask({ best });
  const slow = { ...task, async run(...args: Parameters<typeof task.run>) { started(); await gate; return task.run(...args); } };
  const first = runTransfer({ tasks: [slow], optimizers, seeds: [0], out, command: 'nos transfer' }, go);
  await running;
  await assert.rejects(runTransfer({ tasks: [fakeTask({ best })], optimizers, seeds: [0], out, command: 'nos transfer' }, go),
    new RegExp(`another nos process \\(pid ${process.pid}\\) is using this folder`));
  open();
  assert.equal((await first).ran, 3 * 4);
  const again = await runTransfer({ tasks: [fakeTask({ best })], optimizers, seeds: [0], out, command: 'nos transfer' }, go);
  assert.deepEqual([again.ran, again.reused], [0, 12]);
  assert.ok(!fs.readdirSync(out).some((n) => n.endsWith('.lock')), 'the lock is released');
});

// Found in review: with runs.jsonl removed mid-run, every later run went into the removed file: exit 0, nothing kept.
test('runs.jsonl removed by another process mid-run: every run is in the folder at the end, and said so', async () => {
  const out = tmp();
  const task = fakeTask({ best });
  let calls = 0;
  const meddled = { ...task, async run(...args: Parameters<typeof task.run>) {
    if (++calls === 3 || calls === 12) fs.rmSync(path.join(out, RUNS_FILE)); // mid-run, and during the last run
    return task.run(...args);
  } };
  const notices: string[] = [];
  const r = await runTransfer({ tasks: [meddled], optimizers, seeds: [0], out, command: 'nos transfer' }, { ...go, onNotice: (m) => notices.push(m) });
  assert.equal(r.ran, 12);
  assert.equal(fs.readFileSync(path.join(out, RUNS_FILE), 'utf8').trimEnd().split('\n').length, 12);
  assert.equal(notices.length, 2);
  const again = await runTransfer({ tasks: [fakeTask({ best })], optimizers, seeds: [0], out, command: 'nos transfer' }, go);
  assert.deepEqual([again.ran, again.reused], [0, 12]);
});

// Found in review: a report write that failed left summary.md.PID.tmp behind, and a killed run's stayed for good.
test('a report that cannot be written stops with the file named, keeps the finished run and leaves no temporary file', async () => {
  const out = tmp();
  fs.mkdirSync(path.join(out, 'summary.md')); // another process put a folder there
  fs.writeFileSync(path.join(out, 'summary.json.424242424.tmp'), 'a killed run\'s'); // no such pid
  await assert.rejects(runTransfer({ tasks: [fakeTask({ best })], optimizers, seeds: [0], out, command: 'nos transfer' }, go),
    (e: Error) => e.name === 'WriteError' && /could not write \S+summary\.md: .*EISDIR/.test(e.message));
  assert.equal(fs.readFileSync(path.join(out, RUNS_FILE), 'utf8').trimEnd().split('\n').length, 1);
  assert.deepEqual(fs.readdirSync(out).filter((n) => /tmp/.test(n)), []);
});

test('a run past the time limit is recorded as timed out, not lost; the same limit keeps it, a longer one runs it again', async () => {
  const out = tmp();
  const slow = { powersign: [1e-2] }; // powersign's best rate: timed out, tuning picks the next best (1e-3, first of equals)
  const plan = (runLimitSeconds: number | undefined) => ({ tasks: [fakeTask({ best, slow })], optimizers, seeds: [0, 1], out, command: 'nos transfer', runLimitSeconds });
  const ended: string[] = [];
  const first = await runTransfer(plan(0.25), { ...go, onRunEnd: (_, r) => ended.push(r.status) });
  assert.equal(first.ran, 3 * (3 + 2));
  assert.deepEqual(ended.filter((s) => s === 'timeout').length, 1);
  const timedOut = fs.readFileSync(path.join(out, RUNS_FILE), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l)).filter((r) => r.status === 'timeout');
  assert.deepEqual(timedOut.map((r) => [r.optimizer, r.phase, r.lr, r.score, r.limitSeconds]), [['powersign', 'tune', 1e-2, null, 0.25]]);
  assert.match(timedOut[0].reason, /time limit of 0\.25 s per run/);
  const powersign = first.summaries[0].rows[0];
  assert.deepEqual([powersign.bestLr, powersign.state], [1e-3, 'done']);
  assert.match(fs.readFileSync(path.join(out, 'summary.md'), 'utf8'), /\| powersign \| \*\*2\.00\*\* \| timed out \| 2\.00 \|/);

  const same = await runTransfer(plan(0.25), go);
  assert.deepEqual([same.ran, same.reused], [0, 15]);
  const longer = plan(60);
  const rerun = await runTransfer(longer, go);
  // The timed-out tuning run again (now ok, and the best), then the seeds at the newly tuned rate.
  assert.deepEqual(longer.tasks[0].calls.map((c) => `${c.optimizer} ${c.phase} ${c.lr} ${c.seed}`),
    ['powersign tune 0.01 0', 'powersign final 0.01 0', 'powersign final 0.01 1']);
  assert.deepEqual([rerun.summaries[0].rows[0].bestLr, rerun.summaries[0].rows[0].state], [1e-2, 'done']);
  const unlimited = await runTransfer(plan(undefined), go);
  assert.equal(unlimited.ran, 0); // nothing left timed out
});

test('an optimizer that times out at every rate is failed, said so; a Ctrl-C during a limited run is a stop, not a timeout', async () => {
  const out = tmp();
  const task = fakeTask({ best, slow: { adam: [1e-3, 1e-2, 1e-1] } });
  const r = await runTransfer({ tasks: [task], optimizers, seeds: [0], out, command: 'nos transfer', runLimitSeconds: 0.25 }, go);
  assert.deepEqual([r.summaries[0].rows[2].state, r.summaries[0].rows[2].rank], ['failed', null]);
  assert.match(fs.readFileSync(path.join(out, 'summary.md'), 'utf8'), /\| adam \| timed out at every rate \|/);

  const out2 = tmp();
  let stop = false;
  const stopping = fakeTask({ best, slow: { powersign: [1e-3] }, slowSteps: 1000 });
  const wrapped = { ...stopping, async run(...args: Parameters<typeof stopping.run>) { setTimeout(() => { stop = true; }, 20); return stopping.run(...args); } };
  const stopped = await runTransfer({ tasks: [wrapped], optimizers, seeds: [0], out: out2, command: 'nos transfer', runLimitSeconds: 3600 }, { stopped: () => stop });
  assert.deepEqual([stopped.interrupted, stopped.ran], [true, 0]);
  assert.equal(fs.readFileSync(path.join(out2, RUNS_FILE), 'utf8'), '');
});

test('a task whose every seed failed draws no curves and links none; the others still do', async () => {
  const out = tmp();
  const fine = fakeTask({ name: 'fine', best });
  const failing = fakeTask({ name: 'failing', best });
  const finalsDiverge = { ...failing, async run(...args: Parameters<typeof failing.run>) {
    const r = await failing.run(...args);
    return args[3] === 'final' ? { status: 'diverged' as const, score: null, curve: [], reason: 'scripted' } : r;
  } };
  await runTransfer({ tasks: [fine, finalsDiverge], optimizers, seeds: [0], out, command: 'nos transfer' }, go);
  assert.ok(fs.existsSync(path.join(out, 'fine.svg')));
  assert.ok(!fs.existsSync(path.join(out, 'failing.svg')));
  const md = fs.readFileSync(path.join(out, 'summary.md'), 'utf8');
  assert.match(md, /!\[fine curves\]\(fine\.svg\)/);
  assert.doesNotMatch(md, /failing\.svg/);
  // Found in review: a row whose every seed failed read 'running...' in the summary table, as if not finished.
  assert.match(md, /^\| powersign \| 0\.00 \(#1\) lr 1e-2 \| no seed finished: 1 seed\(s\) diverged lr 1e-2 \|$/m);
});
