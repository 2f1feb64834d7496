// The study's result cache: envelopes of finished child trainings in a JSONL file, keyed by everything that fixes a reward.
//
// A reward is a function of (canonical rule, protocol, data, device, child seed, compiler and protocol versions):
// every child of a search shares the search's seed, and a worker trains with fixed initial weights and data order
// (bench/RESULTS.md "## Search study" states the check). So searches of a study, and tuning runs, may share a
// training instead of repeating it. Only deterministic outcomes are kept: 'ok' and 'diverged'. A crash, a timeout or
// an out-of-memory kill depends on the machine's load, not on the rule, and is trained again next time.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Envelope, Job } from '../../src/search/backend';

export interface CacheEntry { key: string; rule: string; seed: number; protocol: string; engine?: string; envelope: Envelope }

const CACHEABLE = new Set(['ok', 'diverged']);

/** JSON with object keys sorted at every level, so equal values always give the same text. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The cache key of a job: a digest of all its fields but its id, and of the engine that trains it when that is not
 * the CPU path's worker (`cuda`, `host`: the child engine's rewards differ from the CPU path's by up to 0.3 points, so
 * a study on it must never read the CPU study's results, nor the GPU's the CPU twin's). No engine: the key as before.
 */
export function jobKey(job: Job, engine?: string): string {
  const { id: _id, ...rest } = job;
  return createHash('sha256').update(canonicalJson(engine ? { ...rest, engine } : rest)).digest('hex').slice(0, 32);
}

/**
 * Reads a cache file without changing it (another process may be appending): its whole entries, and how many bytes
 * they span. Only the last line may be torn; a bad line before it is an error naming it.
 */
export function readCacheFile(file: string): { entries: CacheEntry[]; validBytes: number; totalBytes: number } {
  let buffer = Buffer.alloc(0);
  try { buffer = fs.readFileSync(file); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
  const entries: CacheEntry[] = [];
  let offset = 0;
  for (let line = 1; offset < buffer.length; line++) {
    const end = buffer.indexOf(0x0a, offset);
    if (end < 0) break; // no newline: torn
    let entry: CacheEntry | null = null;
    try { entry = JSON.parse(buffer.subarray(offset, end).toString('utf8')) as CacheEntry; } catch { entry = null; }
    if (!entry || typeof entry.key !== 'string' || !entry.envelope) {
      if (end === buffer.length - 1) break;
      throw new Error(`${file}: line ${line} is not a cache entry; the file is damaged (delete it to start a new cache)`);
    }
    entries.push(entry);
    offset = end + 1;
  }
  return { entries, validBytes: offset, totalBytes: buffer.length };
}

export class ResultCache {
  private readonly entries = new Map<string, CacheEntry>();
  private fd: number | null = null;
  /**
   * Opens (or creates) the cache file; a torn last line (a kill mid-write) is cut off so new entries start clean.
   * engine: part of every key (jobKey), so entries of another engine in the same file are never read.
   */
  constructor(readonly file: string, readonly engine?: string) {
    const { entries, validBytes, totalBytes } = readCacheFile(file);
    for (const e of entries) this.entries.set(e.key, e);
    if (validBytes < totalBytes) fs.truncateSync(file, validBytes);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.fd = fs.openSync(file, 'a');
  }

  get size(): number { return this.entries.size; }

  key(job: Job): string { return jobKey(job, this.engine); }

  get(job: Job): Envelope | null {
    return this.entries.get(this.key(job))?.envelope ?? null;
  }

  /** Records a finished training (deterministic outcomes only); returns whether it was kept. */
  put(job: Job, envelope: Envelope): boolean {
    if (!CACHEABLE.has(envelope.status) || this.fd === null) return false;
    const key = this.key(job);
    if (this.entries.has(key)) return false;
    const entry: CacheEntry = { key, rule: job.rule, seed: job.seed, protocol: (job.protocol as { name: string }).name, ...(this.engine ? { engine: this.engine } : {}), envelope };
    fs.writeSync(this.fd, JSON.stringify(entry) + '\n');
    this.entries.set(key, entry);
    return true;
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}
