// Small synthetic IDX data for protocol tests (square images where class k is a bright band on row k), and the IDX writer.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SeededRandom } from '../../src/runtime/child/random';

/** Image side, classes, the noise's range and the band's brightness; the defaults are 12x12, 10 classes. */
export interface BandsShape { side: number; classes: number; noise: number; band: number }
const DEFAULT_SHAPE: BandsShape = { side: 12, classes: 10, noise: 120, band: 130 };

/** Writes `count` images and labels as train-images-idx3-ubyte and train-labels-idx1-ubyte in `dir`. */
export function writeBandsIdx(dir: string, count: number, seed: number, shape: BandsShape = DEFAULT_SHAPE): void {
  const { side, classes, noise, band } = shape;
  const pixels = side * side;
  const r = new SeededRandom(seed);
  const images = Buffer.alloc(count * pixels);
  const labels = Buffer.alloc(count);
  for (let i = 0; i < count; i++) {
    const k = Math.floor(r.next() * classes);
    labels[i] = k;
    for (let p = 0; p < pixels; p++) images[i * pixels + p] = Math.floor(r.next() * noise) + (Math.floor(p / side) === k ? band : 0);
  }
  fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), idxBytes([count, side, side], images));
  fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), idxBytes([count], labels));
}

/** An IDX file of unsigned bytes: the 4-byte magic (type 0x08, the number of dimensions), the sizes, the data. */
export function idxBytes(dims: number[], data: ArrayLike<number>): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(Array.from(data))]);
}
