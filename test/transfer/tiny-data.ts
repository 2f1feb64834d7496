// Tiny data for the transfer tests: band images as IDX files (with or without a t10k test set) and a small text.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SeededRandom } from '../../src/runtime/child/random';

function idx(dims: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(data)]);
}

/** 8x8 images: class k (of 4) is a bright k-th row pair over noise; easy for any network. */
function bands(count: number, seed: number): { images: Uint8Array; labels: Uint8Array } {
  const r = new SeededRandom(seed);
  const images = new Uint8Array(count * 64);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const k = Math.floor(r.next() * 4);
    labels[i] = k;
    for (let p = 0; p < 64; p++) images[i * 64 + p] = Math.floor(r.next() * 100) + (Math.floor(p / 16) === k ? 150 : 0);
  }
  return { images, labels };
}

/** Writes train-* (and, when `test` > 0, t10k-*) IDX files of band images into `dir`. */
export function writeBandImages(dir: string, train: number, test: number): void {
  fs.mkdirSync(dir, { recursive: true });
  const tr = bands(train, 1);
  fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), idx([train, 8, 8], tr.images));
  fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), idx([train], tr.labels));
  if (test > 0) {
    const te = bands(test, 2);
    fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), idx([test, 8, 8], te.images));
    fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), idx([test], te.labels));
  }
}

/** About `words` words of a small grammar: predictable enough that a tiny LSTM learns it within a hundred steps. */
export function tinyText(words: number): string {
  const r = new SeededRandom(3);
  const pick = (xs: string[]) => xs[Math.floor(r.next() * xs.length)];
  const out: string[] = [];
  while (out.length < words) out.push(pick(['the', 'a']), pick(['cat', 'dog', 'bird']), pick(['sat on', 'saw']), pick(['the', 'a']), `${pick(['mat', 'log', 'tree'])}.`);
  return out.join(' ');
}
