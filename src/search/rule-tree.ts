// A rule's computation tree as SVG, drawn like the paper's Figure 2: operands and intermediate results in blue boxes,
// unary functions in yellow, binary functions in grey, the update at the top; what `keep` discards is faded.
//
// The tree is drawn from the rule's token form (groups op1 op2 u1 u2 b, as the controller sampled it): a bank
// operand o<j> is drawn as group j's whole subtree under an o<j> box, so a result used twice appears twice.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BANK_OPERAND_TOKENS } from '../compiler/tokens';
import { writeFileAtomic } from './checked-write';
import { esc } from './reward-plot';
import { makeDirs } from '../runtime/make-dirs';

/** The search folder's subfolder of trees, and how many of the leaderboard's top rules get one. */
export const RULE_TREE_DIR = 'rule-trees';
export const RULE_TREE_COUNT = 10;

/** A rule's tree file, relative to the search folder: named by the rule's hash, so links survive re-ranking. */
export function ruleTreeFile(hash: string): string {
  return `${RULE_TREE_DIR}/${hash.replace(/[^0-9A-Za-z_-]/g, '_')}.svg`;
}

type Kind = 'operand' | 'unary' | 'binary' | 'result';

interface TreeNode { kind: Kind; label: string; children: TreeNode[]; faded: boolean; x: number; y: number; width: number }

const OPERAND_LABELS: Record<string, string> = { sign_g: 'sign(g)', sign_m: 'sign(m)', g2: 'g²', g3: 'g³', noise: 'noise' };
const BINARY_LABELS: Record<string, string> = { add: '+ (add)', sub: '− (sub)', mul: '× (mul)', div: '÷ (div)', pow: '^ (pow)', keep: 'keep left' };
const UNARY_LABELS: Record<string, string> = { id: 'identity', neg: 'negate' };
const FILL: Record<Kind, string> = { operand: '#cfe2f3', result: '#cfe2f3', unary: '#fff2b3', binary: '#d9d9d9' };

const LEVEL_H = 46;
const BOX_H = 24;
const GAP = 14;
const CHAR_W = 7;

function boxWidth(label: string): number { return Math.max(44, label.length * CHAR_W + 16); }

function node(kind: Kind, label: string, children: TreeNode[], faded: boolean): TreeNode {
  return { kind, label, children, faded, x: 0, y: 0, width: boxWidth(label) };
}

/** The tree of a rule given as tokens (groups of five); throws naming the problem when they are not groups of five. */
export function buildRuleTree(tokens: readonly string[]): TreeNode {
  if (tokens.length === 0 || tokens.length % 5 !== 0) throw new RangeError(`rule tree: expected groups of five tokens, got ${tokens.length} tokens`);
  const groups = tokens.length / 5;
  const operand = (token: string, faded: boolean, before: number): TreeNode => {
    const bank = BANK_OPERAND_TOKENS.indexOf(token);
    if (bank < 0) return node('operand', OPERAND_LABELS[token] ?? token, [], faded);
    if (bank + 1 > before) throw new RangeError(`rule tree: ${token} is used before group ${bank + 1} computes it`);
    return node('result', token, [group(bank, faded)], faded);
  };
  const group = (k: number, faded: boolean): TreeNode => {
    const [op1, op2, u1, u2, b] = tokens.slice(5 * k, 5 * k + 5);
    const right = faded || b === 'keep'; // keep returns its left input: the right branch does not enter the rule
    return node('binary', BINARY_LABELS[b] ?? b, [
      node('unary', UNARY_LABELS[u1] ?? u1, [operand(op1, faded, k)], faded),
      node('unary', UNARY_LABELS[u2] ?? u2, [operand(op2, right, k)], right),
    ], faded);
  };
  return node('result', 'update Δ', [group(groups - 1, false)], false);
}

/** Left and right edges of a subtree's boxes at each level below its root (index 0: the root), relative to the root's x. */
interface Contour { left: number[]; right: number[] }

/**
 * Tidy layout: each subtree is laid out on its own, then siblings are pushed apart until no level of one overlaps
 * the same level of those before it, and the parent is centred over its first and last child. Sets x relative to
 * the parent, y by level.
 */
function arrange(n: TreeNode, level: number): Contour {
  n.y = level * LEVEL_H;
  const own = { left: [-n.width / 2], right: [n.width / 2] };
  if (n.children.length === 0) return own;
  const contours = n.children.map((c) => arrange(c, level + 1));
  const offsets: number[] = [];
  let merged: Contour = { left: [], right: [] };
  contours.forEach((c, i) => {
    let offset = 0;
    if (i > 0) {
      offset = -Infinity;
      for (let l = 0; l < Math.min(merged.right.length, c.left.length); l++) offset = Math.max(offset, merged.right[l] + GAP - c.left[l]);
    }
    offsets.push(offset);
    c.left.forEach((v, l) => { merged.left[l] = Math.min(merged.left[l] ?? Infinity, v + offset); });
    c.right.forEach((v, l) => { merged.right[l] = Math.max(merged.right[l] ?? -Infinity, v + offset); });
  });
  const centre = (offsets[0] + offsets[offsets.length - 1]) / 2;
  n.children.forEach((c, i) => { c.x = offsets[i] - centre; });
  merged = { left: merged.left.map((v) => v - centre), right: merged.right.map((v) => v - centre) };
  return { left: [...own.left, ...merged.left], right: [...own.right, ...merged.right] };
}

