// `nos search`: runs (or resumes) a search with a live status line, then prints and writes its leaderboard and plot.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { GpuUnusableError } from '../../search/backend';
import { WriteError } from '../../search/checked-write';
import { formatLeaderboard, writeReport } from '../../search/report';
import { passwordOnCommandLineNote, QUEUE_PASSWORD_ENV, queueUrlWithPassword, storedQueueUrlWithPassword } from '../../search/queue-password';
import { assertRedisReachable, parseRedisUrl } from '../../search/queue-redis';
import { LEDGER_FILE, readLedger } from '../../search/ledger';
import { DEFAULT_CONFIRM, GPU_IN_FLIGHT, QUEUE_IN_FLIGHT, type SearchConfig } from '../../search/search-config';
import { DEFAULT_FIDELITY, outcomeLabel } from '../../search/fidelity';
import { InputError } from '../../errors';
import { buildSearchConfig, checkResumeInputs, describeSearchData, prepareOutDir } from '../../search/search-inputs';
import { runSearch, type SearchEvent } from '../../search/search-loop';
import { MAX_PROCESSES, MAX_RSS_MB, MAX_TIMEOUT_SECONDS, MIN_RSS_MB, MIN_TIMEOUT_SECONDS } from '../../search/limits';
import { boundedNumber, integer, nonBlank, queueUrl } from '../flags';

/** `npm run search` with no arguments: a short search that finishes in minutes on 2 cores. */
export const DEFAULT_BUDGET = 100;
export const DEFAULT_SPACE = 'sign-family';
const REPORT_EVERY_MS = 5000;
/** Without a terminal, a status line this often (on a result, or on the clock when none comes). */
const LINE_EVERY_MS = 5000;
/** With nothing finished for this long, the status line says so (a queue with no live worker, a stalled GPU). */
const QUIET_AFTER_MS = 30_000;

interface SearchFlags {
  budget: number; workers?: number; strategy: string; space: string; protocol: string; data?: string; device: string;
  seed: number; out?: string; resume?: boolean; queue?: string; queuePasswordFile?: string; batchSize?: number; timeout?: number;
  maxRss?: number; top: number; progress: boolean; inFlight?: number; ppo?: string; confirm: number; hurdles: boolean; fec: boolean; fidelity?: string;
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').replace('T', '-');
}

function fmtDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** Results by status, most common first, and the reused ones: `ok 40, diverged 10, no-gradient 5; 3 reused`. */
export function formatCounts(counts: Record<string, number>, reused: number): string {
  const byStatus = Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([s, n]) => `${s} ${n}`).join(', ');
  return `${byStatus || 'none yet'}${reused ? `; ${reused} reused` : ''}`;
}

/**
 * Shows rules done, rate, ETA, best reward, trainings in flight and the results by status: a bar on a terminal,
 * otherwise a line every few seconds.
 */
class StatusLine {
  private bar: SingleBar | null = null;
  private started = Date.now();
  private doneAtStart = 0;
  private done = 0;
  private budget = 0;
  private best: number | null = null;
  private inFlight = 0;
  private reused = 0;
  private counts: Record<string, number> = {};
  private lastLine = 0;
  private lastResult = Date.now();
  private clock: NodeJS.Timeout | null = null;

  constructor(private readonly enabled: boolean, private readonly tty: boolean) {}

  private fields() {
    const hours = (Date.now() - this.started) / 3.6e6;
    const rate = hours > 0 ? (this.done - this.doneAtStart) / hours : 0;
    const eta = rate > 0 ? ((this.budget - this.done) / rate) * 3600 : NaN;
    const quiet = Date.now() - this.lastResult;
    return { rate: rate > 0 ? rate.toFixed(0) : '-', etaText: fmtDuration(eta), best: this.best === null ? '-' : this.best.toFixed(4),
      inFlight: String(this.inFlight), counts: formatCounts(this.counts, this.reused),
      quiet: quiet >= QUIET_AFTER_MS ? ` | no result for ${fmtDuration(quiet / 1000)}` : '' };
  }

  /** The line without a terminal: on a result at most every LINE_EVERY_MS, and on the clock while none comes. */
  private line(): void {
    this.lastLine = Date.now();
    const f = this.fields();
    process.stderr.write(`  ${this.done}/${this.budget} rules | ${f.rate} rules/h | ETA ${f.etaText} | best ${f.best} | ${f.inFlight} in flight | ${f.counts}${f.quiet}\n`);
  }

