// makeDirs: mkdir -p that answers with mkdir's error where Node's recursive mkdirSync spins for ever (/proc).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeDirs } from '../../src/runtime/make-dirs';

test('makeDirs creates the missing levels, accepts a folder that exists, and refuses a path through a file', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-dirs-'));
  const deep = path.join(root, 'a', 'b', 'c');
  makeDirs(deep);
  assert.ok(fs.statSync(deep).isDirectory());
  makeDirs(deep);
  fs.writeFileSync(path.join(root, 'file'), 'x');
  assert.throws(() => makeDirs(path.join(root, 'file', 'd')), { code: 'ENOTDIR' });
  assert.throws(() => makeDirs(path.join(root, 'file')), { code: 'EEXIST' });
  fs.rmSync(root, { recursive: true, force: true });
});

// In a child process with a time limit: a regression would spin in synchronous code, where no test timeout reaches.
test('under /proc makeDirs fails at once with ENOENT (the recursive mkdirSync loops)', { skip: !fs.existsSync('/proc/self') && 'no /proc' }, () => {
  const module = path.join(__dirname, '..', '..', 'src', 'runtime', 'make-dirs' + path.extname(__filename));
  const execArgv = path.extname(__filename) === '.ts' ? ['--import', 'tsx'] : [];
  const script = `try { require(${JSON.stringify(module)}).makeDirs('/proc/nos-no-such/x'); } catch (e) { process.stdout.write(e.code); }`;
  const run = spawnSync(process.execPath, [...execArgv, '-e', script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(run.signal, null, 'makeDirs returned');
  assert.equal(run.stdout, 'ENOENT');
});
