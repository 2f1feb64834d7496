// `nos worker`: serves a search's queue on Redis from this machine until stopped (SIGTERM finishes the running jobs).
import { InvalidArgumentError, type Command } from 'commander';
import type { Envelope } from '../../search/backend';
import { passwordOnCommandLineNote, QUEUE_PASSWORD_ENV, queueUrlWithPassword } from '../../search/queue-password';
import { DEFAULT_QUEUE_NAME, parseRedisUrl } from '../../search/queue-redis';
import { GPU_IN_FLIGHT } from '../../search/search-config';
import { MAX_PROCESSES, MAX_RSS_MB, MAX_TIMEOUT_SECONDS, MIN_RSS_MB, MIN_TIMEOUT_SECONDS } from '../../search/limits';
import { boundedNumber, integer, nonBlank, queueUrl } from '../flags';
import { startRedisWorker, type RedisWorkerHandle } from '../../search/worker-redis';
import { checkCuda } from '../../search/search-inputs';


/** BullMQ refuses an empty name or one with ':' (exit 1, not naming the flag): refused here as a flag error. */
function queueName(text: string): string {
  if (text.trim() === '' || text.includes(':')) throw new InvalidArgumentError(`--queue-name must be a non-empty name without ':', got ${JSON.stringify(text)}`);
  return text;
}

function device(text: string): 'cpu' | 'cuda' {
  if (text !== 'cpu' && text !== 'cuda') throw new InvalidArgumentError(`--device must be cpu or cuda, got ${JSON.stringify(text)}`);
  return text;
}

interface WorkerFlags {
  queue: string; queuePasswordFile?: string; concurrency?: number; device?: 'cpu' | 'cuda'; queueName: string; timeout?: number; maxRss?: number;
  lockDuration: number; stalledInterval: number; quiet?: boolean;
}


/** One job at a time per process on the CPU; on GPUs, as many rules as keep every visible GPU's engine busy. */
function defaultConcurrency(device: 'cpu' | 'cuda' | undefined): number {
  if (device !== 'cuda') return 1;
  const { visibleGpus } = require('../../search/pool-gpu') as typeof import('../../search/pool-gpu');
  return Math.min(MAX_PROCESSES, GPU_IN_FLIGHT * Math.max(1, visibleGpus().length));
}

function describe(e: Envelope): string {
  const reward = e.reward === null ? '-' : e.reward.toFixed(4);
  const extra = e.error ? `: ${e.error.split('\n')[0].slice(0, 160)}` : '';
  return `${e.jobId} ${e.status} reward ${reward} (try ${e.attempt}, ${(e.timings.runMs / 1000).toFixed(1)} s)${extra}`;
}

export function register(program: Command): void {
  program
    .command('worker')
    .description('take child-training jobs from a search\'s queue on Redis and run them on this machine')
    .requiredOption('--queue <url>', 'the queue: redis://HOST:PORT[/DB]', queueUrl)
    .option('--queue-password-file <file>', `the Redis password, read from a file (or set ${QUEUE_PASSWORD_ENV}); keeps it off the command line`, nonBlank('--queue-password-file', 'a file'))
    .option('--concurrency <k>', `jobs run at once, each in its own process (default 1; with --device cuda, ${GPU_IN_FLIGHT} per visible GPU, at most ${MAX_PROCESSES})`, integer('--concurrency', 1, MAX_PROCESSES))
    .option('--device <device>', 'cpu or cuda (overrides what the job asks for); cuda: one GPU engine per visible GPU trains --concurrency jobs side by side', device)
    .option('--queue-name <name>', 'queue name inside Redis (searches use "nos"; one worker fleet can serve several searches)', queueName, DEFAULT_QUEUE_NAME)
    .option('--timeout <seconds>', 'time limit per job (default: the search\'s, else the protocol\'s time cap plus slack)', boundedNumber('--timeout', MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS))
    .option('--max-rss <MiB>', 'memory limit per job process (default: the search\'s, else 4096)', boundedNumber('--max-rss', MIN_RSS_MB, MAX_RSS_MB))
    .option('--lock-duration <seconds>', 'a job whose worker is silent this long goes to another worker', boundedNumber('--lock-duration', MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS), 60)
    .option('--stalled-interval <seconds>', 'how often to look for jobs whose worker went silent', boundedNumber('--stalled-interval', MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS), 30)
    .option('--quiet', 'print only errors')
    .action(async (flags: WorkerFlags) => {
      const say = (line: string) => { if (!flags.quiet) process.stdout.write(line + '\n'); };
      // The password may come from a file or the environment; the URL carrying it lives in memory only.
      const url = queueUrlWithPassword(flags.queue, { file: flags.queuePasswordFile, env: process.env });
      delete process.env[QUEUE_PASSWORD_ENV]; // read: the job processes need not inherit it
      const note = passwordOnCommandLineNote(flags.queue);
      if (note) process.stderr.write(`${note}\n`);
      if (flags.device === 'cuda') checkCuda();
      // An unreachable Redis throws here: nos prints the message and exits 1.
      const concurrency = flags.concurrency ?? defaultConcurrency(flags.device);
      const handle: RedisWorkerHandle = await startRedisWorker(url, {
        concurrency,
        device: flags.device,
        queueName: flags.queueName,
        limits: { timeoutMs: flags.timeout === undefined ? undefined : Math.round(flags.timeout * 1000), maxRssMb: flags.maxRss },
        lockDurationMs: Math.round(flags.lockDuration * 1000),
        stalledIntervalMs: Math.round(flags.stalledInterval * 1000),
        onEnvelope: (e) => say(describe(e)),
        // The GPU cannot train (the worker said why on stderr): exit 1, so a supervisor or a person sees it.
        onStopped: () => { process.stderr.write('nos worker: stopped by itself, its jobs handed back\n'); process.exit(1); },
      });
      say(`nos worker ${handle.name}: serving queue '${flags.queueName}' at ${parseRedisUrl(flags.queue).url} with ${concurrency} slot(s); SIGTERM finishes the running jobs and stops`);
      let signals = 0;
      const stop = (signal: NodeJS.Signals) => {
        signals += 1;
        if (signals === 1) {
          say(`nos worker: ${signal}: taking no new job, finishing ${handle.running} running (send it again to hand them back now)`);
          void handle.close().then(() => { say('nos worker: stopped'); process.exit(0); });
        } else {
          say(`nos worker: ${signal} again: handing ${handle.running} running job(s) back to the queue`);
          void handle.handBack().then(() => { say('nos worker: stopped'); process.exit(0); });
        }
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      // Served until a signal: the BullMQ worker's connections keep the process alive.
    });
}
