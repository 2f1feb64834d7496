// A full disk during a search (a write shim, and a real small tmpfs where mounting is allowed): the search stops
// with a clear error and a non-zero exit, keeps its last good checkpoint, leaves no temporary file, and --resume
// finishes it once there is space, with the same results and strategy state as a search never interrupted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WriteError } from '../../src/search/checked-write';
import { readCheckpoint } from '../../src/search/checkpoint';
import { readLedger, type LedgerRecord } from '../../src/search/ledger';
import { writeReport } from '../../src/search/report';
import { runSearch } from '../../src/search/search-loop';
import { FULL_DISK_ENV, installFullDisk, type FullDiskPlan } from '../support/full-disk';
import { fakeConfig, ORDERED, standInDeps } from './fixtures/stand-ins';

const EXT = path.extname(__filename);
const NOS = path.join(__dirname, '..', '..', 'src', 'cli', 'nos' + EXT);
const PRELOAD = path.join(__dirname, '..', 'support', 'full-disk-preload' + EXT);
const EXEC_ARGV = EXT === '.ts' ? ['--import', 'tsx', '--import', PRELOAD] : ['--require', PRELOAD];

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'nos-full-disk-'));
}

/** Runs `nos` with an optional full-disk plan; resolves with its exit code and output. */
function nos(args: string[], plan?: FullDiskPlan): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env, [FULL_DISK_ENV]: plan ? JSON.stringify(plan) : '' };
  const child = spawn(process.execPath, [...EXEC_ARGV, NOS, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** (index, rule, reward, status) of every result, sorted; fails on a candidate recorded twice. */
function resultSet(dir: string): string[] {
  const records = readLedger(path.join(dir, 'ledger.jsonl')).records;
  const rules = new Map(records.flatMap((r) => (r.type === 'batch' ? r.candidates.map((c) => [c.index, c.rule] as const) : [])));
  const results = records.filter((r): r is Extract<LedgerRecord, { type: 'result' }> => r.type === 'result');
  assert.equal(new Set(results.map((r) => r.index)).size, results.length, 'a candidate has two results');
  return results.sort((a, b) => a.index - b.index).map((r) => `${r.index}|${rules.get(r.index)}|${r.envelope.reward}|${r.envelope.status}`);
}

/** What a stopped search must leave: no temporary file, a sound ledger, a readable checkpoint, whole report files. */
function assertFolderSound(dir: string, where: string): void {
  const names = fs.readdirSync(dir);
  assert.deepEqual(names.filter((n) => n.includes('.tmp-')), [], `${where}: temporary files left behind`);
  const ledger = readLedger(path.join(dir, 'ledger.jsonl'));
  assert.deepEqual(ledger.problems, [], `${where}: ledger problems`);
  assert.equal(ledger.tornBytes, 0, `${where}: a failed append must not leave part of a line`);
  if (names.includes('checkpoint.json')) assert.doesNotThrow(() => readCheckpoint(dir), `${where}: checkpoint.json`);
  if (names.includes('leaderboard.json')) assert.doesNotThrow(() => JSON.parse(fs.readFileSync(path.join(dir, 'leaderboard.json'), 'utf8')), `${where}: leaderboard.json`);
  if (names.includes('rewards.svg')) assert.match(fs.readFileSync(path.join(dir, 'rewards.svg'), 'utf8'), /<\/svg>\n$/, `${where}: rewards.svg`);
}

test('full disk (in process): each write that can fail stops the search cleanly, and --resume then equals an uninterrupted run', async () => {
  const config = fakeConfig({ budget: 10, seed: 7, ...ORDERED }, { sleepMs: 0 });
  const reference = tempDir();
  await runSearch({ outDir: reference, config, deps: standInDeps });
  const plans: FullDiskPlan[] = [
    { file: 'ledger.jsonl', failAt: 5 }, { file: 'checkpoint.json', failAt: 4 }, { file: 'config.json', failAt: 1 },
    ...[3000, 8000].map((bytes) => ({ bytes, dir: '' })),
  ];
  for (const plan of plans) {
    const dir = tempDir();
    const where = JSON.stringify(plan);
    const undo = installFullDisk('dir' in plan ? { bytes: plan.bytes, dir } : plan);
    try {
      await assert.rejects(runSearch({ outDir: dir, config, deps: standInDeps }), (e: unknown) => {
        assert.ok(e instanceof WriteError, `${where}: ${String(e)}`);
        assert.equal(e.code, 'ENOSPC');
        assert.ok(e.message.startsWith(`could not `) && e.message.includes(dir) && e.message.endsWith('no space left on device (ENOSPC)'), e.message);
        return true;
      });
    } finally {
      undo();
    }
    assertFolderSound(dir, where);
    if (!fs.existsSync(path.join(dir, 'ledger.jsonl'))) {
      // Full before the search's first record: nothing to resume, and the same command starts it.
      assert.deepEqual(fs.readdirSync(dir), [], `${where}: a search that never started leaves nothing`);
      await runSearch({ outDir: dir, config, deps: standInDeps });
    } else {
      await runSearch({ outDir: dir, resume: true, deps: standInDeps });
    }
    assert.deepEqual(resultSet(dir), resultSet(reference), where);
    assert.deepEqual(readCheckpoint(dir)!.strategyState, readCheckpoint(reference)!.strategyState, where);
  }
});

test('full disk (in process): a report that cannot be written keeps the previous report files whole', () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'ledger.jsonl'), `${JSON.stringify({ type: 'start', time: 't', runId: 'r', config: {} })}\n`);
  writeReport(dir);
  const before = Object.fromEntries(['leaderboard.md', 'leaderboard.json', 'rewards.svg'].map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]));
  fs.appendFileSync(path.join(dir, 'ledger.jsonl'), `${JSON.stringify({ type: 'finish', time: 't', candidates: 0 })}\n`);
  for (const file of Object.keys(before)) {
    const undo = installFullDisk({ file, failAt: 1 });
    try {
      assert.throws(() => writeReport(dir), (e: unknown) => e instanceof WriteError && e.code === 'ENOSPC' && e.file === path.join(dir, file));
    } finally {
      undo();
    }
    assert.equal(fs.readFileSync(path.join(dir, file), 'utf8'), before[file], `${file} is the previous one, whole`);
    assert.deepEqual(fs.readdirSync(dir).filter((n) => n.includes('.tmp-')), []);
  }
});

