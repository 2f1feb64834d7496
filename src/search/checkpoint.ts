// The search checkpoint: strategy state and counters, written atomically (temp file, fsync, rename, fsync the folder).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from './checked-write';

export const CHECKPOINT_VERSION = 2;

export interface Checkpoint {
  version: number;
  runId: string;
  /**
   * How many strategy events of the ledger (its batch and update records, in ledger order: see resume.ts)
   * strategyState reflects. The ledger may hold one more (a crash between appending it and writing this file).
   */
  events: number;
  /** Candidates proposed so far (the budget counter). */
  candidatesProposed: number;
  /** Strategy.saveState(): weights, optimizer state, baseline and its random stream. */
  strategyState: unknown;
  time: string;
}

export const CHECKPOINT_FILE = 'checkpoint.json';

/**
 * Writes the checkpoint so that a crash or a full disk at any moment leaves either the old file or the new one,
 * never a mix (temporary file written whole, fsynced, renamed, folder fsynced); a failed write throws a WriteError.
 */
export function writeCheckpoint(dir: string, checkpoint: Checkpoint): void {
  writeFileAtomic(path.join(dir, CHECKPOINT_FILE), JSON.stringify(checkpoint), { durable: true });
}

/** Reads the checkpoint of a search folder; null when there is none. */
export function readCheckpoint(dir: string): Checkpoint | null {
  const file = path.join(dir, CHECKPOINT_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  let parsed: Checkpoint;
  try {
    parsed = JSON.parse(text) as Checkpoint;
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message}); checkpoints are written atomically, so the file was damaged from outside`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new Error(`${file}: holds ${JSON.stringify(parsed)}, not a checkpoint object; checkpoints are written atomically, so the file was damaged from outside`);
  }
  if (parsed.version === 1) {
    // Version 1 was written by the synchronous loop, whose events alternate: batch 0, its update, batch 1, ...
    const v1 = parsed as unknown as { batchesProposed: number; batchesFed: number };
    for (const key of ['batchesProposed', 'batchesFed'] as const) {
      if (!Number.isInteger(v1[key]) || v1[key] < 0) throw new Error(`${file}: ${key} must be an integer >= 0, got ${JSON.stringify(v1[key])}`);
    }
    parsed = { ...parsed, version: CHECKPOINT_VERSION, events: v1.batchesProposed + v1.batchesFed };
  }
  if (parsed.version !== CHECKPOINT_VERSION) {
    throw new Error(`${file}: checkpoint version ${parsed.version}, this build reads versions 1 and ${CHECKPOINT_VERSION}`);
  }
  for (const key of ['events', 'candidatesProposed'] as const) {
    if (!Number.isInteger(parsed[key]) || parsed[key] < 0) throw new Error(`${file}: ${key} must be an integer >= 0, got ${JSON.stringify(parsed[key])}`);
  }
  return parsed;
}
