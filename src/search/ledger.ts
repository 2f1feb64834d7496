// The search ledger: append-only JSON lines, each checked when read and fsynced when written; a torn tail is cut.
import * as fs from 'node:fs';
import type { Envelope } from './backend';
import { appendLineDurably, WriteError } from './checked-write';
import { ledgerRecordProblem } from './record-validation';
import { describeFsError, InputError, NosError } from '../errors';

/** The ledger's name inside a search folder. */
export const LEDGER_FILE = 'ledger.jsonl';

/** One proposed candidate as recorded when its batch is proposed. */
export interface CandidateRecord {
  /** 0-based index of the candidate in the whole search (the x axis of the reward plot). */
  index: number;
  /** Job id: `${runId}:${index}`. */
  id: string;
  tokens: string[];
  meta: unknown;
  /** Canonical infix; null when the tokens do not compile. */
  rule: string | null;
  hash: string | null;
  bytesPerParam: number | null;
  compileError?: string;
}

export type LedgerRecord =
  /** versions: of the compiler and the protocol when the search started (a resume on other versions says so). */
  | { type: 'start'; time: string; runId: string; config: unknown; versions?: { compiler: number; protocol: number } }
  /** settings: the budget and confirmation count in force from this resume on (a later resume starts from them). */
  | { type: 'resume'; time: string; note?: string; settings?: { budget: number; confirm: number } }
  | { type: 'batch'; time: string; batch: number; candidates: CandidateRecord[] }
  /** reusedFrom: the index of the candidate whose result this is (same canonical rule, trained once). */
  /** equivalentTo: when the reuse is by the equivalence cache, the canonical rule whose fingerprint matched. */
  | { type: 'result'; time: string; batch: number; index: number; envelope: Envelope; reusedFrom?: number; equivalentTo?: string;
      /** With the funnel: 'screen' when the rule stopped at the screen (its reward is the screened reward), 'full' when it went on; screenReward: the screen's own reward. */
      fidelity?: 'screen' | 'full'; screenReward?: number }
  /** With the funnel: a rule's screen was promoted to the full protocol (its result comes later). */
  | { type: 'screen'; time: string; batch: number; index: number; envelope: Envelope; promoted: true }
  /** staleness: batches fed back between this batch's proposal and its own feedback (0 in a synchronous loop). */
  | { type: 'update'; time: string; batch: number; rewards: number[]; staleness?: number }
  | { type: 'stop'; time: string; reason: string }
  | { type: 'finish'; time: string; candidates: number }
  /** One confirmation run (--confirm): a top rule trained again with another child seed (src/search/confirm.ts). */
  | { type: 'confirm'; time: string; rule: string; hash: string; seed: number; envelope: Envelope };

/** A complete line of the ledger that is not a valid record: its 1-based line number and what is wrong. */
export interface LedgerProblem { line: number; problem: string }

export interface LedgerContents {
  /** The valid records, in order. */
  records: LedgerRecord[];
  /** The 1-based line number of each record in `records`. */
  lines: number[];
  /** Complete lines that are not valid records (the record validator's reason for each); a sound ledger has none. */
  problems: LedgerProblem[];
  /** Bytes of an unterminated last line (a write cut short by a crash); 0 when the file ends with a newline. */
  tornBytes: number;
  /** Length in bytes of the part made of whole lines. */
  validBytes: number;
}

/** `FILE line N: why`, for messages. */
export function formatLedgerProblem(file: string, p: LedgerProblem): string {
  return `${file} line ${p.line}: ${p.problem}`;
}

/** A ledger with invalid complete lines: a search does not resume on it (nos report still shows the valid part). */
export class LedgerDamagedError extends NosError {
  constructor(readonly file: string, readonly problems: LedgerProblem[]) {
    const shown = problems.slice(0, 5).map((p) => `  ${formatLedgerProblem(file, p)}`);
    if (problems.length > shown.length) shown.push(`  ... and ${problems.length - shown.length} more`);
    super(`${file}: ${problems.length === 1 ? 'a line is not a valid ledger record' : `${problems.length} lines are not valid ledger records`}:\n${shown.join('\n')}\n`
      + 'nos writes only whole, valid records, so the ledger was changed or damaged from outside. `nos report` shows the valid '
      + 'records; to resume, restore or remove the lines named (a removed result is trained again)', 2);
  }
}

function parseLine(text: string): { record: LedgerRecord } | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { problem: `not JSON (${(e as Error).message}): ${JSON.stringify(text.slice(0, 80))}` };
  }
  const problem = ledgerRecordProblem(value);
  return problem ? { problem } : { record: value as LedgerRecord };
}

/**
 * Reads a ledger, checking every record. Only an unterminated last line can come from a crash (a record and its
 * newline are one write): it is reported as torn. Every complete line that is not a valid record is a problem.
 */
export function readLedger(file: string): LedgerContents {
  let buffer: Buffer;
  try {
    buffer = fs.readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], lines: [], problems: [], tornBytes: 0, validBytes: 0 };
    throw new InputError(`${file}: cannot read the search's ledger: ${describeFsError(e)}`);
  }
  const contents: LedgerContents = { records: [], lines: [], problems: [], tornBytes: 0, validBytes: 0 };
  let offset = 0;
  for (let line = 1; offset < buffer.length; line++) {
    const end = buffer.indexOf(0x0a, offset);
    if (end < 0) {
      contents.tornBytes = buffer.length - offset;
      break;
    }
    const parsed = parseLine(buffer.subarray(offset, end).toString('utf8'));
    if ('record' in parsed) {
      contents.records.push(parsed.record);
      contents.lines.push(line);
    } else {
      contents.problems.push({ line, problem: parsed.problem });
    }
    offset = end + 1;
  }
  contents.validBytes = offset;
  return contents;
}

export class Ledger {
  private fd: number | null;
  private size: number;

  private constructor(readonly file: string, fd: number, readonly records: LedgerRecord[], readonly lines: number[],
    /** Bytes of a torn last line that open() cut off (0 when there was none). */
    readonly cutBytes: number) {
    this.fd = fd;
    this.size = fs.fstatSync(fd).size;
  }

  /**
   * Opens (or creates) a ledger for appending. A torn last line is cut off first so new records start clean; a
   * ledger with invalid complete lines is refused (LedgerDamagedError), never silently shortened.
   */
  static open(file: string): Ledger {
    const contents = readLedger(file);
    if (contents.problems.length > 0) throw new LedgerDamagedError(file, contents.problems);
    if (contents.tornBytes > 0) {
      try { fs.truncateSync(file, contents.validBytes); } catch (e) { throw new WriteError(file, e, 'cut the torn last line of'); }
    }
    const fd = fs.openSync(file, 'a');
    return new Ledger(file, fd, contents.records, contents.lines, contents.tornBytes);
  }

  /**
   * Appends one record and fsyncs it before returning: once this returns, the record survives a crash. A write
   * that fails (a full disk) throws a WriteError and leaves the ledger as it was before the call.
   */
  append(record: LedgerRecord): void {
    if (this.fd === null) throw new Error(`ledger ${this.file} is closed`);
    this.size = appendLineDurably(this.fd, this.file, this.size, record, 'append to');
    this.records.push(record);
    this.lines.push(this.lines.length > 0 ? this.lines[this.lines.length - 1] + 1 : 1);
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}
