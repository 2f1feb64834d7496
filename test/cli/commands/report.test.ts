// `nos report` on a folder whose report files cannot be redrawn (read-only, archived) still prints the leaderboard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runSearch } from '../../../src/search/search-loop';
import { fakeConfig, standInDeps } from '../../search/fixtures/stand-ins';
import { nosCaptured } from '../../support/cli-capture';

const nos = nosCaptured;

test('nos report prints the leaderboard (table and --json) when it cannot rewrite the report files', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-report-cli-'));
  try {
    await runSearch({ outDir: dir, config: fakeConfig({ budget: 5 }), deps: standInDeps });
    for (const f of ['leaderboard.md', 'leaderboard.json']) {
      fs.rmSync(path.join(dir, f), { force: true });
      fs.mkdirSync(path.join(dir, f)); // writing it now fails, as in a read-only folder
    }
    const table = await nos(['report', dir, '--top', '2']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /5 of 5 sampled rules finished/);
    assert.match(table.stdout, /rank\s+reward/);
    assert.match(table.stderr, /^note: .*: could not redraw the report files \(.+\)\n$/);
    const json = await nos(['report', dir, '--json']);
    assert.equal(json.code, 0, json.stderr);
    assert.equal(JSON.parse(json.stdout).finished, 5);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('nos report "" is not a search folder, even run inside one', async () => {
  const r = await nos(['report', '']);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, 'nos: "": not a search folder (no ledger.jsonl)\n');
});

test('nos report on a folder whose ledger.jsonl is a folder: exit 2 naming it (was: EISDIR, exit 1)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-report-cli-'));
  try {
    fs.mkdirSync(path.join(dir, 'ledger.jsonl'));
    const r = await nos(['report', dir]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `nos: ${path.join(dir, 'ledger.jsonl')}: not a file\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('nos report on a ledger with invalid records: each is named by file, line and field, and the valid rest is printed', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-report-cli-'));
  try {
    await runSearch({ outDir: dir, config: fakeConfig({ budget: 5 }), deps: standInDeps });
    const file = path.join(dir, 'ledger.jsonl');
    const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    const resultLines = lines.map((r, i) => (r.type === 'result' ? i : -1)).filter((i) => i >= 0);
    const [a, b, c] = resultLines;
    lines[a].envelope.reward = 'abc'; // was: x.toFixed is not a function
    lines[b].envelope.reward = 7; // was: ranked first
    delete lines[c].envelope; // was: Cannot read properties of undefined
    fs.writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const r = await nos(['report', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^2 of 5 sampled rules finished/);
    assert.doesNotMatch(r.stdout, /7\.0000/);
    assert.equal(r.stderr, [
      `warning: ${file} line ${a + 1}: result record: envelope.reward must be a finite number or null (got "abc"); left out of the report`,
      `warning: ${file} line ${b + 1}: result record: envelope.reward must be <= 1 (got 7); left out of the report`,
      `warning: ${file} line ${c + 1}: result record: envelope is missing; left out of the report`,
    ].join('\n') + '\n');
    const resumed = runSearch({ outDir: dir, resume: true, deps: standInDeps });
    await assert.rejects(resumed, new RegExp(`3 lines are not valid ledger records:\\n  ${file.replace(/[.]/g, '\\.')} line ${a + 1}: `));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
