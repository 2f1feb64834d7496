// Small synthetic IDX data for protocol tests: 12x12 images where class k (0..9) is a bright band on row k.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SeededRandom } from '../../src/runtime/child/random';

/** Writes `count` images and labels as train-images-idx3-ubyte and train-labels-idx1-ubyte in `dir`. */
export function writeBandsIdx(dir: string, count: number, seed: number): void {
  const r = new SeededRandom(seed);
  const images = Buffer.alloc(count * 144);
  const labels = Buffer.alloc(count);
  for (let i = 0; i < count; i++) {
    const k = Math.floor(r.next() * 10);
    labels[i] = k;
    for (let p = 0; p < 144; p++) images[i * 144 + p] = Math.floor(r.next() * 120) + (Math.floor(p / 12) === k ? 130 : 0);
  }
  const header = (dims: number[]) => {
    const h = Buffer.alloc(4 + 4 * dims.length);
    h[2] = 8; h[3] = dims.length;
    dims.forEach((d, i) => h.writeUInt32BE(d, 4 + 4 * i));
    return h;
  };
  fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), Buffer.concat([header([count, 12, 12]), images]));
  fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), Buffer.concat([header([count]), labels]));
}
