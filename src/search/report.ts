// The search report from a ledger: leaderboard (markdown, JSON, terminal) and the reward plot (paper's Figure 4) as SVG.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from './checked-write';
import { rankConfirmed, type ConfirmedEntry, type ConfirmRecord } from './confirm';
import { formatLedgerProblem, LEDGER_FILE, readLedger, type CandidateRecord, type LedgerRecord } from './ledger';
import { renderRewardSvg } from './reward-plot';
import { RULE_TREE_COUNT, RULE_TREE_DIR, ruleTreeFile, writeRuleTrees } from './rule-tree';
import { HURDLE_STATUSES, VERDICT_STATUSES, type JobStatus } from './backend';
import { outcomeLabel } from './fidelity';

export interface CandidateRow {
  index: number; tokens: string[]; rule: string | null; hash: string | null; status: string; reward: number; bestLr: number | null;
  bytesPerParam: number | null; reusedFrom: number | null; error: string | null;
  /** The rule whose result this is by the equivalence cache (same function, another spelling), or null. */
  equivalentTo: string | null;
  /** 'screen' when the rule stopped at the funnel's screen (its reward is the screened reward). */
  fidelity: 'screen' | 'full' | null;
}

export interface LeaderboardEntry {
  rank: number; rule: string; reward: number; bestLr: number | null; bytesPerParam: number | null;
  /** The first candidate that sampled this rule, and how many times it was sampled in all. */
  firstIndex: number; timesSampled: number;
  /** The rule's compiler hash, and the tokens of the sample that scored `reward` (its tree is drawn from them). */
  hash: string | null; tokens: string[];
}

export interface SearchReport {
  runId: string | null;
  config: Record<string, unknown> | null;
  /** Candidates proposed and candidates with a recorded result. */
  proposed: number; finished: number;
  /** Results by status (each candidate counted once; reused results under their status). */
  statusCounts: Record<string, number>;
  /** Results taken from an earlier training of the same canonical rule, or of an equivalent one (`equivalent`). */
  reused: number;
  equivalent: number;
  distinctRules: number;
  leaderboard: LeaderboardEntry[];
  /** In candidate order, only those with a result. */
  rows: CandidateRow[];
  state: 'running-or-interrupted' | 'stopped' | 'finished';
  /** Ledger lines left out because they are not valid records (`FILE line N: why`); empty for a sound ledger. */
  problems: string[];
  /** Rules re-trained with more seeds (--confirm), best mean first; empty when none are. */
  confirmed: ConfirmedEntry[];
}

export function buildReport(dir: string): SearchReport {
  const file = path.join(dir, LEDGER_FILE);
  if (!fs.existsSync(file)) throw new Error(`${dir}: no search here (no ${LEDGER_FILE})`);
  const { records, lines, problems } = readLedger(file);
  const candidates = new Map<number, CandidateRecord>();
  const results = new Map<number, Extract<LedgerRecord, { type: 'result' }>>();
  const confirmations: ConfirmRecord[] = [];
  let runId: string | null = null;
  let config: Record<string, unknown> | null = null;
  let state: SearchReport['state'] = 'running-or-interrupted';
  for (const [i, r] of records.entries()) {
    if (r.type === 'start') { runId = r.runId; config = r.config as Record<string, unknown>; }
    else if (r.type === 'batch') for (const c of r.candidates) candidates.set(c.index, c);
    // A result for a rule no batch before it proposed contradicts the ledger (edited from outside): left out, said.
    else if (r.type === 'result' && !candidates.has(r.index)) problems.push({ line: lines[i], problem: `a result for rule ${r.index}, which no batch before it proposed` });
    else if (r.type === 'result' && !results.has(r.index)) results.set(r.index, r);
    else if (r.type === 'stop') state = 'stopped';
    else if (r.type === 'finish') state = 'finished';
    else if (r.type === 'resume') state = 'running-or-interrupted';
    else if (r.type === 'confirm') confirmations.push(r);
  }
  const rows: CandidateRow[] = [...results.values()].sort((a, b) => a.index - b.index).map((r) => {
    const c = candidates.get(r.index);
    return {
      index: r.index, tokens: c?.tokens ?? [], rule: c?.rule ?? null, hash: c?.hash ?? null, status: r.envelope.status,
      reward: r.envelope.reward ?? 0, bestLr: r.envelope.bestLr, bytesPerParam: c?.bytesPerParam ?? null,
      reusedFrom: r.reusedFrom ?? null, error: r.envelope.error ?? c?.compileError ?? null, equivalentTo: r.equivalentTo ?? null,
      fidelity: r.fidelity ?? null,
    };
  });
  const statusCounts: Record<string, number> = {};
  for (const row of rows) {
    const label = outcomeLabel(row.status, row.fidelity ?? undefined);
    statusCounts[label] = (statusCounts[label] ?? 0) + 1;
  }
  const byRule = new Map<string, LeaderboardEntry>();
  const sampled = new Map<string, number>();
  for (const row of rows) {
    if (row.rule === null) continue;
    // Another spelling of a rule on the board counts as a sample of that rule, not as a rule of its own.
    const rule = row.equivalentTo ?? row.rule;
    sampled.set(rule, (sampled.get(rule) ?? 0) + 1);
    // The leaderboard ranks full-fidelity rewards: a rule stopped at the funnel's screen is not on it.
    if (row.status !== 'ok' || row.equivalentTo !== null || row.fidelity === 'screen') continue;
    const seen = byRule.get(row.rule);
    if (!seen || row.reward > seen.reward) {
      byRule.set(row.rule, { rank: 0, rule: row.rule, reward: row.reward, bestLr: row.bestLr, bytesPerParam: row.bytesPerParam,
        firstIndex: seen?.firstIndex ?? row.index, timesSampled: 0, hash: row.hash, tokens: row.tokens });
    }
  }
  const leaderboard = [...byRule.values()]
    .sort((a, b) => b.reward - a.reward || a.firstIndex - b.firstIndex)
    .map((e, i) => ({ ...e, rank: i + 1, timesSampled: sampled.get(e.rule) ?? 1 }));
  return {
    runId, config, proposed: candidates.size, finished: rows.length, statusCounts,
    reused: rows.filter((r) => r.reusedFrom !== null).length, equivalent: rows.filter((r) => r.equivalentTo !== null).length,
    distinctRules: sampled.size, leaderboard, rows, state,
    problems: problems.sort((a, b) => a.line - b.line).map((p) => formatLedgerProblem(file, p)),
    confirmed: rankConfirmed(leaderboard, confirmations, Number(config?.seed ?? 0)),
  };
}

