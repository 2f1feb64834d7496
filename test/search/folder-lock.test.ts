// The folder lock: taken atomically; a dead owner's lock is taken over by exactly one of the processes racing for it,
// whichever fs call of the takeover is delayed; a reused pid does not pass for the dead owner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InputError } from '../../src/errors';
import { LOCK_FILE, lockFolder } from '../../src/search/folder-lock';

const EXT = path.extname(__filename);
const RACER = path.join(__dirname, 'fixtures', 'lock-racer' + EXT);
const EXEC_ARGV = EXT === '.ts' ? ['--import', 'tsx'] : [];

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'nos-lock-'));
}

function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
}

function racer(dir: string, step: string, delayMs: number, startAt: number): Promise<string> {
  const child = spawn(process.execPath, [...EXEC_ARGV, RACER, dir, step, String(delayMs), String(startAt), '3000'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  return new Promise((resolve) => child.on('close', () => resolve(out.trim())));
}

test('lock: a lock that is a folder (or a folder nos cannot write) is bad input naming the folder and why', () => {
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, LOCK_FILE));
  assert.throws(() => lockFolder(dir), (e: Error) => e instanceof InputError
    && e.message === `${dir}: cannot take the folder's lock (${LOCK_FILE}): illegal operation on a directory (EISDIR)`);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('lock: held by a live process it is refused; a dead, legacy or reused-pid owner is taken over; release is ours only', () => {
  const dir = tempDir();
  const file = path.join(dir, LOCK_FILE);
  const release = lockFolder(dir);
  assert.match(fs.readFileSync(file, 'utf8'), new RegExp(`^\\{"pid":${process.pid},"start":"\\d+","nonce":"[0-9a-f]{16}"\\}\\n$`));
  assert.throws(() => lockFolder(dir), new RegExp(`another nos process \\(pid ${process.pid}\\) is using this folder`));
  release();
  assert.equal(fs.existsSync(file), false);
  for (const stale of [String(deadPid()), JSON.stringify({ pid: process.pid, start: '1', nonce: 'x' }), 'garbage']) {
    fs.writeFileSync(file, stale); // a dead pid (older versions wrote a bare pid); our pid with another start time: reused
    const taken = lockFolder(dir);
    assert.match(fs.readFileSync(file, 'utf8'), new RegExp(`"pid":${process.pid}`), stale);
    fs.writeFileSync(file, String(process.pid)); // not ours any more: release leaves it
    taken();
    assert.equal(fs.readFileSync(file, 'utf8'), String(process.pid));
    fs.rmSync(file);
  }
  assert.deepEqual(fs.readdirSync(dir), [], 'no claim or temporary file is left');
});

test('lock: two resumes racing for a stale lock, one delayed before any one fs call of the takeover: exactly one wins', async () => {
  // Each round races a delayed process against a prompt one on its own stale lock; the rounds run side by side.
  const steps = ['openSync', 'readFileSync', 'linkSync', 'renameSync', 'rmSync', 'unlinkSync', 'writeFileSync'];
  const startAt = Date.now() + 3000; // every racer has loaded by then, even on a busy machine
  const rounds = steps.map(async (step) => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, LOCK_FILE), String(deadPid()));
    const outcomes = await Promise.all([racer(dir, step, 400, startAt), racer(dir, 'none', 0, startAt + 50)]);
    return { step, outcomes, left: fs.readdirSync(dir) };
  });
  for (const { step, outcomes, left } of await Promise.all(rounds)) {
    assert.equal(outcomes.filter((o) => o === 'won').length, 1, `delay before ${step}: ${JSON.stringify(outcomes)}`);
    assert.match(outcomes.find((o) => o !== 'won')!, /^refused: .*another nos process \(pid \d+\) is using this folder/, step);
    assert.deepEqual(left, [], `delay before ${step}: the lock and every claim are gone after release`);
  }
});
