// `nos export` and `nos-compile --emit pytorch|tfjs`: what they write, where, and their exit codes for bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main as nos } from '../../../src/cli/nos';
import { main as nosCompile } from '../../../src/cli/nos-compile';
import { exportRule } from '../../../src/export';
import { packageRoot } from '../../../src/runtime/binding';
import { capture } from '../../support/cli-capture';
import { runSearch } from '../../../src/search/search-loop';
import { buildReport } from '../../../src/search/report';
import { fakeConfig, standInDeps } from '../../search/fixtures/stand-ins';

test('nos export writes the exported optimizer to standard output or --out, and nos-compile --emit gives the same text', async () => {
  const r = await capture(() => nos(['node', 'nos', 'export', 'powersign', '--to', 'pytorch']));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, exportRule('powersign', 'pytorch'));
  assert.match(r.stdout, /^class NosPowerSign\(torch\.optim\.Optimizer\):$/m);
  const c = await capture(() => nosCompile(['node', 'nos-compile', 'powersign', '--emit', 'pytorch']));
  assert.equal(c.stdout, r.stdout);
  const dash = await capture(() => nos(['node', 'nos', 'export', 'powersign', '--to', 'pytorch', '--out', '-']));
  assert.equal(dash.stdout, r.stdout, '--out - is standard output (as nos-compile reads - as standard input)');

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-export-cli-'));
  try {
    const file = path.join(dir, 'nos_add_sign_ld.js');
    const w = await capture(() => nos(['node', 'nos', 'export', 'addsign-ld', '--to', 'tfjs', '--out', file, '--class', 'AddSignLd']));
    assert.equal(w.code, 0, w.stderr);
    assert.equal(w.stdout, '');
    assert.match(w.stderr, /wrote AddSignLd \(tfjs\) to .*nos_add_sign_ld\.js/);
    assert.equal(typeof (require(file) as Record<string, unknown>).defineAddSignLd, 'function');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('nos export refuses bad input with exit 2 and says what is wrong', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['powersgn', '--to', 'pytorch'], /unknown rule or name 'powersgn' \(did you mean 'powersign'\?\)/],
    [['powersign', '--to', 'keras'], /argument 'keras' is invalid\. expected one of pytorch, tfjs/],
    [['powersign'], /required option '--to <framework>' not specified/],
    [['powersign', '--to', 'tfjs', '--fused'], /--fused is for --to pytorch/],
    [['powersign', '--to', 'pytorch', '--class', '9lives'], /a class name is letters, digits and _/],
    [['powersign', '--to', 'pytorch', '--out', '/no/such/folder/x.py'], /--out \/no\/such\/folder\/x\.py: the folder \/no\/such\/folder does not exist/],
    [['powersign', '--to', 'pytorch', '--out', os.tmpdir()], /is a folder; name the file to write/],
    [['powersign', '--to', 'pytorch', '--out', `${__filename}/x.py`], /: .*export\.test\.js is a file, not a folder/],
    // Were: a file named --fused, the last --to, a file named ' '.
    [['powersign', '--to', 'pytorch', '--out', '--fused'], /^error: option '-o, --out <file>' is missing its value: '--fused' is a flag\n/],
    [['powersign', '--to', 'pytorch', '--to', 'tfjs'], /^error: option '--to <framework>' is given twice \("pytorch", then "tfjs"\): give it once\n/],
    [['powersign', '--to', 'tfjs', '--out', ' '], /--out must name a file, got " "/],
  ];
  const cwd = process.cwd();
  const here = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-export-cwd-'));
  process.chdir(here); // (this file runs in its own process) a bad --out must write nothing here
  try {
    for (const [args, message] of cases) {
      const r = await capture(() => nos(['node', 'nos', 'export', ...args]));
      assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
    }
    assert.deepEqual(fs.readdirSync(here), []);
  } finally {
    process.chdir(cwd);
    fs.rmSync(here, { recursive: true, force: true });
  }
});

test('nos export: a write that fails on a full disk is a failed write (exit 1) naming the file and the reason', async (t) => {
  if (!fs.existsSync('/dev/full')) return t.skip('no /dev/full on this system');
  const r = await capture(() => nos(['node', 'nos', 'export', 'powersign', '--to', 'pytorch', '--out', '/dev/full']));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /could not write \/dev\/full: no space left on device \(ENOSPC\)/);
});

