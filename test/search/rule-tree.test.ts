// Rule trees (the paper's Figure 2): the tree of a token form, what keep fades, boxes that never overlap, and the
// trees a report writes for its top rules, linked from leaderboard.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildRuleTree, renderRuleTreeSvg, RULE_TREE_COUNT, RULE_TREE_DIR, ruleTreeFile } from '../../src/search/rule-tree';
import { buildReport, writeReport } from '../../src/search/report';
import { runSearch } from '../../src/search/search-loop';
import { fakeConfig, standInDeps } from './fixtures/stand-ins';

interface Shape { kind: string; label: string; faded: boolean; children: Shape[] }
const shape = (n: Shape): unknown => ({ label: n.label, faded: n.faded, children: n.children.map(shape) });

test('one group: the update over the binary function over two unary functions over the operands; keep fades its right side', () => {
  const tree = buildRuleTree(['sign_m', 'g', 'exp', 'id', 'mul']) as unknown as Shape;
  assert.deepEqual(shape(tree), { label: 'update Δ', faded: false, children: [{ label: '× (mul)', faded: false, children: [
    { label: 'exp', faded: false, children: [{ label: 'sign(m)', faded: false, children: [] }] },
    { label: 'identity', faded: false, children: [{ label: 'g', faded: false, children: [] }] },
  ] }] });
  const kept = buildRuleTree(['m', '2', 'id', 'sign', 'keep']) as unknown as Shape;
  const [left, right] = kept.children[0].children;
  assert.equal(left.faded, false);
  assert.equal(right.faded, true);
  assert.equal(right.children[0].faded, true, 'everything under a discarded branch is faded');
});

test('a bank operand is drawn as the subtree of the group that computed it, under its o<j> box', () => {
  const tree = buildRuleTree(['g', 'm', 'id', 'id', 'mul', 'o1', 'v', 'exp', 'sqrt', 'div']) as unknown as Shape;
  const o1 = tree.children[0].children[0].children[0];
  assert.equal(o1.label, 'o1');
  assert.equal(o1.kind, 'result');
  assert.equal(o1.children[0].label, '× (mul)');
  assert.throws(() => buildRuleTree(['g', 'm', 'id']), /expected groups of five tokens, got 3 tokens/);
  assert.throws(() => buildRuleTree(['o1', 'm', 'id', 'id', 'mul']), /o1 is used before group 1 computes it/);
});

test('the SVG is well formed, escapes its text, and no two boxes of a level overlap (4 groups, results used twice)', () => {
  const tokens = 'g m id id mul o1 v id sqrt div o2 o1 exp sign mul o3 o2 id neg sub'.split(' ');
  const svg = renderRuleTreeSvg(tokens, { title: 'rank 1 <best>', caption: 'a & b' });
  assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>\n$/);
  assert.ok(svg.includes('rank 1 &lt;best&gt;') && svg.includes('a &amp; b'));
  const boxes = [...svg.matchAll(/<rect x="([\d.]+)" y="([\d.]+)" width="(\d+)" height="24"/g)].map((m) => ({ x: Number(m[1]), y: Number(m[2]), w: Number(m[3]) }));
  // Each use of o<j> repeats group j's subtree, so the tree holds far more boxes than the 4 groups' 20 tokens.
  assert.ok(boxes.length > 30, `${boxes.length} boxes`);
  const width = Number(/width="([\d.]+)"/.exec(svg)![1]);
  for (const a of boxes) {
    assert.ok(a.x >= 0 && a.x + a.w <= width, `box at ${a.x} inside the drawing`);
    for (const b of boxes) {
      if (a === b || a.y !== b.y) continue;
      assert.ok(a.x + a.w <= b.x || b.x + b.w <= a.x, `boxes at x ${a.x} and ${b.x} overlap on level y ${a.y}`);
    }
  }
});

test('a report draws the trees of its top rules into rule-trees/, links them, and removes trees of rules that fell out', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-trees-'));
  try {
    await runSearch({ outDir: dir, config: fakeConfig({ budget: 40 }), deps: standInDeps });
    const stale = path.join(dir, RULE_TREE_DIR, 'feedfacefeedface.svg');
    fs.mkdirSync(path.dirname(stale), { recursive: true });
    fs.writeFileSync(stale, '<svg/>');
    const report = writeReport(dir);
    const top = report.leaderboard.slice(0, RULE_TREE_COUNT);
    assert.ok(top.length >= 3);
    const md = fs.readFileSync(path.join(dir, 'leaderboard.md'), 'utf8');
    for (const e of top) {
      const file = path.join(dir, ruleTreeFile(e.hash!));
      assert.ok(fs.existsSync(file), `${file} written`);
      assert.ok(fs.readFileSync(file, 'utf8').includes(`reward ${e.reward.toFixed(4)}`));
      assert.ok(md.includes(`[svg](${ruleTreeFile(e.hash!)})`));
    }
    assert.equal(fs.readdirSync(path.join(dir, RULE_TREE_DIR)).length, top.length);
    assert.ok(!fs.existsSync(stale));
    assert.deepEqual(buildReport(dir).leaderboard[0].tokens.length, 5);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
