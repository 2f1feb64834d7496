// Writes that complete or fail loudly: every byte written (short writes continued), fsync where asked, atomic replace.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeFsError, NosError } from '../errors';

/** A write to a search folder that did not complete; `file` is where, `code` the errno code (ENOSPC, ...). */
export class WriteError extends NosError {
  readonly code: string | undefined;
  /** Why, in words (`no space left on device (ENOSPC)`). */
  readonly reason: string;
  constructor(readonly file: string, cause: unknown, verb = 'write') {
    const reason = describeFsError(cause);
    super(`could not ${verb} ${file}: ${reason}`);
    this.code = (cause as NodeJS.ErrnoException)?.code;
    this.reason = reason;
  }
}

/** Writes all of `data` at the descriptor's position: a short write is continued; one that writes nothing fails. */
export function writeFully(fd: number, data: Buffer): void {
  let offset = 0;
  while (offset < data.length) {
    const written = fs.writeSync(fd, data, offset, data.length - offset);
    if (!(written > 0)) throw Object.assign(new Error(`write stored nothing (${offset} of ${data.length} bytes written)`), { code: 'EIO' });
    offset += written;
  }
}

/**
 * Appends one JSON line to the open file `fd` (now `size` bytes long) and fsyncs it; returns the new size. A write
 * that fails is cut back to `size`, so the file holds whole lines only, and throws a WriteError (`could not VERB FILE`).
 */
export function appendLineDurably(fd: number, file: string, size: number, record: unknown, verb: string): number {
  const bytes = Buffer.from(`${JSON.stringify(record)}\n`, 'utf8');
  try {
    writeFully(fd, bytes);
    fs.fsyncSync(fd);
  } catch (e) {
    try { fs.ftruncateSync(fd, size); } catch { /* a reader cuts an unterminated last line anyway */ }
    throw new WriteError(file, e, verb);
  }
  return size + bytes.length;
}

/** fsyncs a folder, so a rename or a new file in it survives a power cut. */
export function fsyncFolder(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}

/** The temporary name writeFileAtomic uses for `file` in this process. */
function temporaryOf(file: string): string {
  return `${file}.tmp-${process.pid}`;
}

/**
 * Replaces `file` with `data` so that a reader, a crash or a full disk sees the old file or the new one, never a
 * part: a temporary file is written whole (and fsynced with `durable`), then renamed over the file. On failure the
 * temporary file is removed, the old file stays, and a WriteError says which file and why.
 */
export function writeFileAtomic(file: string, data: string | Buffer, options: { durable?: boolean } = {}): void {
  const temp = temporaryOf(file);
  let fd: number | null = null;
  try {
    fd = fs.openSync(temp, 'w');
    writeFully(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    if (options.durable) fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(temp, file);
    if (options.durable) fsyncFolder(path.dirname(file));
  } catch (e) {
    if (fd !== null) try { fs.closeSync(fd); } catch { /* already failing */ }
    try { fs.rmSync(temp, { force: true }); } catch { /* nothing more to do */ }
    throw new WriteError(file, e);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temporary files of writeFileAtomic that a killed process (kill -9, power cut) left in `dir` (and
 * `FILE.PID.tmp`, the name nos transfer's writer used before it wrote through this file); those of live processes (a
 * `nos report` running beside the search) are kept. Returns the names removed.
 */
export function removeStaleTemporaries(dir: string): string[] {
  const removed: string[] = [];
  let names: string[];
  try { names = fs.readdirSync(dir); } catch { return removed; }
  for (const name of names) {
    const match = /\.tmp-(\d+)$/.exec(name) ?? /\.(\d+)\.tmp$/.exec(name);
    if (!match || processAlive(Number(match[1]))) continue;
    try {
      fs.rmSync(path.join(dir, name), { force: true });
      removed.push(name);
    } catch { /* left for the next time */ }
  }
  return removed;
}
