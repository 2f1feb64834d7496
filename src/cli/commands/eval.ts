// `nos eval "<rule>"`: trains the child network with one update rule under a protocol and prints its reward.
import type { Command } from 'commander';
import { createOptimizer } from '../../runtime/optimizer';
import { DEFAULT_DATA_PATH, describeData, type PreparedData } from '../../runtime/child/data';
import { boundedNumber, integer, nonBlank } from '../flags';
import { GpuUnusableError } from '../../search/backend';
import { MAX_TIMEOUT_SECONDS, MIN_TIMEOUT_SECONDS } from '../../search/limits';
import { defaultLimits } from '../../search/search-config';
import { evaluateOnGpuWorker } from '../../search/gpu-eval';
import { epochsToTrain, evaluateRule, loadProtocol, loadProtocolData, MAX_PROTOCOL_THREADS, PROTOCOL_VERSION, type EvalOutcome, type EvalProgress, type ProtocolConfig } from '../../runtime/child/protocol';
import { checkEngineTakes } from '../../runtime/engine/engine-evaluator';
import { asInputError, InputError } from '../../errors';

/** Where the command writes (tests swap these for buffers). */
export const evalOutput: { stdout: { write(s: string): unknown }; stderr: { write(s: string): unknown; isTTY?: boolean } } = {
  stdout: process.stdout,
  stderr: process.stderr,
};

interface EvalFlags { protocol: string; data?: string; threads?: number; seed: number; device: 'cpu' | 'cuda'; timeout?: number; json?: boolean; progress: boolean }

function formatLr(lr: number): string {
  return lr.toExponential(0).replace('e+', 'e');
}

/**
 * Progress on stderr: the run's phase and learning rate, a bar over all the protocol's training batches, the
 * elapsed time and an ETA from the rate so far.  Rewritten in place on a terminal, one line per run otherwise.
 */
export class ProgressLine {
  private readonly started = Date.now();
  /** When the first batch finished: the ETA's pace counts from there (the first batch also builds and warms up). */
  private firstAt = 0;
  private done = 0;
  private lastKey = '';
  private lastDraw = 0;

  constructor(private readonly protocol: ProtocolConfig, private readonly stream: { write(s: string): unknown }, private readonly tty: boolean) {}

  update(p: EvalProgress): void {
    const total = Math.round(epochsToTrain(this.protocol) * p.batches);
    this.done++;
    const key = `${p.phase}:${p.lr}:${p.epoch}`;
    const now = Date.now();
    const elapsed = (now - this.started) / 1000;
    if (this.done === 1) this.firstAt = now;
    const eta = this.done > 1 ? ((now - this.firstAt) / 1000 / (this.done - 1)) * (total - this.done) : NaN;
    const label = `${p.phase === 'sweep' ? 'sweep' : 'final'} lr ${formatLr(p.lr)} epoch ${p.epoch + 1}`;
    if (this.tty) {
      if (now - this.lastDraw < 100 && this.done < total) return;
      this.lastDraw = now;
      const width = 24;
      const filled = Math.min(width, Math.round((this.done / total) * width));
      this.stream.write(`\r${label.padEnd(30)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${elapsed.toFixed(0)}s, ETA ${Number.isFinite(eta) ? `${eta.toFixed(0)}s` : '?'} \x1b[K`);
    } else if (key !== this.lastKey) {
      this.stream.write(`${label}: started at ${elapsed.toFixed(1)}s, ETA ${Number.isFinite(eta) ? `${eta.toFixed(0)}s` : '?'}\n`);
    }
    this.lastKey = key;
  }

  finish(): void {
    if (this.tty) this.stream.write('\r\x1b[K');
  }
}

/**
 * Progress of `--device cuda` on stderr: the engine trains the sweep's children together, then the final run, one
 * epoch per round, so the bar counts rounds (sweepEpochs + finalEpochs of them) with an ETA from their pace.
 */
export class RoundProgressLine {
  private started = Date.now();
  private rounds = 0;

  constructor(private readonly protocol: ProtocolConfig, private readonly stream: { write(s: string): unknown }, private readonly tty: boolean) {}

