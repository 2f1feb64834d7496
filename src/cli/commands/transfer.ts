// `nos transfer RULE...`: runs rules and the usual optimizers, each at its tuned learning rate and several seeds, on
// Rosenbrock, a residual network and a character language model; prints the ranking, writes Markdown, JSON and SVG.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_DATA_PATH } from '../../runtime/child/data';
import { DEFAULT_BASELINES, resolveOptimizers } from '../../transfer/optimizers';
import { formatLr, renderTerminal, SUMMARY_JSON, SUMMARY_MD } from '../../transfer/report';
import { RUNS_FILE } from '../../transfer/run-log';
import { runTransfer, type RunInfo } from '../../transfer/run-transfer';
import type { TransferTask } from '../../transfer/task';
import { createTask, TASK_NAMES } from '../../transfer/tasks';
import { DEFAULT_TEXT_PATH } from '../../transfer/text-corpus';
import { boundedNumber, integer, nonBlank, numberOf } from '../flags';
import { MAX_TIMEOUT_SECONDS, MIN_TIMEOUT_SECONDS } from '../../search/limits';
import { failureWord } from '../../transfer/task';
import { makeDirs } from '../../runtime/make-dirs';
import { WriteError } from '../../search/checked-write';
import { asInputError, describeFsError, InputError } from '../../errors';
import { searchRanking } from '../../search/ranked-rules';

/** How many of a search's best rules --from takes by default. */
const DEFAULT_TOP = 3;

/** Where the command writes (tests swap these for buffers). */
export const transferOutput: { stdout: { write(s: string): unknown }; stderr: { write(s: string): unknown; isTTY?: boolean } } = {
  stdout: process.stdout,
  stderr: process.stderr,
};

interface TransferFlags {
  tasks: string[]; baselines: string[]; seeds: number; out?: string; quick?: boolean; data?: string; text?: string;
  threads: number; lrs?: number[]; timeout?: number; from?: string; top?: number; progress: boolean;
}

function list(flag: string) {
  return (text: string): string[] => {
    const items = text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    if (items.some((s) => /\s/.test(s))) throw new InvalidArgumentError(`${flag} takes a comma-separated list, got ${JSON.stringify(text)}`);
    return items;
  };
}

