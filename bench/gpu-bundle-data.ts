// Writes the paper protocol's training data for the GPU device check (bench/gpu-check.sh) as a small IDX pair: the
// first trainExamples and the last validationExamples images of Fashion-MNIST's training file, in that order, so
// prepareSplits gives exactly the splits (and the normalization) the full file gives, in a fifth of the bytes.
//   node dist/bench/gpu-bundle-data.js OUT_DIR [DATA_DIR]
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { DEFAULT_DATA_PATH, loadTrainingData } from '../src/runtime/child/data';
import { PROTOCOLS } from '../src/runtime/child/protocol';

const [out, from = DEFAULT_DATA_PATH] = process.argv.slice(2);
if (!out) {
  process.stderr.write('usage: node dist/bench/gpu-bundle-data.js OUT_DIR [DATA_DIR]\n');
  process.exit(2);
}
const raw = loadTrainingData(from);
if (raw.format !== 'idx') throw new Error(`${from}: the device check carries IDX data (Fashion-MNIST), found ${raw.format}`);
const { trainExamples, validationExamples } = PROTOCOLS.paper;
const pixels = raw.height * raw.width;
const keep = [...Array.from({ length: trainExamples }, (_, i) => i), ...Array.from({ length: validationExamples }, (_, i) => raw.count - validationExamples + i)];
const header = (dims: number[]): Buffer => {
  const h = Buffer.alloc(4 + 4 * dims.length);
  h[2] = 8;
  h[3] = dims.length;
  dims.forEach((d, i) => h.writeUInt32BE(d, 4 + 4 * i));
  return h;
};
const images = Buffer.alloc(keep.length * pixels);
const labels = Buffer.alloc(keep.length);
keep.forEach((k, i) => {
  images.set(raw.images.subarray(k * pixels, (k + 1) * pixels), i * pixels);
  labels[i] = raw.labels[k];
});
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, 'train-images-idx3-ubyte.gz'), zlib.gzipSync(Buffer.concat([header([keep.length, raw.height, raw.width]), images]), { level: 9 }));
fs.writeFileSync(path.join(out, 'train-labels-idx1-ubyte.gz'), zlib.gzipSync(Buffer.concat([header([keep.length]), labels]), { level: 9 }));
process.stdout.write(`${out}: ${keep.length} images (${trainExamples} for training, ${validationExamples} held out) from ${raw.files[0]}\n`);
