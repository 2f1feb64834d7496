// nos's error shape, defined once: a message that names the problem and where, and the exit code a command ends with.
import { CommanderError } from 'commander';

/** docs/contracts.md, "Exit codes": 2 for input the user can fix (a rule, a flag, a file, data), 1 for anything else. */
export type ExitCode = 1 | 2;

/** Every error nos throws on purpose: its class name is its `name`, its `exitCode` what `nos` exits with. */
export class NosError extends Error {
  constructor(message: string, readonly exitCode: ExitCode = 1) {
    super(message);
    this.name = new.target.name;
  }
}

/** Input the user can fix (a flag, a file, a combination of them): exit 2. */
export class InputError extends NosError {
  constructor(message: string) {
    super(message, 2);
  }
}

/** `e` as bad input (exit 2) with its message, for a failure that only the input can explain (a file it names). */
export function asInputError(e: unknown): Error {
  if (e instanceof NosError && e.exitCode === 2) return e;
  return new InputError(e instanceof Error ? e.message : String(e));
}

/** The exit code of a command that failed with `error`: commander's usage errors 2, a NosError's own, else 1. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  if (error instanceof NosError) return error.exitCode;
  return 1;
}