  /** A tick each second: the bar's rate, ETA and quiet time move, and without a terminal a line every LINE_EVERY_MS. */
  private startClock(): void {
    if (this.clock) return;
    this.clock = setInterval(() => {
      if (this.bar) this.bar.update(this.done, this.fields());
      else if (!this.tty && Date.now() - this.lastLine >= LINE_EVERY_MS) this.line();
    }, 1000);
    this.clock.unref(); // never what keeps the process alive
  }

  on(event: SearchEvent): void {
    if (event.type === 'note') {  // a note is not progress: --no-progress keeps it
      if (this.bar) this.bar.stop();
      process.stderr.write(`note: ${event.message}\n`);
      if (this.bar) this.bar.start(this.budget, this.done, this.fields());
      return;
    }
    if (!this.enabled) return;
    if (event.type === 'started') {
      this.done = this.doneAtStart = event.done;
      this.budget = event.budget;
      this.best = event.best;
      this.counts = { ...event.statusCounts };
      this.started = Date.now();
      if (this.tty) {
        this.bar = new SingleBar({ format: 'search |{bar}| {value}/{total} rules | {rate} rules/h | ETA {etaText} | best {best} | {inFlight} in flight | {counts}{quiet}', hideCursor: true, clearOnComplete: false, stream: process.stderr });
        this.bar.start(this.budget, this.done, this.fields());
      } else {
        process.stderr.write(`search ${event.resumed ? 'resumed' : 'started'}: run ${event.runId}, ${event.done}/${event.budget} rules done\n`);
        this.lastLine = Date.now();
      }
      this.lastResult = Date.now();
      this.startClock();
    } else if (event.type === 'result') {
      this.done = event.done;
      this.best = event.best;
      this.inFlight = event.inFlight;
      this.lastResult = Date.now();
      const label = outcomeLabel(event.status, event.fidelity);
      this.counts[label] = (this.counts[label] ?? 0) + 1;
      if (event.reused) this.reused++;
      this.bar?.update(this.done, this.fields());
      if (!this.tty && (Date.now() - this.lastLine >= LINE_EVERY_MS || this.done === this.budget)) this.line();
    } else if (event.type === 'queued') {
      this.inFlight = event.inFlight;
    } else if (event.type === 'confirm') {
      this.onConfirm(event);
    }
  }

  /** The confirmation runs, one line each (the search's own bar is complete by then). */
  private onConfirm(event: Extract<SearchEvent, { type: 'confirm' }>): void {
    this.stop();
    if (event.rule === '') {
      process.stderr.write(`confirming the top rules with seeds ${event.seeds.join(' and ')}: ${event.total - event.done} trainings (${event.done} of ${event.total} already recorded)\n`);
      return;
    }
    process.stderr.write(`  confirm ${event.done}/${event.total}: seed ${event.seed} ${event.status === 'ok' ? event.reward.toFixed(4) : event.status}  ${event.rule}\n`);
  }

  stop(): void {
    if (this.clock) clearInterval(this.clock);
    this.clock = null;
    this.bar?.stop();
    this.bar = null;
  }
}

/**
 * A write that failed (a full disk) or a GPU that cannot train stops the search: what was kept, and how to go on once
 * `fixed` (there is space, the GPU works).
 */
function stoppedBy(e: Error, outDir: string, fixed: string): Error {
  let started = false;
  try { started = readLedger(path.join(outDir, LEDGER_FILE)).records.length > 0; } catch { /* unreadable: say the general thing */ }
  return new Error(started
    ? `${e.message}\nthe search stopped: every result recorded before this is in the ledger, and checkpoint.json is the last good one; once ${fixed}, continue with: nos search --resume --out ${outDir}`
    : `${e.message}\nthe search did not start (nothing was recorded); once ${fixed}, run the same command again`);
}