  update(report: { children: number; seconds: number }): void {
    const total = this.protocol.sweepEpochs + this.protocol.finalEpochs;
    this.rounds++;
    const elapsed = (Date.now() - this.started) / 1000;
    const eta = (elapsed / this.rounds) * Math.max(0, total - this.rounds);
    const line = `round ${this.rounds}/${total}: ${report.children} children side by side, ${report.seconds.toFixed(1)} s; ${elapsed.toFixed(0)}s, ETA ${eta.toFixed(0)}s`;
    this.stream.write(this.tty ? `\r${line} \x1b[K` : `${line}\n`);
  }

  /** Writes `message` on a line of its own; the count starts again (what follows is another run: a re-run, the control rule). */
  note(message: string): void {
    this.stream.write(`${this.tty ? '\r\x1b[K' : ''}${message}\n`);
    this.started = Date.now();
    this.rounds = 0;
  }

  finish(): void {
    if (this.tty) this.stream.write('\r\x1b[K');
  }
}

/**
 * `--device cuda`: the rule trains in a GPU worker under the time limit and stall watchdog the search uses, so a hung
 * GPU ends the command (a GPU that cannot train even the control rule: exit 1, one line) instead of holding it.
 */
async function evalOnGpu(rule: string, protocol: ProtocolConfig, flags: EvalFlags, tty: boolean,
  onClear: (clear: () => void) => void): Promise<EvalOutcome> {
  const progress = new RoundProgressLine(protocol, evalOutput.stderr, tty);
  onClear(() => { if (flags.progress) progress.finish(); });
  const limits = defaultLimits(protocol);
  if (flags.timeout !== undefined) limits.timeoutMs = Math.round(flags.timeout * 1000);
  try {
    return await evaluateOnGpuWorker(rule, protocol, { path: flags.data }, {
      limits, seed: flags.seed, onRound: flags.progress ? (r) => progress.update(r) : undefined,
      onNote: (message) => progress.note(`nos eval: ${message}`),
    });
  } catch (e) {
    if (!(e instanceof GpuUnusableError)) throw e;
    throw new GpuUnusableError(`--device cuda: ${e.message.replace(/^gpu pool: /, '')}`);
  } finally {
    if (flags.progress) progress.finish();
  }
}