/** Lays the tree out; x becomes absolute (the leftmost box starts at GAP). Returns the drawing's size. */
function layout(root: TreeNode): { width: number; height: number } {
  const contour = arrange(root, 0);
  root.x = GAP - Math.min(...contour.left);
  const absolute = (n: TreeNode) => n.children.forEach((c) => { c.x += n.x; absolute(c); });
  absolute(root);
  return { width: Math.max(...contour.right) + root.x + GAP, height: contour.left.length * LEVEL_H };
}

/** The SVG of a rule's tree; `title` above it, `caption` (e.g. the canonical infix) below. */
export function renderRuleTreeSvg(tokens: readonly string[], options: { title?: string; caption?: string } = {}): string {
  const root = buildRuleTree(tokens);
  const size = layout(root);
  const top = options.title ? 40 : 12;
  const width = Math.max(size.width, 530, 7 * Math.max((options.title ?? '').length, (options.caption ?? '').length) + 24);
  const offsetX = (width - size.width) / 2;
  const height = top + size.height + (options.caption ? 44 : 20) + 22;
  const f = (v: number) => v.toFixed(1);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${f(width)}" height="${height}" viewBox="0 0 ${f(width)} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${f(width)}" height="${height}" fill="white"/>`);
  if (options.title) out.push(`<text x="${f(width / 2)}" y="24" text-anchor="middle" font-size="14">${esc(options.title)}</text>`);
  const all: TreeNode[] = [];
  const walk = (n: TreeNode) => { all.push(n); n.children.forEach(walk); };
  walk(root);
  // Edges first, so boxes sit on top of them; data flows up from the operands to the update.
  for (const n of all) {
    for (const c of n.children) {
      out.push(`<line x1="${f(offsetX + c.x)}" y1="${f(top + c.y)}" x2="${f(offsetX + n.x)}" y2="${f(top + n.y + BOX_H)}" stroke="#555"${c.faded ? ' stroke-dasharray="4 3" stroke-opacity="0.5"' : ''}/>`);
    }
  }
  for (const n of all) {
    const x = offsetX + n.x - n.width / 2;
    const style = n.faded ? ' fill-opacity="0.35" stroke-opacity="0.4" stroke-dasharray="4 3"' : '';
    out.push(`<rect x="${f(x)}" y="${f(top + n.y)}" width="${n.width}" height="${BOX_H}" rx="4" fill="${FILL[n.kind]}" stroke="#333"${style}/>`);
    out.push(`<text x="${f(offsetX + n.x)}" y="${f(top + n.y + 16)}" text-anchor="middle"${n.faded ? ' fill-opacity="0.45"' : ''}>${esc(n.label)}</text>`);
  }
  const footer = top + size.height + 8;
  if (options.caption) out.push(`<text x="${f(width / 2)}" y="${footer + 12}" text-anchor="middle" font-family="monospace">${esc(options.caption)}</text>`);
  const legend: Array<[string, string, boolean]> = [[FILL.operand, 'operand or result', false], [FILL.unary, 'unary function', false],
    [FILL.binary, 'binary function', false], ['#ffffff', 'discarded by keep', true]];
  let lx = 12;
  const ly = height - 10;
  for (const [color, label, faded] of legend) {
    out.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" rx="2" fill="${color}" stroke="#333"${faded ? ' stroke-dasharray="3 2" stroke-opacity="0.5"' : ''}/>`);
    out.push(`<text x="${lx + 16}" y="${ly}" font-size="11">${esc(label)}</text>`);
    lx += 16 + label.length * 6 + 16;
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

export interface TreeEntry { rank: number; rule: string; reward: number; hash: string | null; tokens: string[] }

/** Draws each entry's tree into DIR/rule-trees/ and removes trees of rules no longer listed. */
export function writeRuleTrees(dir: string, entries: readonly TreeEntry[]): void {
  const folder = path.join(dir, RULE_TREE_DIR);
  makeDirs(folder);
  const keep = new Set<string>();
  for (const e of entries) {
    if (!e.hash || e.tokens.length === 0) continue;
    const file = ruleTreeFile(e.hash);
    keep.add(path.basename(file));
    const svg = renderRuleTreeSvg(e.tokens, { title: `rank ${e.rank}: reward ${e.reward.toFixed(4)}`, caption: e.rule });
    writeFileAtomic(path.join(dir, file), svg);
  }
  for (const name of fs.readdirSync(folder)) if (name.endsWith('.svg') && !keep.has(name)) fs.rmSync(path.join(folder, name), { force: true });
}