async function searchAction(flags: SearchFlags, command: Command): Promise<void> {
  const fromUser = (name: string) => command.getOptionValueSource(name) === 'cli';
  if (flags.out !== undefined && flags.out.trim() === '') throw new InputError(`--out must name a folder, got ${JSON.stringify(flags.out)}`); // not the current folder by accident
  if (flags.resume && !flags.out) throw new InputError('--resume needs --out DIR (the folder of the search to continue)');
  const outDir = path.resolve(flags.out ?? path.join('runs', timestamp()));
  if (flags.queuePasswordFile !== undefined && !flags.queue && !flags.resume) throw new InputError('--queue-password-file needs --queue');
  // The password may come from a file or the environment; the URL carrying it lives in memory only.
  const passwords = { file: flags.queuePasswordFile, env: process.env };
  let queue = flags.queue !== undefined ? queueUrlWithPassword(flags.queue, passwords) : undefined;
  const note = passwordOnCommandLineNote(flags.queue);
  if (note) process.stderr.write(`${note}\n`);
  let config;
  let resumed: SearchConfig | undefined;
  if (!flags.resume) {
    config = buildSearchConfig({
      budget: flags.budget, batchSize: flags.batchSize, workers: flags.workers, strategy: flags.strategy, space: flags.space,
      protocol: flags.protocol, data: flags.data, device: flags.device, seed: flags.seed, queue,
      timeoutS: flags.timeout, maxRssMb: flags.maxRss, inFlight: flags.inFlight, ppo: flags.ppo, confirm: flags.confirm, hurdles: flags.hurdles, fec: flags.fec,
      fidelity: flags.fidelity,
    });
    // An unreachable queue fails here (exit 1), before the folder holds a search that never started.
    if (queue) await assertRedisReachable(parseRedisUrl(queue), 3000);
    prepareOutDir(outDir, false);
  } else {
    prepareOutDir(outDir, true);
    const ledgerFile = path.join(outDir, LEDGER_FILE);
    // A folder in the ledger's place read as EISDIR and exit 1.
    if (!fs.statSync(ledgerFile).isFile()) throw new InputError(`--out ${outDir}: ${LEDGER_FILE} is not a file: holds no search to resume`);
    const start = readLedger(path.join(outDir, LEDGER_FILE)).records[0];
    const stored = start?.type === 'start' ? (start.config as SearchConfig).queue : undefined;
    // The folder shows the queue's password as ***: a resume takes it from the file or the environment again.
    if (queue === undefined && stored?.includes(':***@')) queue = storedQueueUrlWithPassword(stored, passwords) ?? undefined;
    if (start?.type === 'start') checkResumeInputs(start.config as SearchConfig, queue);
    resumed = start?.type === 'start' ? start.config as SearchConfig : undefined;
    const ignored = ['strategy', 'space', 'protocol', 'data', 'device', 'seed', 'batchSize', 'timeout', 'maxRss', 'ppo', 'hurdles', 'fec', 'fidelity'].filter(fromUser);
    if (ignored.length) process.stderr.write(`note: --resume keeps the search's own settings; ignoring ${ignored.map((n) => n === 'hurdles' || n === 'fec' ? `--no-${n}` : `--${n.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')}\n`);
  }

  delete process.env[QUEUE_PASSWORD_ENV]; // read: the workers this process starts need not inherit it
  const searched = config ?? resumed;
  const data = flags.progress && searched && !queue ? describeSearchData(searched) : null;
  if (data) process.stderr.write(`data: ${data}\n`);
  const status = new StatusLine(flags.progress, !!process.stderr.isTTY);
  const abort = new AbortController();
  let interrupts = 0;
  // Ctrl-C (exit 130) and SIGTERM (exit 143, from `timeout`, a scheduler or systemd) stop the same clean way.
  let stopCode = 130;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupts++;
    if (interrupts === 1) {
      stopCode = signal === 'SIGTERM' ? 143 : 130;
      status.stop();
      // How to continue is the last line of the output, once.
      process.stderr.write(`\nstopping: every finished result is in the ledger; stopping the workers (${signal === 'SIGTERM' ? 'SIGTERM' : 'Ctrl-C'} again quits at once)\n`);
      abort.abort();
    } else {
      process.stderr.write('stopping now\n');
      process.exit(signal === 'SIGTERM' ? 143 : 130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let summary;
  let lastReport = 0;
  try {
    summary = await runSearch({
      outDir, resume: flags.resume, config, signal: abort.signal,
      overrides: flags.resume ? {
        ...(fromUser('budget') ? { budget: flags.budget } : {}), ...(fromUser('workers') ? { workers: flags.workers } : {}),
        ...(queue !== undefined ? { queue } : {}), ...(fromUser('inFlight') ? { inFlight: flags.inFlight } : {}),
        ...(fromUser('confirm') ? { confirm: flags.confirm } : {}),
      } : undefined,
      onEvent: (event) => {
        status.on(event);
        // The folder's report stays current while the search runs (at most every few seconds: it rereads the ledger).
        if (event.type === 'updated' && Date.now() - lastReport > REPORT_EVERY_MS) {
          writeReport(outDir);
          lastReport = Date.now();
        }
      },
    });
  } catch (e) {
    throw e instanceof WriteError ? stoppedBy(e, outDir, 'there is space') : e instanceof GpuUnusableError ? stoppedBy(e, outDir, 'the GPU works') : e;
  } finally {
    status.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  let report;
  try {
    report = writeReport(outDir);
  } catch (e) {
    if (!(e instanceof WriteError)) throw e;
    throw new Error(`${e.message}\nthe search ${summary.stopped ? 'stopped' : 'finished'} and its ledger is complete; once there is space, redraw its report with: nos report ${outDir}`);
  }
  process.stdout.write(`\n${formatLeaderboard(report, flags.top)}\n`);
  process.stdout.write(`search folder: ${outDir} (ledger.jsonl, checkpoint.json, leaderboard.md, leaderboard.json, rewards.svg, rule-trees/)\n`);
  if (report.leaderboard.length > 0) {
    process.stdout.write(`the best rule as an optimizer: nos export --from ${outDir} --to pytorch (or tfjs; --rank K for another)\n`);
    process.stdout.write(`do the best rules transfer: nos transfer --from ${outDir} (the top 3 against sgd, momentum, adam, rmsprop; --quick for a first look)\n`);
  }
  if (summary.stopped) {
    process.stdout.write(`stopped early; continue with: nos search --resume --out ${outDir}\n`);
    process.exitCode = stopCode;
  }
}

export function register(program: Command): void {
  program.command('search')
    .description('search for update rules: sample with a strategy, train children on workers, learn from the rewards')
    .option('--budget <n>', 'rules to sample in all', integer('--budget', 1), DEFAULT_BUDGET)
    .option('--workers <k>', 'local worker processes (default: one per core)', integer('--workers', 1, MAX_PROCESSES))
    .option('--strategy <kind>', 'ppo | random | evolution', 'ppo')
    .option('--space <name|file>', 'search space preset (small, sign-family, adaptive, paper-full) or JSON file', DEFAULT_SPACE)
    .option('--protocol <name|file>', 'paper | quick | fake | JSON file', 'quick')
    .option('--data <path>', 'dataset: a folder of IDX files (MNIST-style), CIFAR-10 or CIFAR-100 binary files or NumPy x_train.npy/y_train.npy, or a NumPy .npz file (default: the Debian Fashion-MNIST folder)', nonBlank('--data', 'a folder or an .npz file'))
    .option('--device <device>', 'cpu | cuda (cuda: every visible GPU; CUDA_VISIBLE_DEVICES chooses)', 'cpu')
    .option('--seed <s>', 'random seed of the strategy and of every child training', integer('--seed', 0, 0xffffffff), 1)
    .option('--out <dir>', 'search folder (default: runs/<timestamp>)')
    .option('--resume', 'continue the search in --out after a crash or Ctrl-C')
    .option('--queue <url>', 'send jobs to a Redis queue (redis://host:port) served by `nos worker` instead of local workers', queueUrl)
    .option('--queue-password-file <file>', `the Redis password, read from a file (or set ${QUEUE_PASSWORD_ENV}); keeps it off the command line`, nonBlank('--queue-password-file', 'a file'))
    .option('--batch-size <n>', 'rules per strategy batch (default 5, the paper\'s; 1 for evolution: one child per finished rule)', integer('--batch-size', 1))
    .option('--in-flight <n>', `trainings kept queued or running (default: 2 per local worker; ${QUEUE_IN_FLIGHT} with --queue; ${GPU_IN_FLIGHT} per usable GPU with --device cuda)`, integer('--in-flight', 1))
    .option('--confirm <k>', 'when the budget is spent, train the top K rules again with two more seeds and rank them by the mean (0: no)', integer('--confirm', 0), DEFAULT_CONFIRM)
    .option('--ppo <settings>', 'PPO controller settings: a preset (default, paper) and/or key=value pairs, comma-separated, e.g. paper or learningRate=1e-4,entropyWeight=0.01 (keys: learningRate, epochs, clip, baselineDecay, entropyWeight, advantage, freshDraws, hiddenSize, embeddingSize, initRange)')
    .option('--timeout <seconds>', 'kill a child training after this long (default: the protocol time cap plus slack)', boundedNumber('--timeout', MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS))
    .option('--max-rss <mb>', 'kill a worker whose resident memory passes this (default 4096)', boundedNumber('--max-rss', MIN_RSS_MB, MAX_RSS_MB))
    .option('--fidelity <mode>', `full | halving (successive halving inside the sweep) | funnel (a cheap screen first, the full protocol for the best); default ${DEFAULT_FIDELITY}, full with --device cuda`)
    .option('--no-hurdles', 'train every rule: no refusal of rules that read no gradient or lower no probe problem\'s loss')
    .option('--no-fec', 'no functional equivalence cache: train rules that compute the same function as one judged before')
    .option('--top <n>', 'leaderboard rows to print', integer('--top', 1), 10)
    .option('--no-progress', 'no status line')
    .action(searchAction);
}
