// Loading the addon: NOS_ADDON, when set, is the only candidate, and one that does not load is an error naming it (it
// fell back to build/Release quietly). Each case runs in a fresh process (the addon is loaded once per process).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadAddon, packageRoot } from '../../src/runtime/binding';

const here = path.extname(__filename); // .ts under tsx, .js compiled
const binding = path.join(__dirname, '..', '..', 'src', 'runtime', 'binding' + here);
const optimizer = path.join(__dirname, '..', '..', 'src', 'runtime', 'optimizer' + here);
const execArgv = here === '.ts' ? ['--import', 'tsx'] : [];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-binding-test-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
const built = (() => {
  try {
    loadAddon();
    return true;
  } catch {
    return false;
  }
})();

/** Runs `script` in a fresh node with NOS_ADDON = `addon`: its exit status, stdout and stderr. */
function run(script: string, addon: string | undefined): { status: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, NOS_CACHE_DIR: path.join(dir, 'cache') };
  if (addon === undefined) delete env.NOS_ADDON;
  else env.NOS_ADDON = addon;
  const r = spawnSync(process.execPath, [...execArgv, '-e', script], { env, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const load = `try { require(${JSON.stringify(binding)}).loadAddon(); console.log('loaded'); }
  catch (err) { console.log('error: ' + err.message); }`;

test('NOS_ADDON naming a file that is not an addon is an error naming NOS_ADDON, the path and why', () => {
  // /etc/passwd: loaded as a native library (never run as JavaScript), which it is not.
  const passwd = run(load, '/etc/passwd');
  assert.match(passwd.stdout, /^error: the nos native addon could not be loaded from NOS_ADDON=\/etc\/passwd: .*(invalid ELF header|too short|not an ELF|file too short)/);
  assert.match(passwd.stdout, /NOS_ADDON names the only addon tried/);
  // A text file named .node (require would load it as a library too).
  const fake = path.join(dir, 'fake.node');
  fs.writeFileSync(fake, 'not an addon\n');
  assert.match(run(load, fake).stdout, new RegExp(`^error: the nos native addon could not be loaded from NOS_ADDON=${fake.replace(/[.]/g, '\\.')}: `));
});

test('NOS_ADDON naming a missing file or a folder is an error, not a fallback to build/Release', () => {
  const missing = path.join(dir, 'no-such', 'nos.node');
  assert.match(run(load, missing).stdout, new RegExp(`^error: the nos native addon could not be loaded from NOS_ADDON=${missing.replace(/[.]/g, '\\.')}: no such file\\.`));
  assert.match(run(load, dir).stdout, /: not a file\./);
  // A relative path is taken from the working folder, and the message shows both.
  const absolute = path.join(dir, 'missing.node');
  const relative = path.relative(process.cwd(), absolute);
  const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  assert.match(run(load, relative).stdout, new RegExp(`NOS_ADDON=${escape(relative)} \\(${escape(absolute)}\\): no such file`));
});

test('with a bad NOS_ADDON, createOptimizer on the cpu device throws the error rather than running the JS kernel', () => {
  const script = `const { createOptimizer } = require(${JSON.stringify(optimizer)});
    try { const o = createOptimizer('sgd', { device: 'cpu' }); console.log('device ' + o.device); }
    catch (err) { console.log('error: ' + err.message); }`;
  const r = run(script, '/etc/passwd');
  assert.match(r.stdout, /^error: the nos native addon could not be loaded from NOS_ADDON=\/etc\/passwd/);
  assert.doesNotMatch(r.stderr, /NOS_JS_FALLBACK|slower JS kernel/);
});

test('NOS_ADDON naming a good addon loads it, whatever its file name', { skip: built ? false : 'the addon is not built' }, () => {
  // The addon this process loaded (a device script's NOS_ADDON, else the package's build).
  const own = [path.join(packageRoot(), 'build', 'Release', 'nos.node'), path.join(packageRoot(), 'build', 'Debug', 'nos.node')].find((f) => fs.existsSync(f));
  const real = process.env.NOS_ADDON || own!;
  const copy = path.join(dir, 'addon.bin');
  fs.copyFileSync(real, copy);
  assert.equal(run(load, copy).stdout.trim(), 'loaded');
  assert.equal(run(load, real).stdout.trim(), 'loaded');
  if (own) assert.equal(run(load, '').stdout.trim(), 'loaded', 'an empty NOS_ADDON is unset');
});
