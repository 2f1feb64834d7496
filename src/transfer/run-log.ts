// The transfer folder's log of finished runs: append-only JSON lines, fsynced after each, read back on resume.
// No finished run is lost to another process either: a log removed or replaced while a transfer runs is written
// again with every run this process knows (merged with the replacement's), and a failed append leaves no torn line.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RUN_STATUSES, type Phase, type RunOutcome } from './task';
import { makeDirs } from '../runtime/make-dirs';
import { appendLineDurably, WriteError, writeFileAtomic as writeCheckedAtomic } from '../search/checked-write';
import { describeFsError, InputError } from '../errors';

// The folder's leftovers from killed writers: the search's own cleaner, which also knows this log's older names.
export { removeStaleTemporaries } from '../search/checked-write';

export const RUNS_FILE = 'runs.jsonl';

/** One finished run: what ran (task, optimizer, phase, lr, seed, fingerprint of the settings) and what came of it. */
export interface RunRecord extends RunOutcome {
  task: string;
  optimizer: string;
  phase: Phase;
  lr: number;
  seed: number;
  /** Digest of the task's settings, the optimizer's rule and options and the code version: a change re-runs. */
  fingerprint: string;
  seconds: number;
  time: string;
  /** The per-run time limit (seconds) a 'timeout' run was stopped at: a later transfer with a longer one runs it again. */
  limitSeconds?: number;
}

export function runKey(r: Pick<RunRecord, 'task' | 'optimizer' | 'phase' | 'lr' | 'seed' | 'fingerprint'>): string {
  return `${r.task}|${r.optimizer}|${r.phase}|${r.lr}|${r.seed}|${r.fingerprint}`;
}

function isRecord(x: unknown): x is RunRecord {
  const r = x as RunRecord;
  return !!r && typeof r === 'object' && typeof r.task === 'string' && typeof r.optimizer === 'string'
    && (r.phase === 'tune' || r.phase === 'final') && typeof r.lr === 'number' && typeof r.seed === 'number'
    && typeof r.fingerprint === 'string' && RUN_STATUSES.includes(r.status) && Array.isArray(r.curve)
    && (r.status !== 'timeout' || (typeof r.limitSeconds === 'number' && r.limitSeconds > 0))
    // A finished run has a score, a failed one none; every task's metric (accuracy, distance, loss) is finite and >= 0.
    && (r.status === 'ok' ? typeof r.score === 'number' && Number.isFinite(r.score) && r.score >= 0 : r.score === null);
}

/** Bad input: the log cannot be read or is damaged (the CLI exits 2, before anything trains). */
function logProblem(message: string): Error {
  return new InputError(message);
}

/** The whole records of a log's bytes, and how many bytes they take (a torn last line is not counted). */
function parseLog(file: string, bytes: Buffer): { records: RunRecord[]; validBytes: number } {
  const records: RunRecord[] = [];
  let offset = 0;
  let line = 0;
  while (offset < bytes.length) {
    const end = bytes.indexOf(0x0a, offset);
    line++;
    if (end < 0) break; // torn: no newline
    let parsed: unknown;
    try { parsed = JSON.parse(bytes.subarray(offset, end).toString('utf8')); } catch { parsed = undefined; }
    if (!isRecord(parsed)) {
      if (end === bytes.length - 1) break; // torn: the last line
      throw logProblem(`${file}: line ${line} is not a run record; the file was damaged (move it away to start over)`);
    }
    records.push(parsed);
    offset = end + 1;
  }
  return { records, validBytes: offset };
}

function readLog(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw logProblem(`${file}: cannot read the log of finished runs: ${describeFsError(e)}`);
  }
}

/**
 * Opens (or creates) the log in `dir`.  A torn last line (a write cut short by a crash or a kill) is dropped and
 * the file cut back to its last whole record; a bad line anywhere else is damage from outside and throws (exit 2).
 */
export class RunLog {
  private readonly byKey = new Map<string, RunRecord>();
  private fd: number;
  /** The file's size as this process left it: another size means someone else wrote it. */
  private size: number;
  /** Set once ensure() could not repair the log (and saved the runs aside): it does not try again. */
  private gaveUp = false;

  private constructor(readonly file: string, records: RunRecord[], validBytes: number, private readonly notice?: (message: string) => void) {
    for (const r of records) this.byKey.set(runKey(r), r);
    try {
      this.fd = fs.openSync(file, 'a+');
    } catch (e) {
      throw logProblem(`${file}: cannot write the log of finished runs: ${describeFsError(e)}`);
    }
    if (fs.fstatSync(this.fd).size > validBytes) fs.ftruncateSync(this.fd, validBytes);
    this.size = validBytes;
  }