function fmtReward(x: number): string { return x.toFixed(4); }
function fmtLr(x: number | null): string { return x === null ? '-' : x.toExponential(0).replace('e+', 'e'); }
function fmtBytes(x: number | null): string { return x === null ? '-' : String(x); }

function summaryLine(report: SearchReport): string {
  const counts = Object.entries(report.statusCounts).sort((a, b) => b[1] - a[1]).map(([s, n]) => `${s} ${n}`).join(', ');
  const equivalent = report.equivalent ? `, ${report.equivalent} of them from an equivalent rule` : '';
  return `${report.finished} of ${report.proposed} sampled rules finished (${report.distinctRules} distinct, ${report.reused} reused results${equivalent}); status: ${counts || 'none'}; search ${report.state}`;
}

/** The leaderboard as a plain-text table for the terminal. */
export function formatLeaderboard(report: SearchReport, top = 10): string {
  const entries = report.leaderboard.slice(0, top);
  const header = ['rank', 'reward', 'best lr', 'bytes/param', 'rule'];
  const lines = entries.map((e) => [String(e.rank), fmtReward(e.reward), fmtLr(e.bestLr), fmtBytes(e.bytesPerParam), e.rule]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padStart(widths[i]))).join('  ');
  const table = [fmt(header), ...lines.map(fmt)].join('\n');
  const body = entries.length ? table : `(no rule finished with status ok yet)${commonFailure(report)}`;
  if (report.confirmed.length === 0) return `${summaryLine(report)}\n\n${body}\n`;
  return `${summaryLine(report)}\n\n${confirmedTitle(report)}:\n${formatConfirmed(report.confirmed.slice(0, top))}\n\nthe search seed alone:\n${body}\n`;
}

function confirmedTitle(report: SearchReport): string {
  const [first, ...more] = report.confirmed[0].seeds;
  return `confirmed: ${report.confirmed.length} top rules trained again with seed${more.length > 1 ? 's' : ''} ${more.join(' and ')} besides the search's seed ${first}, ranked by the mean of ${more.length + 1} seeds`;
}

/** The confirmed ranking as a terminal table: mean, spread (sd, lowest and highest seed), each seed's reward. */
function formatConfirmed(entries: ConfirmedEntry[]): string {
  const header = ['rank', 'mean', 'sd', 'min', 'max', ...entries[0].seeds.map((s) => `seed ${s}`), 'search rank', 'rule'];
  const lines = entries.map((e) => [String(e.rank), fmtReward(e.mean), fmtReward(e.sd), fmtReward(e.min), fmtReward(e.max),
    ...e.rewards.map((r, i) => `${fmtReward(r)}${i > 0 && e.statuses[i - 1] !== 'ok' ? ` (${e.statuses[i - 1]})` : ''}`), String(e.searchRank), e.rule]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padStart(widths[i]))).join('  ');
  return [fmt(header), ...lines.map(fmt)].join('\n');
}

/** With no rule ok, why: the most common failing status and the first error it came with (a verdict is a result). */
function commonFailure(report: SearchReport): string {
  const failed = report.rows.filter((r) => !VERDICT_STATUSES.has(r.status as JobStatus));
  const counts = new Map<string, number>();
  for (const r of failed) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  const [top] = [...counts.entries()].sort((a, b) => b[1] - a[1]);
  if (!top) return '';
  const example = failed.find((r) => r.status === top[0])!;
  return `\nmost common failure: ${top[0]} (${top[1]} of ${report.finished}), e.g. rule ${example.index + 1}: ${(example.error ?? 'no message').split('\n')[0].slice(0, 200)}`;
}

