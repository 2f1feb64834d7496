// A search folder's rules, best first, for what comes after a search (export, transfer): the ranking confirmed with
// more seeds where the search has one, else the leaderboard, read from the ledger as `nos report` reads it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors';

export interface RankedRule {
  rule: string;
  /** The score it is ranked by, in words: 'reward 0.8412', 'mean reward 0.8528 over 3 seeds'. */
  score: string;
}

/** `flag` names the option in messages; a folder without a ledger, or with no finished rule, is an InputError (exit 2). */
export function searchRanking(dir: string, flag = '--from'): { rules: RankedRule[]; confirmed: boolean } {
  const ledger = path.join(dir, 'ledger.jsonl');
  if (!fs.existsSync(ledger) || !fs.statSync(ledger).isFile()) throw new InputError(`${flag} ${dir}: not a search folder (no ledger.jsonl)`);
  // Loaded here only: the report's code is not needed by the commands that take rules as text.
  const { buildReport } = require('./report') as typeof import('./report');
  const report = buildReport(dir);
  const confirmed = report.confirmed.length > 0;
  const rules = confirmed ? report.confirmed.map((c) => ({ rule: c.rule, score: `mean reward ${c.mean.toFixed(4)} over ${c.rewards.length} seeds` }))
    : report.leaderboard.map((e) => ({ rule: e.rule, score: `reward ${e.reward.toFixed(4)}` }));
  if (rules.length === 0) throw new InputError(`${flag} ${dir}: no rule has finished with status ok yet`);
  return { rules, confirmed };
}
