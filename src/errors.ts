// nos's error shape, defined once: a message that names the problem and where, the exit code a command ends with, and file-system errors in words.
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

const ERRNO_WORDS: Record<string, string> = {
  EACCES: 'permission denied', EPERM: 'operation not permitted', EROFS: 'read-only file system',
  ENOSPC: 'no space left on device', EDQUOT: 'disk quota exceeded', ENAMETOOLONG: 'name too long',
  EIO: 'input/output error', EFBIG: 'file too large',
};

/** The words for a file-system error (`no space left on device`), else its message. */
export function errnoWords(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  return (code && ERRNO_WORDS[code]) || ((e as Error)?.message ?? String(e));
}

/** A file-system error in words with its code (`no space left on device (ENOSPC)`), for messages. */
export function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  const message = (e as Error)?.message ?? String(e);
  if (code && ERRNO_WORDS[code]) return `${ERRNO_WORDS[code]} (${code})`;
  // Node's own text is `CODE: words, syscall 'path'`: the words are the part worth showing.
  if (code && message.startsWith(`${code}: `)) return `${message.slice(code.length + 2).split(', ')[0]} (${code})`;
  return message;
}

/** Errors that say the path a user gave is the problem (no such folder, no permission, read-only): bad input (exit 2). */
const PLACE_CODES = new Set(['EACCES', 'EPERM', 'EROFS', 'EISDIR', 'ENOTDIR', 'ENOENT', 'ENAMETOOLONG']);

/** True when a failed write is the place's fault (bad input) rather than the machine's (a full disk, an I/O error). */
export function isPlaceError(e: unknown): boolean {
  return PLACE_CODES.has((e as NodeJS.ErrnoException)?.code ?? '');
}