/** The leaderboard as markdown (leaderboard.md). */
export function leaderboardMarkdown(report: SearchReport, top = 50): string {
  const treeHashes = new Set(treeEntries(report).map((e) => e.hash));
  const out = [`# Search leaderboard${report.runId ? `: ${report.runId}` : ''}`, '', summaryLine(report), ''];
  if (report.confirmed.length > 0) {
    const seeds = report.confirmed[0].seeds;
    out.push(`## Confirmed: ${confirmedTitle(report).replace(/^confirmed: /, '')}`, '');
    out.push(`| rank | mean | sd | min | max | ${seeds.map((x) => `seed ${x}`).join(' | ')} | search rank | rule (canonical infix) | tree |`);
    out.push(`| ---: | ---: | ---: | ---: | ---: | ${seeds.map(() => '---:').join(' | ')} | ---: | --- | --- |`);
    for (const e of report.confirmed) {
      const rewards = e.rewards.map((r, i) => `${fmtReward(r)}${i > 0 && e.statuses[i - 1] !== 'ok' ? ` (${e.statuses[i - 1]})` : ''}`);
      out.push(`| ${e.rank} | ${fmtReward(e.mean)} | ${fmtReward(e.sd)} | ${fmtReward(e.min)} | ${fmtReward(e.max)} | ${rewards.join(' | ')} | ${e.searchRank} | \`${e.rule.replace(/\|/g, '\\|')}\` | [svg](${ruleTreeFile(e.hash)}) |`);
    }
    out.push('', '## The search seed alone', '');
  }
  out.push('| rank | reward | best lr | state bytes/param | rule (canonical infix) | first sampled | times sampled | tree |');
  out.push('| ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |');
  for (const e of report.leaderboard.slice(0, top)) {
    const tree = e.hash && treeHashes.has(e.hash) ? `[svg](${ruleTreeFile(e.hash)})` : '';
    out.push(`| ${e.rank} | ${fmtReward(e.reward)} | ${fmtLr(e.bestLr)} | ${fmtBytes(e.bytesPerParam)} | \`${e.rule.replace(/\|/g, '\\|')}\` | ${e.firstIndex + 1} | ${e.timesSampled} | ${tree} |`);
  }
  const failures = report.rows.filter((r) => r.status !== 'ok' && r.reusedFrom === null && !HURDLE_STATUSES.has(r.status as JobStatus)).slice(0, 20);
  if (failures.length) {
    out.push('', '## Failures (first 20)', '', '| sampled | status | rule | error |', '| ---: | --- | --- | --- |');
    for (const f of failures) {
      const error = (f.error ?? '').split('\n')[0].slice(0, 160).replace(/\|/g, '\\|');
      out.push(`| ${f.index + 1} | ${f.status} | \`${(f.rule ?? f.tokens.join(' ')).replace(/\|/g, '\\|')}\` | ${error} |`);
    }
  }
  out.push('', 'Plot: [rewards.svg](rewards.svg) (reward of each sampled rule, running best, moving average).',
    `Trees (the paper's Figure 2) of the top ${RULE_TREE_COUNT} rules${report.confirmed.length ? ' and the confirmed ones' : ''}, as sampled: ${RULE_TREE_DIR}/.`, '');
  return out.join('\n');
}

/** The text of leaderboard.json. */
export function leaderboardJson(report: SearchReport): string {
  const json = { runId: report.runId, state: report.state, proposed: report.proposed, finished: report.finished,
    statusCounts: report.statusCounts, reused: report.reused, distinctRules: report.distinctRules, confirmed: report.confirmed,
    leaderboard: report.leaderboard };
  return JSON.stringify(json, null, 2) + '\n';
}

/** Writes leaderboard.md, leaderboard.json and rewards.svg into the search folder; returns the report. */
export function writeReport(dir: string): SearchReport {
  const report = buildReport(dir);
  writeReportFiles(dir, report);
  return report;
}

/** Writes the three report files of `report` into `dir`, each replaced whole (a full disk leaves the old one). */
export function writeReportFiles(dir: string, report: SearchReport): void {
  writeFileAtomic(path.join(dir, 'leaderboard.md'), leaderboardMarkdown(report));
  writeFileAtomic(path.join(dir, 'leaderboard.json'), leaderboardJson(report));
  const title = `Reward of sampled rules${report.config?.strategy ? ` (${String(report.config.strategy)})` : ''}`;
  writeFileAtomic(path.join(dir, 'rewards.svg'), renderRewardSvg(report.rows.map((r) => ({ x: r.index + 1, reward: r.reward, ok: r.status === 'ok' })), { title }));
  writeRuleTrees(dir, treeEntries(report));
}

/** The rules that get a tree: the top of the leaderboard and every confirmed rule. */
function treeEntries(report: SearchReport): LeaderboardEntry[] {
  const confirmed = new Set(report.confirmed.map((c) => c.hash));
  return report.leaderboard.filter((e) => e.rank <= RULE_TREE_COUNT || (e.hash !== null && confirmed.has(e.hash)));
}
