// `nos-compile` / `nos compile`: a rule that starts with '-' reads as an option; the error says how to pass it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main as nosCompile } from '../../../src/cli/nos-compile';
import { main as nos } from '../../../src/cli/nos';
import { compileOutput } from '../../../src/cli/commands/compile';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { capture } from '../../support/cli-capture';

const stderrOf = capture;

test('a rule starting with - gets exit 2 and a hint to put it after --', async () => {
  for (const run of [() => nosCompile(['node', 'nos-compile', '-g']), () => nos(['node', 'nos', 'compile', '-g'])]) {
    const r = await stderrOf(run);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option '-g'/);
    assert.match(r.stderr, /a rule that starts with '-' goes after --: nos-compile --emit ir -- "-g \+ m"/);
  }
});

test('--emit given twice, or followed by a flag instead of its kind, is exit 2 (was: the last --emit silently won)', async () => {
  const cases: Array<[string[], string]> = [
    [['adam', '--emit', 'ir', '--emit', 'cpu'], `error: option '-e, --emit <kind>' is given twice ("ir", then "cpu"): give it once\n`],
    [['adam', '-e', 'ir', '-e', 'cpu'], `error: option '-e, --emit <kind>' is given twice ("ir", then "cpu"): give it once\n`],
    [['adam', '--emit', '--', 'x'], `error: option '-e, --emit <kind>' is missing its value: '--' is a flag\n`],
  ];
  for (const [args, message] of cases) {
    for (const run of [() => nosCompile(['node', 'nos-compile', ...args]), () => nos(['node', 'nos', 'compile', ...args])]) {
      const r = await stderrOf(run);
      assert.equal(r.code, 2, args.join(' '));
      assert.ok(r.stderr.startsWith(message), r.stderr);
    }
  }
});

test('a rule nested 5000 deep (parentheses, exp, unary minus) is one error line with exit 2, not a stack overflow', async () => {
  const deep = (open: string, close: string) => `${open.repeat(5000)}g${close.repeat(5000)}`;
  for (const rule of [deep('(', ')'), deep('exp(', ')'), deep('-', ''), `g${'^g'.repeat(2000)}`, `g${'+g'.repeat(2000)}`]) {
    const r = await stderrOf(() => nosCompile(['node', 'nos-compile', '--emit', 'ir', '--', rule]));
    assert.equal(r.code, 2, rule.slice(0, 20));
    assert.match(r.stderr, /^nos-compile: (rule text is \d+ characters long; the limit is 4096|nesting deeper than 64 levels|expression deeper than 256 levels) \(line 1, column \d+\)\n/);
    assert.doesNotMatch(r.stderr, /RangeError|Maximum call stack|\n\s+at /);
  }
});

test("the rule argument - reads the rule from standard input (a file of rules piped in), and an empty input is exit 2", () => {
  const cli = path.join(__dirname, '..', '..', '..', 'src', 'cli', 'nos-compile' + path.extname(__filename));
  const run = (input: string, args: string[]) => spawnSync(process.execPath, [...(cli.endsWith('.ts') ? ['--import', 'tsx'] : []), cli, '-', ...args],
    { input, encoding: 'utf8', timeout: 30_000 });
  const piped = run('powersign\n', ['--emit', 'tokens']);
  assert.equal(piped.status, 0, piped.stderr);
  assert.equal(piped.stdout, `${compileOutput('powersign', 'tokens')}\n`);
  // Several lines are one rule, and an error points at the line of the input it is on.
  const bad = run('exp(sign(g)*\n  sgn(m))*g\n', []);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown name 'sgn' \(did you mean 'sign'\?\) \(line 2, column 3\)/);
  const empty = run(' \n', []);
  assert.equal(empty.status, 2);
  assert.equal(empty.stderr, 'nos-compile: standard input holds no rule (the rule argument - reads it from there)\n');
});