/** The human-readable result: the sweep table, the chosen rate, reward, status and time. */
export function formatOutcome(rule: string, protocol: ProtocolConfig, outcome: EvalOutcome, data?: PreparedData): string {
  const width = protocol.filters !== undefined ? `, ${protocol.filters} filters` : protocol.hidden !== undefined ? `, ${protocol.hidden} hidden` : '';
  const lines = [`rule: ${rule}    protocol: ${protocol.name} (${protocol.model}${width}, v${PROTOCOL_VERSION})`];
  if (data) lines.push(`data: ${describeData(data)}`);
  lines.push('', '  lr       status    accuracy  loss');
  for (const s of outcome.sweep) {
    const stopped = s.epochs !== undefined && s.epochs < protocol.sweepEpochs ? `  (stopped after ${+s.epochs.toFixed(3)} epoch)` : '';
    const mark = (s.lr === outcome.bestLr && !stopped ? '  <- best' : '') + stopped;
    const loss = s.status === 'ok' ? s.loss.toFixed(4) : s.loss >= Number.MAX_VALUE ? 'inf' : s.loss.toPrecision(4);
    lines.push(`  ${formatLr(s.lr).padEnd(8)} ${s.status.padEnd(9)} ${s.accuracy.toFixed(4).padEnd(9)} ${loss}${mark}`);
  }
  lines.push('');
  lines.push(`best lr:  ${outcome.bestLr === null ? '-' : formatLr(outcome.bestLr)}`);
  lines.push(`reward:   ${outcome.reward.toFixed(4)} (${protocol.finalEpochs === 0 ? 'the best rate\'s held-out accuracy after the sweep' : `held-out accuracy after ${protocol.finalEpochs} epoch${protocol.finalEpochs === 1 ? '' : 's'}`})`);
  lines.push(`status:   ${outcome.status}${outcome.error ? ` (${outcome.error})` : ''}`);
  lines.push(`time:     ${outcome.seconds.toFixed(1)} s`);
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('eval')
    .description('train the child network with one update rule under an evaluation protocol and report its reward')
    .argument('<rule>', 'rule: a name (adam, powersign, ...), infix text ("sign(g)*sign(m)*g") or controller tokens')
    // "-g*m" reads as an unknown option: say how to pass such a rule.
    .showHelpAfterError('(run with --help for usage; a rule that starts with \'-\' goes after --: nos eval --json -- "-g*m")')
    .option('--protocol <paper|quick|FILE>', 'evaluation protocol: a preset or a JSON file', 'quick')
    .option('--data <PATH>', `training data: a folder of IDX files (MNIST, Fashion-MNIST), CIFAR-10 or CIFAR-100 binary files or NumPy x_train.npy/y_train.npy, or a NumPy .npz file (default ${DEFAULT_DATA_PATH})`, nonBlank('--data', 'a folder or an .npz file'))
    .option('--threads <N>', "onnxruntime threads (default: the protocol's)", integer('--threads', 1, MAX_PROTOCOL_THREADS))
    .option('--seed <S>', 'seed of initialization, shuffling and the rule\'s randomness', integer('--seed', 0, 0xffffffff), 0)
    .option('--device <cpu|cuda>', 'where the child trains: cpu (onnxruntime), or cuda (the child engine: the whole network on the GPU)', 'cpu')
    .option('--timeout <seconds>', 'with --device cuda: stop a run that trains past this long (default: the protocol\'s time cap plus slack, as the search)',
      boundedNumber('--timeout', MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS))
    .option('--json', 'print one JSON object instead of the table')
    .option('--no-progress', 'no progress on stderr')
    .action(async (rule: string, flags: EvalFlags) => {
      if (flags.device !== 'cpu' && flags.device !== 'cuda') throw new InputError(`--device must be cpu or cuda, got '${flags.device}'`);
      if (flags.timeout !== undefined && flags.device !== 'cuda') {
        throw new InputError('--timeout applies to --device cuda only (on the CPU a run stops at the protocol\'s maxSeconds)');
      }
      let protocol: ProtocolConfig;
      let data: PreparedData;
      try {
        protocol = loadProtocol(flags.protocol);
        if (flags.threads !== undefined) protocol = { ...protocol, threads: flags.threads };
        // Refuse bad input up front (exit 2) rather than as a failed evaluation.
        createOptimizer(rule, { device: 'js', totalSteps: 1 }).dispose(); // totalSteps: decays (ld, cd, rd) need one
        data = loadProtocolData(protocol, flags.data);
        if (flags.device === 'cuda') checkEngineTakes(protocol, data);
      } catch (e) {
        throw asInputError(e);
      }
      if (flags.device === 'cuda') {
        // No GPU (or no driver) is one clear line before any training, not an empty table with status error.
        try {
          createOptimizer(rule, { device: 'cuda', totalSteps: 1 }).dispose();
        } catch (e) {
          const first = ((e as Error).message ?? String(e)).split('\n')[0].replace(/\s*Tried:$/, '');
          throw new GpuUnusableError(`--device cuda: ${first}`);
        }
      }
      const tty = Boolean(evalOutput.stderr.isTTY);
      let outcome: EvalOutcome;
      // Ctrl-C or SIGTERM while training (on either device): the progress line is cleared and one line says so
      // (exit 130 or 143); there is nothing to keep (an evaluation is not resumable), and no half table on stdout.
      // A GPU worker dies with this process (its exit hook, and its parent watchdog).
      let clearProgress = (): void => undefined;
      const onSignal = (signal: NodeJS.Signals) => {
        clearProgress();
        evalOutput.stderr.write(`nos eval: stopped by ${signal === 'SIGINT' ? 'Ctrl-C' : signal} before the evaluation finished; no result\n`);
        process.exit(signal === 'SIGINT' ? 130 : 143);
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        if (flags.device === 'cuda') {
          outcome = await evalOnGpu(rule, protocol, flags, tty, (clear) => { clearProgress = clear; });
        } else {
          const progress = flags.progress ? new ProgressLine(protocol, evalOutput.stderr, tty) : null;
          clearProgress = () => progress?.finish();
          outcome = await evaluateRule(rule, protocol, { path: flags.data }, {
            seed: flags.seed, device: flags.device, onProgress: progress ? (p) => progress.update(p) : undefined,
          });
          progress?.finish();
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      if (flags.json) {
        evalOutput.stdout.write(`${JSON.stringify({ rule, protocol, protocolVersion: PROTOCOL_VERSION, seed: flags.seed, ...outcome })}\n`);
      } else {
        evalOutput.stdout.write(`${formatOutcome(rule, protocol, outcome, data)}\n`);
      }
      if (outcome.status === 'error') process.exitCode = 1;
    });
}
