// `nos report DIR`: prints a search's leaderboard and redraws leaderboard.md, leaderboard.json, rewards.svg and the rule trees.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { integer } from '../flags';
import { WriteError } from '../../search/checked-write';
import { buildReport, formatLeaderboard, leaderboardJson, writeReportFiles } from '../../search/report';
import { describeFsError, InputError } from '../../errors';

export function register(program: Command): void {
  program.command('report')
    .description("print a search's leaderboard and redraw its report files")
    .argument('<dir>', 'the search folder (holds ledger.jsonl)')
    .option('--top <n>', 'leaderboard rows to print', integer('--top', 1), 10)
    .option('--json', 'print leaderboard.json instead of the table')
    .action((dir: string, flags: { top: number; json?: boolean }) => {
      if (dir.trim() === '' || !fs.existsSync(path.join(dir, 'ledger.jsonl'))) throw new InputError(`${dir.trim() === '' ? JSON.stringify(dir) : dir}: not a search folder (no ledger.jsonl)`);
      // A folder (or a device) in its place read as EISDIR and exit 1.
      if (!fs.statSync(path.join(dir, 'ledger.jsonl')).isFile()) throw new InputError(`${path.join(dir, 'ledger.jsonl')}: not a file`);
      const report = buildReport(dir);
      // A damaged line costs that line, not the report: say which and why, then print what is valid.
      for (const problem of report.problems.slice(0, 10)) process.stderr.write(`warning: ${problem}; left out of the report\n`);
      if (report.problems.length > 10) process.stderr.write(`warning: ... and ${report.problems.length - 10} more invalid lines left out\n`);
      try {
        writeReportFiles(dir, report);
      } catch (e) {
        // A read-only, archived or full folder still gets its leaderboard printed.
        const why = e instanceof WriteError ? `${path.basename(e.file)}: ${e.reason}` : describeFsError(e);
        process.stderr.write(`note: ${dir}: could not redraw the report files (${why})\n`);
      }
      if (flags.json) process.stdout.write(leaderboardJson(report));
      else process.stdout.write(formatLeaderboard(report, flags.top));
    });
}
