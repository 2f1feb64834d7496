// The transfer folder's log of finished runs: append-only JSON lines, fsynced after each, read back on resume.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Phase, RunOutcome } from './task';
import { makeDirs } from '../runtime/make-dirs';

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
}

export function runKey(r: Pick<RunRecord, 'task' | 'optimizer' | 'phase' | 'lr' | 'seed' | 'fingerprint'>): string {
  return `${r.task}|${r.optimizer}|${r.phase}|${r.lr}|${r.seed}|${r.fingerprint}`;
}

function isRecord(x: unknown): x is RunRecord {
  const r = x as RunRecord;
  return !!r && typeof r === 'object' && typeof r.task === 'string' && typeof r.optimizer === 'string'
    && (r.phase === 'tune' || r.phase === 'final') && typeof r.lr === 'number' && typeof r.seed === 'number'
    && typeof r.fingerprint === 'string' && (r.status === 'ok' || r.status === 'diverged') && Array.isArray(r.curve);
}

/**
 * Opens (or creates) the log in `dir`.  A torn last line (a write cut short by a crash or a kill) is dropped and
 * the file cut back to its last whole record; a bad line anywhere else is damage from outside and throws.
 */
export class RunLog {
  private readonly byKey = new Map<string, RunRecord>();
  private fd: number;

  private constructor(readonly file: string, records: RunRecord[], validBytes: number) {
    for (const r of records) this.byKey.set(runKey(r), r);
    this.fd = fs.openSync(file, 'a+');
    if (fs.fstatSync(this.fd).size > validBytes) fs.ftruncateSync(this.fd, validBytes);
  }

  static open(dir: string): RunLog {
    makeDirs(dir);
    const file = path.join(dir, RUNS_FILE);
    const bytes = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
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
        throw new Error(`${file}: line ${line} is not a run record; the file was damaged (move it away to start over)`);
      }
      records.push(parsed);
      offset = end + 1;
    }
    return new RunLog(file, records, offset);
  }

  get(key: string): RunRecord | undefined {
    return this.byKey.get(key);
  }

  records(): RunRecord[] {
    return [...this.byKey.values()];
  }

  /** Appends one record and fsyncs it: once this returns the run survives a crash. */
  append(record: RunRecord): void {
    writeAll(this.fd, `${JSON.stringify(record)}\n`);
    fs.fsyncSync(this.fd);
    this.byKey.set(runKey(record), record);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** Writes a file atomically (temp file in the same folder, fsync, rename): a reader sees the old or the new one. */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    writeAll(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/** fs.writeSync may write less than asked: loop until every byte is out. */
function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  for (let off = 0; off < bytes.length;) off += fs.writeSync(fd, bytes, off, bytes.length - off);
}