function learningRates(text: string): number[] {
  const lrs = text.split(',').map(numberOf);
  // Kernels take the rate as a float32: one that rounds to 0 (1e-50) or to infinity (1e39) is refused, not run.
  if (lrs.length === 0 || lrs.some((lr) => !Number.isFinite(lr) || lr <= 0 || !Number.isFinite(Math.fround(lr)) || Math.fround(lr) === 0)) {
    throw new InvalidArgumentError(`--lrs takes comma-separated learning rates > 0 (e.g. 1e-3,1e-2), got ${JSON.stringify(text)}`);
  }
  return [...new Set(lrs)].sort((a, b) => a - b);
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').replace('T', '-');
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

function describeRun(i: RunInfo): string {
  return `${i.task} ${i.optimizer} ${i.phase === 'tune' ? 'tune' : 'final'} lr ${formatLr(i.lr)}${i.phase === 'final' ? ` seed ${i.seed}` : ''}`;
}

/** Progress on stderr: one line rewritten in place on a terminal (at most 10 times a second), a line per run otherwise. */
class Progress {
  private lastDraw = 0;
  constructor(private readonly stream: { write(s: string): unknown }, private readonly tty: boolean) {}

  start(i: RunInfo): void {
    if (!this.tty) this.stream.write(`run ${i.index}/${i.total}: ${describeRun(i)} | ${formatDuration(i.elapsedSeconds)} elapsed | ETA ${formatDuration(i.etaSeconds)}\n`);
    else this.draw(i, true);
  }

  progress(i: RunInfo): void {
    if (this.tty) this.draw(i, false);
  }

  end(i: RunInfo, status: string, score: string, seconds: number): void {
    if (!this.tty) this.stream.write(`  ${status}${score ? ` ${score}` : ''} in ${seconds.toFixed(1)} s\n`);
  }

  private draw(i: RunInfo, force: boolean): void {
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const width = 20;
    const filled = Math.min(width, Math.round(i.fraction * width));
    this.stream.write(`\rrun ${i.index}/${i.total} ${describeRun(i)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${formatDuration(i.elapsedSeconds)}, ETA ${formatDuration(i.etaSeconds)}\x1b[K`);
  }

  finish(): void {
    if (this.tty) this.stream.write('\r\x1b[K');
  }
}

/** The command line that reproduces this run (also what continues it). */
function commandLine(rules: string[], flags: TransferFlags, out: string): string {
  const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  // A rule that starts with '-' (a found rule may) goes after '--', at the end, or it would read as a flag.
  const afterDashes = rules.some((r) => r.startsWith('-'));
  const parts = ['nos', 'transfer', ...(afterDashes ? [] : rules.map(quote)), '--tasks', flags.tasks.join(','), '--baselines', flags.baselines.join(',') || "''", '--seeds', String(flags.seeds)];
  if (flags.quick) parts.push('--quick');
  if (flags.data) parts.push('--data', quote(flags.data));
  if (flags.text) parts.push('--text', quote(flags.text));
  if (flags.lrs) parts.push('--lrs', flags.lrs.join(','));
  if (flags.threads !== 2) parts.push('--threads', String(flags.threads));
  if (flags.timeout !== undefined) parts.push('--timeout', String(flags.timeout));
  parts.push('--out', quote(out));
  if (afterDashes) parts.push('--', ...rules.map(quote));
  return parts.join(' ');
}

/**
 * The top `top` rules of a search folder, after the rules given, each said on stderr with its score.  The command
 * line written in the report names them as text, so continuing does not depend on the search (which may go on).
 */
function rulesFromSearch(dir: string, top: number): string[] {
  let ranking;
  try {
    ranking = searchRanking(dir);
  } catch (e) {
    throw asInputError(e);
  }
  const taken = ranking.rules.slice(0, top);
  const err = transferOutput.stderr;
  err.write(`from ${dir}: the top ${taken.length} rule${taken.length === 1 ? '' : 's'} of its ${ranking.confirmed ? 'confirmed ranking' : 'leaderboard'}`
    + `${taken.length < top ? ` (it ranks ${taken.length})` : ''}\n`);
  taken.forEach((r, i) => err.write(`  ${i + 1}. ${r.rule} (${r.score})\n`));
  return taken.map((r) => r.rule);
}

async function transferAction(given: string[], flags: TransferFlags): Promise<void> {
  if (flags.out !== undefined && flags.out.trim() === '') throw new InputError(`--out must name a folder, got ${JSON.stringify(flags.out)}`);
  if (flags.top !== undefined && flags.from === undefined) throw new InputError('--top picks rules of a search\'s ranking: give --from SEARCH_DIR too');
  const rules = flags.from === undefined ? given : [...given, ...rulesFromSearch(flags.from, flags.top ?? DEFAULT_TOP)];
  const unknown = flags.tasks.filter((t) => !TASK_NAMES.includes(t));
  if (unknown.length || flags.tasks.length === 0) throw new InputError(`--tasks: unknown task '${unknown[0] ?? ''}': expected some of ${TASK_NAMES.join(', ')}`);
  // A bad rule or baseline: exit 2, before any data loads.
  const optimizers = resolveOptimizers(rules, flags.baselines, (m) => transferOutput.stderr.write(`note: ${m}\n`));
  const out = path.resolve(flags.out ?? path.join('runs', `transfer-${timestamp()}`));
  if (fs.existsSync(out) && !fs.statSync(out).isDirectory()) throw new InputError(`--out ${out} is a file, not a folder`);
  const continuing = fs.existsSync(path.join(out, RUNS_FILE));

  const tasks: TransferTask[] = [];
  try {
    for (const name of [...new Set(flags.tasks)]) {
      try {
        tasks.push(await createTask(name, { quick: !!flags.quick, dataPath: flags.data, textPath: flags.text, threads: flags.threads, lrs: flags.lrs }));
      } catch (e) {
        throw asInputError(e); // missing or malformed data or text names the file
      }
    }
    // A folder that cannot be made (under /proc, under a file, read-only) is bad input named by its flag, before any run.
    try {
      makeDirs(out);
    } catch (e) {
      throw new InputError(`--out ${out}: cannot create the folder: ${describeFsError(e)}`);
    }
    const err = transferOutput.stderr;
    err.write(`${continuing ? 'continuing' : 'starting'} ${out}: ${optimizers.length} optimizers (${optimizers.map((o) => o.label).join(', ')}) on ${tasks.map((t) => t.name).join(', ')}, seeds 0..${flags.seeds - 1}${flags.quick ? ', quick sizes' : ''}${flags.timeout !== undefined ? `, at most ${flags.timeout} s per run` : ''}\n`);
    const progress = flags.progress ? new Progress(err, !!err.isTTY) : null;
    let interrupts = 0;
    let stopCode = 130;
    const onSignal = (signal: NodeJS.Signals) => {
      interrupts++;
      if (interrupts === 1) {
        stopCode = signal === 'SIGTERM' ? 143 : 130;
        progress?.finish();
        err.write(`\nstopping: every finished run is in ${RUNS_FILE}; the run in progress is dropped (${signal === 'SIGTERM' ? 'SIGTERM' : 'Ctrl-C'} again quits at once)\n`);
      } else {
        err.write('stopping now\n');
        process.exit(signal === 'SIGTERM' ? 143 : 130);
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    let result;
    try {
      result = await runTransfer({ tasks, optimizers, seeds: Array.from({ length: flags.seeds }, (_, i) => i), out, runLimitSeconds: flags.timeout, command: commandLine(rules, flags, out) }, {
        stopped: () => interrupts > 0,
        onRunStart: (i) => progress?.start(i),
        onRunProgress: (i) => progress?.progress(i),
        onRunEnd: (i, r) => progress?.end(i, r.status === 'ok' ? 'ok' : failureWord(r.status), r.score === null ? '' : `${tasks.find((t) => t.name === r.task)!.metric.short} ${r.score.toPrecision(4)}`, r.seconds),
        onNotice: (message) => { progress?.finish(); err.write(`nos transfer: ${message}\n`); },
      });
    } catch (e) {
      // A write that failed (a full disk, a file made read-only or replaced): the runs finished before it are kept.
      if (e instanceof WriteError) {
        e.message = `${e.message}\nevery run finished before it is in ${path.join(out, RUNS_FILE)}; once that is fixed, continue with: ${commandLine(rules, flags, out)}`;
      }
      throw e;
    } finally {
      progress?.finish();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    transferOutput.stdout.write(`${renderTerminal(result.summaries)}\n`);
    transferOutput.stdout.write(`transfer folder: ${out} (${folderFiles(out, tasks).join(', ')})\n`);
    transferOutput.stdout.write(`${result.ran} runs done now, ${result.reused} found done in the folder\n`);
    if (result.interrupted) {
      transferOutput.stdout.write(`stopped early; continue with: ${commandLine(rules, flags, out)}\n`);
      process.exitCode = stopCode;
    }
  } finally {
    for (const t of tasks) await t.dispose();
  }
}

/** The report's files that are in the folder (a run stopped early has not drawn every task's plot yet). */
function folderFiles(out: string, tasks: TransferTask[]): string[] {
  let names: string[] = [];
  try { names = fs.readdirSync(out); } catch { /* reported as the folder alone */ }
  const plots = names.filter((n) => n.endsWith('.svg') && tasks.some((t) => n === `${t.name}.svg` || n.startsWith(`${t.name}-`))).sort();
  return [RUNS_FILE, SUMMARY_MD, SUMMARY_JSON].filter((n) => names.includes(n)).concat(plots);
}

export function register(program: Command): void {
  program
    .command('transfer')
    .description('compare rules with the usual optimizers on other problems: Rosenbrock, a residual network, a character language model')
    .argument('[rules...]', 'rules to compare: names (powersign, addsign-ld, ...), infix text or controller tokens')
    .showHelpAfterError('(run with --help for usage; a rule that starts with \'-\' goes after --)')
    .option('--tasks <list>', `tasks: some of ${TASK_NAMES.join(',')}`, list('--tasks'), [...TASK_NAMES])
    .option('--baselines <list>', 'baselines (as PyTorch defines them): some of sgd,momentum,adam,rmsprop; \'\' for none', list('--baselines'), [...DEFAULT_BASELINES])
    .option('--seeds <n>', 'seeds per optimizer at its tuned learning rate', integer('--seeds', 1, 100), 3)
    .option('--out <dir>', 'results folder (default runs/transfer-<timestamp>); a folder with finished runs is continued')
    .option('--quick', 'tiny sizes: a first look in a few minutes on 2 cores, and the tests')
    .option('--data <path>', `images for convnet-large: a folder of IDX files (MNIST, Fashion-MNIST), CIFAR-10 or CIFAR-100 binary files or NumPy .npy arrays, or a NumPy .npz file (default ${DEFAULT_DATA_PATH})`, nonBlank('--data', 'a folder or an .npz file'))
    .option('--text <path>', `plain-text file or folder for lm (default ${DEFAULT_TEXT_PATH})`, nonBlank('--text', 'a file or folder'))
    .option('--lrs <list>', 'learning-rate grid for every task instead of each task\'s own', learningRates)
    .option('--threads <n>', 'onnxruntime threads', integer('--threads', 1, 256), 2)
    .option('--timeout <seconds>', 'stop a run that trains past this long and record it as timed out (default: no limit); a longer limit later runs those again',
      boundedNumber('--timeout', MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS))
    .option('--from <dir>', `also compare a search folder's best rules (its confirmed ranking where it has one; see --top)`, nonBlank('--from', 'a folder'))
    .option('--top <k>', `with --from: how many of its best rules (default ${DEFAULT_TOP})`, integer('--top', 1, 50))
    .option('--no-progress', 'no progress on stderr')
    .action(transferAction);
}