  /** `notice` hears of repairs: a last line cut short by a crash removed, the log written again after another process removed or replaced it. */
  static open(dir: string, notice?: (message: string) => void): RunLog {
    makeDirs(dir);
    const file = path.join(dir, RUNS_FILE);
    let bytes: Buffer = Buffer.alloc(0);
    if (fs.existsSync(file)) {
      if (!fs.statSync(file).isFile()) throw logProblem(`${file}: not a file; the log of finished runs must be a file (move it away)`);
      bytes = readLog(file);
    }
    const { records, validBytes } = parseLog(file, bytes);
    if (validBytes < bytes.length) {
      notice?.(`${file} ended in a line cut short by a crash (${bytes.length - validBytes} bytes); removed it (that run trains again)`);
    }
    return new RunLog(file, records, validBytes, notice);
  }

  get(key: string): RunRecord | undefined {
    return this.byKey.get(key);
  }

  records(): RunRecord[] {
    return [...this.byKey.values()];
  }

  /**
   * Appends one record and fsyncs it: once this returns the run survives a crash.  A write that fails (a full
   * disk) is cut back, so the file holds whole records only, and throws a WriteError naming the file.
   */
  append(record: RunRecord): void {
    this.ensure(record);
    this.size = appendLineDurably(this.fd, this.file, this.size, record, 'append the finished run to');
    this.byKey.set(runKey(record), record);
  }

  /**
   * Makes sure the log's path still names the file this process writes.  Another process may have removed it (the
   * runs appended since went into a file no one can open) or put another file there: the log is then written again
   * with every record known here and the replacement's.  Something that is not a file there (a folder) cannot be
   * merged with: the records (and `pending`, the run about to be appended) are saved beside it and the error says where.
   */
  ensure(pending?: RunRecord): void {
    if (this.gaveUp) throw new Error(`${this.file}: the log of finished runs could not be repaired (see above)`);
    let there: fs.Stats | null = null;
    try {
      there = fs.statSync(this.file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new WriteError(this.file, e, 'check');
    }
    const mine = fs.fstatSync(this.fd);
    const same = there !== null && there.ino === mine.ino && there.dev === mine.dev;
    if (same && mine.size === this.size) return;
    if (there && !there.isFile()) {
      this.gaveUp = true;
      const saved = this.saveAside(pending);
      throw new Error(`${this.file} was replaced by a ${there.isDirectory() ? 'folder' : 'non-file'} while this transfer ran: `
        + `the ${this.count(pending)} finished runs known are saved in ${saved}; move the ${there.isDirectory() ? 'folder' : 'thing'} away and rename that file to ${RUNS_FILE} to continue`);
    }
    let theirs: RunRecord[] = [];
    if (there) {
      try {
        theirs = parseLog(this.file, readLog(this.file)).records;
      } catch (e) {
        this.gaveUp = true;
        const saved = this.saveAside(pending);
        throw new Error(`${(e as Error).message} (changed while this transfer ran); the ${this.count(pending)} finished runs known here are saved in ${saved}`);
      }
    }
    for (const r of theirs) if (!this.byKey.has(runKey(r))) this.byKey.set(runKey(r), r);
    const text = this.text();
    writeCheckedAtomic(this.file, text, { durable: true });
    const fd = fs.openSync(this.file, 'a+');
    try { fs.closeSync(this.fd); } catch { /* it was the old file's */ }
    this.fd = fd;
    this.size = Buffer.byteLength(text, 'utf8');
    const what = same ? 'changed' : there ? 'replaced' : 'removed';
    this.notice?.(`${this.file} was ${what} by another process; written again with the ${this.byKey.size} runs known`);
  }

  close(): void {
    try { fs.closeSync(this.fd); } catch { /* already closed */ }
  }

  private text(extra?: RunRecord): string {
    const records = new Map(this.byKey);
    if (extra) records.set(runKey(extra), extra);
    return [...records.values()].map((r) => `${JSON.stringify(r)}\n`).join('');
  }

  private count(extra?: RunRecord): number {
    return this.byKey.size + (extra && !this.byKey.has(runKey(extra)) ? 1 : 0);
  }

  /** Writes every known record (and `extra`) to `runs-saved-<time>.jsonl` beside the log; returns its path. */
  private saveAside(extra?: RunRecord): string {
    const saved = path.join(path.dirname(this.file), `runs-saved-${new Date().toISOString().replace(/[-:.]/g, '')}.jsonl`);
    writeCheckedAtomic(saved, this.text(extra), { durable: true });
    return saved;
  }
}

/**
 * Writes a file atomically (temporary file in the same folder, fsync, rename): a reader sees the old or the new one;
 * a write that fails removes its temporary file and throws a WriteError naming the file and why.
 */
export function writeFileAtomic(file: string, text: string): void {
  writeCheckedAtomic(file, text, { durable: true });
}
