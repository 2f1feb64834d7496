// The language-model task's text: a plain-text file or folder (default: Debian's fortunes), a character vocabulary,
// train/validation/test splits and fixed-length character sequences.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from '../runtime/child/data';
import type { SeededRandom } from '../runtime/child/random';

/** Debian's `fortunes` (or `fortunes-min`) package: about 2.6 million characters of English in 43 files. */
export const DEFAULT_TEXT_PATH = '/usr/share/games/fortunes';
const HOW_TO_GET = "Install the default corpus with 'apt-get install fortunes' (text in /usr/share/games/fortunes), or pass --text FILE|DIR with plain text.";

/** The id of every character outside the vocabulary. */
export const OTHER_CHAR = 0;

export interface Corpus { text: string; files: string[] }

function looksBinary(bytes: Buffer): boolean {
  return bytes.subarray(0, 65536).includes(0);
}

/**
 * Reads a plain-text file, or every plain-text file of a folder (sorted by name; symbolic links, fortune's `.dat`
 * index files and files with NUL bytes skipped), decoded as UTF-8 (bad bytes become U+FFFD).
 */
export function readCorpus(target: string = DEFAULT_TEXT_PATH): Corpus {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(target);
  } catch {
    throw new DataError(target, `no such file or folder. ${HOW_TO_GET}`);
  }
  const files = stat.isDirectory()
    ? fs.readdirSync(target).sort().map((f) => path.join(target, f))
      .filter((f) => !f.endsWith('.dat') && fs.lstatSync(f).isFile())
    : [target];
  const texts: string[] = [];
  const used: string[] = [];
  for (const f of files) {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(f);
    } catch (e) {
      throw new DataError(f, `cannot read: ${(e as Error).message}`);
    }
    if (looksBinary(bytes)) {
      if (!stat.isDirectory()) throw new DataError(f, `holds NUL bytes: not plain text. ${HOW_TO_GET}`);
      continue;
    }
    texts.push(bytes.toString('utf8'));
    used.push(f);
  }
  const text = texts.join('\n');
  if (text.length === 0) throw new DataError(target, `holds no text${stat.isDirectory() ? ' (no plain-text files)' : ''}. ${HOW_TO_GET}`);
  return { text, files: used };
}

/** Id 0 stands for every character outside the vocabulary; ids 1.. are the kept characters, most frequent first. */
export interface Vocabulary { chars: string[]; ids: Map<string, number> }

/** The `maxSize - 1` most frequent characters of `text` (ties by code point), plus the catch-all id 0. */
export function buildVocabulary(text: string, maxSize: number): Vocabulary {
  const counts = new Map<string, number>();
  for (const ch of text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  const kept = [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].codePointAt(0)! - b[0].codePointAt(0)!)
    .slice(0, maxSize - 1)
    .map(([ch]) => ch);
  const chars = ['\u0000', ...kept];
  return { chars, ids: new Map(kept.map((ch, i) => [ch, i + 1])) };
}

/** Character ids of `text` (characters, not UTF-16 units: an astral character is one id). */
export function encodeText(text: string, vocab: Vocabulary): Uint16Array {
  const ids: number[] = [];
  for (const ch of text) ids.push(vocab.ids.get(ch) ?? OTHER_CHAR);
  return Uint16Array.from(ids);
}

export interface TextSplits {
  vocab: Vocabulary;
  train: Uint16Array;
  /** For tuning the learning rate. */
  validation: Uint16Array;
  /** For the curves and the table. */
  test: Uint16Array;
}

/**
 * The first part of the text trains, the next `validation` fraction tunes, the last `test` fraction scores; the
 * vocabulary comes from the training part alone (unseen characters map to id 0).
 */
export function splitCorpus(text: string, fractions: { validation: number; test: number }, maxVocab: number): TextSplits {
  const chars = Array.from(text);
  const testStart = Math.floor(chars.length * (1 - fractions.test));
  const validationStart = Math.floor(chars.length * (1 - fractions.test - fractions.validation));
  const vocab = buildVocabulary(chars.slice(0, validationStart).join(''), maxVocab);
  const ids = encodeText(text, vocab);
  return {
    vocab,
    train: ids.subarray(0, validationStart),
    validation: ids.subarray(validationStart, testStart),
    test: ids.subarray(testStart),
  };
}

/** Up to `max` consecutive non-overlapping sequences of `length` + 1 ids (inputs and next-character targets). */
export function sequencesOf(ids: Uint16Array, length: number, max = Infinity): Uint16Array[] {
  const out: Uint16Array[] = [];
  for (let start = 0; start + length + 1 <= ids.length && out.length < max; start += length) out.push(ids.subarray(start, start + length + 1));
  return out;
}

/** A window of `length` + 1 ids at an offset drawn from `rng`. */
export function randomSequence(ids: Uint16Array, length: number, rng: SeededRandom): Uint16Array {
  const start = Math.floor(rng.next() * (ids.length - length));
  return ids.subarray(start, start + length + 1);
}
