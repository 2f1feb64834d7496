// The Redis password of a queue: from the --queue URL, a file (--queue-password-file) or NOS_REDIS_PASSWORD, so it
// need not be on a command line (where `ps` shows it). The URL that carries it stays in memory and is never printed.
import * as fs from 'node:fs';
import { parseRedisUrl } from './queue-redis';
import { errnoWords, InputError } from '../errors';

/** The environment variable a password may come from (like redis-cli's REDISCLI_AUTH). */
export const QUEUE_PASSWORD_ENV = 'NOS_REDIS_PASSWORD';

export interface PasswordSources {
  /** --queue-password-file: a file holding the password (a trailing newline is not part of it). */
  file?: string;
  /** Where QUEUE_PASSWORD_ENV is looked up (process.env for the commands). */
  env?: Record<string, string | undefined>;
}

function readPasswordFile(file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`--queue-password-file ${file}: cannot read it (${errnoWords(e)})`);
  }
  const password = text.replace(/\r?\n$/, '');
  if (password === '') throw new InputError(`--queue-password-file ${file}: the file is empty`);
  if (/[\r\n]/.test(password)) throw new InputError(`--queue-password-file ${file}: holds more than one line (the password is the whole first line)`);
  return password;
}

/** `url` with `password` in it (percent-encoded as a URL needs), for connecting only. */
function withPassword(url: string, password: string): string {
  const u = new URL(url);
  u.password = encodeURIComponent(password);
  return u.toString();
}

/**
 * The queue URL to connect with: a password written in `url` is used as given; else the one in sources.file, else
 * the environment's. A file and a password in the URL together are refused (which one is meant?). Bad input is an
 * InputError (exit 2) that never shows a password.
 */
export function queueUrlWithPassword(url: string, sources: PasswordSources): string {
  let target;
  try { target = parseRedisUrl(url); } catch (e) { throw new InputError((e as Error).message); }
  const fromFile = sources.file !== undefined ? readPasswordFile(sources.file) : undefined;
  if (target.password !== undefined) {
    if (fromFile !== undefined) throw new InputError(`--queue-password-file ${sources.file}: --queue ${target.url} has a password already; give it once`);
    return url;
  }
  const password = fromFile ?? (sources.env?.[QUEUE_PASSWORD_ENV] || undefined);
  return password === undefined ? url : withPassword(url, password);
}

/**
 * For --resume: the URL of the search's queue as stored in its folder (any password shown as ***), with the
 * password from the sources put back in; null when the sources hold none.
 */
export function storedQueueUrlWithPassword(stored: string, sources: PasswordSources): string | null {
  const u = new URL(stored);
  u.password = '';
  const bare = u.toString();
  const full = queueUrlWithPassword(bare, sources);
  return full === bare ? null : full;
}

/** A note for a password written in --queue itself (other users see command lines), or null. */
export function passwordOnCommandLineNote(url: string | undefined): string | null {
  if (url === undefined) return null;
  try { if (parseRedisUrl(url).password === undefined) return null; } catch { return null; }
  return `note: the password in --queue is visible to other users of this machine (ps); ${QUEUE_PASSWORD_ENV} or --queue-password-file keeps it off the command line`;
}
