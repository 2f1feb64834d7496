// Commander argument parsers shared by the subcommands: each refuses a bad value as a flag error (exit 2).
import { InvalidArgumentError } from 'commander';
import { MAX_TIMEOUT_SECONDS } from '../search/limits';
import { parseRedisUrl } from '../search/queue-redis';

/** Seconds a timer can wait (2^31 - 1 ms, about 24.8 days): Node fires longer timers at once. */
export const MAX_TIMER_SECONDS = MAX_TIMEOUT_SECONDS;

/** A decimal number as people write it: 12, -3, 0.5, .5, 1e3, 2.5E-4 (not 0x10, 0b11 or 0o7, which Number reads). */
const DECIMAL = /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i;

/** Number(text) for a decimal number, else NaN: a blank text is not 0 (`--seed ''` was seed 0), 0x10 is not 16. */
export function numberOf(text: string): number {
  if (/^\s*[+-]?(Infinity|NaN)\s*$/.test(text)) return Number(text); // refused by each parser with its own words
  return DECIMAL.test(text) ? Number(text) : NaN;
}

export function integer(flag: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (text: string): number => {
    const n = numberOf(text);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${flag} must be an integer ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`}, got ${JSON.stringify(text)}`);
    }
    return n;
  };
}

export function positiveNumber(flag: string, max = Infinity) {
  return (text: string): number => {
    const n = numberOf(text);
    if (!Number.isFinite(n) || n <= 0 || n > max) {
      throw new InvalidArgumentError(`${flag} must be a number > 0${max < Infinity ? ` and at most ${max}` : ''}, got ${JSON.stringify(text)}`);
    }
    return n;
  };
}

/** A number from min to max (a limit whose bounds are those the jobs enforce: src/search/limits.ts). */
export function boundedNumber(flag: string, min: number, max: number) {
  return (text: string): number => {
    const n = numberOf(text);
    if (!Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`${flag} must be a number from ${min} to ${max}, got ${JSON.stringify(text)}`);
    return n;
  };
}

/** Checked when parsed, so a bad URL is refused (exit 2) before anything is written. */
export function queueUrl(text: string): string {
  try {
    parseRedisUrl(text);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
  return text;
}

/** A path or name that must not be blank (an empty --data was the default folder, an empty --out a file named ''). */
export function nonBlank(flag: string, what: string) {
  return (text: string): string => {
    if (text.trim() === '') throw new InvalidArgumentError(`${flag} must name ${what}, got ${JSON.stringify(text)}`);
    return text;
  };
}
