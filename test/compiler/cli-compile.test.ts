// nos-compile: exit codes, each --emit output, the caret error for a bad rule, and `nos compile` as a subcommand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { compileOutput, printIr, EMIT_KINDS } from '../../src/cli/commands/compile';
import { compileRule } from '../../src/compiler/analyze';
import { JS_KERNEL_HELPERS } from '../../src/compiler/render-js';

const ext = path.extname(__filename);
const cliDir = path.join(__dirname, '..', '..', 'src', 'cli');
const execArgv = ext === '.ts' ? ['--import', 'tsx'] : [];

function run(script: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...execArgv, path.join(cliDir, script + ext), ...args], { encoding: 'utf8', timeout: 60000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('nos-compile prints JSON by default and exits 0', () => {
  const r = run('nos-compile', ['powersign-ld']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  const info = compileRule('powersign-ld');
  assert.equal(out.canonical, 'exp(ld*sign(g)*sign(m))*g');
  assert.equal(out.hash, info.hash);
  assert.deepEqual(out.state, ['m']);
  assert.equal(out.bytesPerParam, 4);
  assert.equal(out.flopsPerElement, info.flopsPerElement);
  assert.deepEqual(out.decays, [{ name: 'ld', n: 0 }]);
  assert.equal(out.tokens, compileOutput('powersign-ld', 'tokens'));
});

test('nos-compile exits 2 with the message, the source line and a caret under the error', () => {
  const r = run('nos-compile', ['exp(sign(g)*sign(q))*g', '--emit', 'cpu']);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.match(lines[0], /^nos-compile: .*'q'.*\(line 1, column 18\)$/);
  assert.equal(lines[1], '  exp(sign(g)*sign(q))*g');
  assert.equal(lines[2].indexOf('^'), 2 + 17, `caret under q: ${JSON.stringify(lines[2])}`);
});

test('nos-compile exits 2 on a bad --emit and 0 with usage on --help', () => {
  const bad = run('nos-compile', ['g', '--emit', 'fortran']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /expected one of cuda, cpu, js, ir, tokens, latex, json, pytorch, tfjs, got "fortran"/);
  const help = run('nos-compile', ['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: nos-compile \[options\] <rule\.\.\.>/);
  assert.match(help.stdout, /--emit <kind>/);
});

test('nos compile is the same command under nos', () => {
  const r = run('nos', ['compile', 'adam', '--emit', 'ir']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${printIr(compileRule('adam').root)}\n`);
});

test('every --emit kind prints something fitting for a named rule and for a token form', () => {
  for (const rule of ['addsign-cd', 'sign_g sign_m id id mul | o1 g exp id mul']) {
    const out = Object.fromEntries(EMIT_KINDS.map((k) => [k, compileOutput(rule, k)]));
    assert.match(out.cpu, /extern "C" void nos_update_range\(/);
    assert.match(out.cpu, /extern "C" void nos_update_list\(/);
    assert.match(out.cuda, /extern "C" __global__ void nos_update\(/);
    assert.equal(typeof new Function('nos', out.js)(JS_KERNEL_HELPERS), 'function');
    assert.match(out.ir, /^%\d+ = input g$/m);
    assert.match(out.ir, /^rule = %\d+$/m);
    assert.match(out.latex, /\\operatorname\{sign\}/);
    assert.equal(compileRule(out.tokens).hash, compileRule(rule).hash, 'tokens decode back to the same rule');
    assert.equal(JSON.parse(out.json).hash, compileRule(rule).hash);
  }
  assert.equal(compileRule('sign_g sign_m id id mul | o1 g exp id mul').hash, compileRule('powersign').hash);
});

test('--emit tokens of a rule outside the token vocabulary is bad input, and JSON says tokens: null', () => {
  assert.throws(() => compileOutput('table6-01', 'tokens'), (e: Error & { exitCode?: number }) => e.exitCode === 2 && /not expressible/.test(e.message));
  assert.equal(JSON.parse(compileOutput('table6-01', 'json')).tokens, null);
});
