#!/usr/bin/env node
// `nos`: the command line; every module in commands/ adds its own subcommand through register(program).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError } from 'commander';
import { strictOptions } from './strict-options';
import { packageVersion } from './version';
import { exitCodeOf } from '../errors';

const COMMANDS_DIR = path.join(__dirname, 'commands');

/** Builds the program with every subcommand found in commands/ (.js under dist, .ts under tsx). */
export function buildProgram(): Command {
  const program = new Command('nos')
    .description('Neural Optimizer Search: search, compile and run update rules as fused native kernels')
    .showHelpAfterError('(run with --help for usage)')
    .version(packageVersion(), '-V, --version', 'print the version of nos')
    .exitOverride(); // before the subcommands are added, so they inherit it: main() maps errors to exit codes
  const ext = path.extname(__filename);
  const files = fs.existsSync(COMMANDS_DIR) ? fs.readdirSync(COMMANDS_DIR).sort() : [];
  for (const file of files) {
    if (path.extname(file) !== ext || file.endsWith('.d.ts')) continue;
    const mod = require(path.join(COMMANDS_DIR, file)) as { register?: (program: Command) => void };
    if (typeof mod.register !== 'function') throw new Error(`src/cli/commands/${file} does not export register(program)`);
    mod.register(program);
  }
  return strictOptions(program); // a flag given twice, or missing its value: exit 2
}

export async function main(argv: string[]): Promise<number> {
  let program: Command;
  try {
    program = buildProgram();
  } catch (e) {
    process.stderr.write(`nos: ${(e as Error).message}\n`);
    return 1;
  }
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return exitCodeOf(e); // commander already printed the message
    const formatted = typeof (e as { format?: () => string }).format === 'function' ? (e as { format: () => string }).format() : (e as Error).message;
    process.stderr.write(`nos: ${formatted}\n`);
    if (process.env.NOS_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
    return exitCodeOf(e);
  }
}

if (require.main === module) {
  main(process.argv).then((code) => { process.exitCode = code; }, (e) => { process.stderr.write(`nos: ${String(e)}\n`); process.exitCode = 1; });
}