/** The README's blocks of nos export output: a <details> whose summary is the command. */
const README_BLOCK = /(<details><summary><code>\$ nos export (\S+) --to (\w+)<\/code><\/summary>\n\n```\w+\n)([\s\S]*?)(```\n<\/details>)/g;

test("the README shows nos export's real output for powersign, addsign-ld and table6-05 (NOS_UPDATE_README=1 rewrites it)", () => {
  const file = path.join(packageRoot(), 'README.md');
  if (process.env.NOS_UPDATE_README) {
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(README_BLOCK, (_, head, rule, target, _shown, tail) =>
      `${head}${exportRule(rule, target)}${tail}`));
  }
  const readme = fs.readFileSync(file, 'utf8');
  const blocks = [...readme.matchAll(README_BLOCK)].map((b) => [b[0], b[2], b[3], b[4]]);
  assert.deepEqual(blocks.map((b) => b[1]).sort(), ['addsign-ld', 'powersign', 'table6-05']);
  for (const [, rule, target, shown] of blocks) {
    assert.equal(shown, exportRule(rule, target as 'pytorch' | 'tfjs'), `README's ${rule} --to ${target} is not what nos export writes now (NOS_UPDATE_README=1 rewrites it)`);
  }
});

test('nos export --from a search folder exports its leaderboard rule at --rank: the confirmed ranking where there is one', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-export-from-'));
  try {
    for (const confirm of [0, 2]) {
      const dir = path.join(root, `confirm-${confirm}`);
      await runSearch({ outDir: dir, config: fakeConfig({ budget: 10, confirm }), deps: standInDeps });
      const report = buildReport(dir);
      const ranked = confirm > 0 ? report.confirmed.map((c) => c.rule) : report.leaderboard.map((e) => e.rule);
      assert.ok(ranked.length >= 2, `${ranked.length} rules ranked`);
      assert.equal(report.confirmed.length > 0, confirm > 0);
      for (const rank of [1, 2]) {
        const r = await capture(() => nos(['node', 'nos', 'export', '--from', dir, ...(rank > 1 ? ['--rank', String(rank)] : []), '--to', 'tfjs']));
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, exportRule(ranked[rank - 1], 'tfjs'));
        assert.match(r.stderr, new RegExp(`^rank ${rank} of .*${confirm > 0 ? ', confirmed' : ''}: `));
      }
      const past = await capture(() => nos(['node', 'nos', 'export', '--from', dir, '--rank', String(ranked.length + 1), '--to', 'tfjs']));
      assert.equal(past.code, 2);
      assert.match(past.stderr, new RegExp(`--rank ${ranked.length + 1}: the search in .* ranks ${ranked.length} rules`));
    }
    const dir = path.join(root, 'confirm-0');
    const cases: Array<[string[], RegExp]> = [
      [['adam', '--from', dir], /give a rule or --from .*, not both/],
      [[], /give the rule to export .* or --from a search folder/],
      [['adam', '--rank', '2'], /--rank picks a rule of --from's leaderboard: give --from too/],
      [['--from', root], /--from .*: not a search folder \(no ledger\.jsonl\)/],
    ];
    for (const [args, message] of cases) {
      const r = await capture(() => nos(['node', 'nos', 'export', ...args, '--to', 'pytorch']));
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    }
    // A ledger edited to rank a rule that does not compile: bad input naming the folder and the rule.
    const ledger = path.join(dir, 'ledger.jsonl');
    fs.writeFileSync(ledger, fs.readFileSync(ledger, 'utf8').split('\n').map((line) => {
      if (!line.includes('"type":"batch"')) return line;
      const record = JSON.parse(line);
      for (const c of record.candidates) if (c.rule) c.rule = 'g**';
      return JSON.stringify(record);
    }).join('\n'));
    const edited = await capture(() => nos(['node', 'nos', 'export', '--from', dir, '--to', 'pytorch']));
    assert.equal(edited.code, 2);
    assert.match(edited.stderr, /: the ledger's rule "g\*\*" does not compile \(expected an operand, found '\*'.*\); was ledger\.jsonl edited\?/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
