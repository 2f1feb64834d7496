#!/usr/bin/env node
// `nos-compile`: the rule compiler on its own (same as `nos compile`); exit 0 ok, 2 bad rule or flag, 1 otherwise.
import { Command, CommanderError } from 'commander';
import { configureCompileCommand } from './commands/compile';
import { strictOptions } from './strict-options';
import { packageVersion } from './version';
import { exitCodeOf } from '../errors';

export async function main(argv: string[]): Promise<number> {
  const program = strictOptions(configureCompileCommand(
    new Command('nos-compile')
      .description('compile a Neural Optimizer Search update rule to a fused kernel (C++, CUDA, JS), IR, tokens, LaTeX, JSON, or an optimizer for PyTorch or TensorFlow.js')
      .showHelpAfterError('(run with --help for usage)')
      .version(packageVersion(), '-V, --version', 'print the version of nos')
      .exitOverride(),
  ));
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2; // commander printed the message (or the help)
    const error = e as Error & { format?: () => string };
    const text = typeof error.format === 'function' ? error.format() : error.message;
    process.stderr.write(`nos-compile: ${text}\n`);
    if (process.env.NOS_DEBUG) process.stderr.write(`${error.stack}\n`);
    return exitCodeOf(e);
  }
}

if (require.main === module) {
  main(process.argv).then((code) => { process.exitCode = code; }, (e) => {
    process.stderr.write(`nos-compile: ${String(e)}\n`);
    process.exitCode = 1;
  });
}