test('full disk (nos search): exit 1 with the file and how to continue; --resume finishes once there is space', async () => {
  const protocol = path.join(tempDir(), 'fake.json');
  fs.writeFileSync(protocol, JSON.stringify({ name: 'fake', sleepMs: 0 }));
  const common = ['search', '--protocol', protocol, '--budget', '10', '--strategy', 'random', '--space', 'small', '--seed', '5', '--workers', '1', '--no-progress'];
  const reference = path.join(tempDir(), 'ref');
  assert.equal((await nos([...common, '--out', reference])).code, 0);
  for (const plan of [{ file: 'ledger.jsonl', failAt: 7 }, { file: 'rewards.svg', failAt: 1 }]) {
    const out = path.join(tempDir(), 'run');
    const full = await nos([...common, '--out', out], plan);
    assert.equal(full.code, 1, full.stderr);
    assert.doesNotMatch(full.stdout, /search finished/);
    assert.match(full.stderr, new RegExp(`could not [a-z ]+ ${out}/${plan.file.replace('.', '\\.')}: no space left on device \\(ENOSPC\\)`));
    assert.match(full.stderr, new RegExp(`continue with: nos search --resume --out ${out}`));
    assertFolderSound(out, plan.file);
    const resumed = await nos(['search', '--resume', '--out', out, '--no-progress']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual(resultSet(out), resultSet(reference));
    assert.deepEqual(readCheckpoint(out)!.strategyState, readCheckpoint(reference)!.strategyState);
  }
});

/** Mounts a small tmpfs, or says why it cannot (mounting needs root and a container that allows it). */
function mountSmallTmpfs(kib: number): { dir: string; unmount: () => void } | string {
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  const dir = tempDir();
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${kib}k`, 'tmpfs', dir], { encoding: 'utf8' });
  if (mount.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    return `mount -t tmpfs was refused here (${(mount.stderr || String(mount.error)).trim()}); the write shim above covers the same paths`;
  }
  return { dir, unmount: () => { spawnSync('umount', [dir]); fs.rmSync(dir, { recursive: true, force: true }); } };
}

const tmpfs = mountSmallTmpfs(32);
test('full disk (a real 32 KiB tmpfs): the search stops with exit 1 and resumes in a roomier folder', { skip: typeof tmpfs === 'string' ? tmpfs : false }, async () => {
  const { dir, unmount } = tmpfs as Exclude<typeof tmpfs, string>;
  try {
    const protocol = path.join(tempDir(), 'fake.json');
    fs.writeFileSync(protocol, JSON.stringify({ name: 'fake', sleepMs: 0 }));
    const out = path.join(dir, 'run');
    const full = await nos(['search', '--protocol', protocol, '--budget', '100', '--strategy', 'random', '--space', 'small', '--workers', '1', '--out', out, '--no-progress']);
    assert.equal(full.code, 1, full.stderr);
    assert.match(full.stderr, /no space left on device \(ENOSPC\)/);
    assertFolderSound(out, 'tmpfs');
    // "Once there is space": the same folder, copied where there is room, resumes to the end.
    const roomy = path.join(tempDir(), 'run');
    fs.cpSync(out, roomy, { recursive: true });
    const resumed = await nos(['search', '--resume', '--out', roomy, '--no-progress']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(resultSet(roomy).length, 100);
  } finally {
    unmount();
  }
});
