// NumPy datasets: x_train.npy and y_train.npy in a folder, or one .npz archive with those keys (Keras' layout);
// x_test/y_test beside them are the test set. Images (N,H,W), (N,H,W,C) or (N,C,H,W), or feature rows (N,D);
// labels (N,) or one-hot (N,K).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { unzipSync } from 'fflate';
import type { Labels, RawDataset } from './data';
import { DataError } from './data-error';
import { elementReader, parseNpy, shapeText, type NpyArray } from './npy';

export type NumpySplit = 'train' | 'test';
const KEYS = { train: ['x_train', 'y_train'], test: ['x_test', 'y_test'] } as const;
/** Labels are stored in 16 bits at most (data.ts Labels). */
const MAX_CLASSES = 65536;

/** The folder holds x_train.npy (the test: x_test.npy). */
export function hasNumpyFolder(dir: string, split: NumpySplit = 'train'): boolean {
  return fs.existsSync(path.join(dir, `${KEYS[split][0]}.npy`));
}

function readFile(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new DataError(file, `cannot read: ${(e as Error).message}`);
  }
}

/** x_<split>.npy and y_<split>.npy of `dir`; classes from the labels unless given (the test set takes the training set's). */
export function loadNumpyFolder(dir: string, split: NumpySplit, classes?: number): RawDataset {
  const [x, y] = KEYS[split].map((k) => path.join(dir, `${k}.npy`));
  if (!fs.existsSync(y)) throw new DataError(y, `missing: found ${path.basename(x)} but not its labels`);
  const images = parseNpy(x, readFile(x));
  const labels = parseNpy(y, readFile(y));
  return numpyDataset('npy', dir, [x, y], images, labels, classes);
}

/** The split's arrays of a .npz archive (np.savez or np.savez_compressed); null for a test split it does not hold. */
export function loadNpz(file: string, split: NumpySplit, classes?: number): RawDataset | null {
  const bytes = readFile(file);
  const [xKey, yKey] = KEYS[split];
  const names: string[] = [];
  let entries: Record<string, Uint8Array>;
  try {
    // Only the split's two arrays are inflated (an archive's other arrays may be large); the names are kept for messages.
    entries = unzipSync(bytes, { filter: (f) => { names.push(f.name.replace(/\.npy$/, '')); return f.name === `${xKey}.npy` || f.name === `${yKey}.npy`; } });
  } catch (e) {
    throw new DataError(file, `is not a readable .npz (zip) archive: ${(e as Error).message}`);
  }
  if (!(`${xKey}.npy` in entries)) {
    if (split === 'test') return null;
    throw new DataError(file, `has no '${xKey}' array (it holds: ${names.join(', ') || 'none'}); save it with np.savez(file, x_train=images, y_train=labels)`);
  }
  if (!(`${yKey}.npy` in entries)) throw new DataError(file, `has '${xKey}' but no '${yKey}' (its labels)`);
  const where = (key: string) => `${file} [${key}]`;
  const images = parseNpy(where(xKey), entries[`${xKey}.npy`]);
  const labels = parseNpy(where(yKey), entries[`${yKey}.npy`]);
  return numpyDataset('npz', file, [where(xKey), where(yKey)], images, labels, classes);
}

function numpyDataset(format: 'npy' | 'npz', location: string, files: string[], x: NpyArray, y: NpyArray, classes?: number): RawDataset {
  const layout = imageLayout(x);
  const labels = readLabels(y, layout.count, classes);
  const { images, pixelScale } = readImages(x, layout);
  if (labels.classes < 2) throw new DataError(y.where, 'every label is 0: a classifier needs two classes at least');
  return {
    format, location, images, pixelScale, labels: labels.labels, count: layout.count,
    channels: layout.channels, height: layout.height, width: layout.width, classes: labels.classes, files,
  };
}

interface Layout { count: number; channels: number; height: number; width: number; channelsLast: boolean }

function imageLayout(x: NpyArray): Layout {
  const s = x.shape;
  if (s.length > 0 && s.includes(0)) throw new DataError(x.where, `holds no ${s[0] === 0 ? 'examples' : 'values per example'}: shape ${shapeText(s)}`);
  const expected = 'expected images of shape (N, H, W), (N, H, W, C) (channels last, as Keras) or (N, C, H, W) (channels first, as PyTorch), or feature rows (N, D)';
  // Feature rows are D channels of 1x1 images: each feature is standardized on its own, and the MLP sees D inputs.
  if (s.length === 2) return { count: s[0], channels: s[1], height: 1, width: 1, channelsLast: false };
  if (s.length === 3) return { count: s[0], channels: 1, height: s[1], width: s[2], channelsLast: false };
  if (s.length !== 4) throw new DataError(x.where, `${expected}; got shape ${shapeText(s)}`);
  const last = s[3] <= 4 && s[1] > 4;
  const first = s[1] <= 4 && s[3] > 4;
  if (last === first) throw new DataError(x.where, `${expected}, with at most 4 channels; shape ${shapeText(s)} does not say which axis holds the channels`);
  return last ? { count: s[0], channels: s[3], height: s[1], width: s[2], channelsLast: true }
    : { count: s[0], channels: s[1], height: s[2], width: s[3], channelsLast: false };
}

/**
 * Bytes stay bytes (scaled by 1/255 as IDX and CIFAR); integers must be 0..255; floats are read as they are (the
 * standardization that follows makes their scale irrelevant). Channels-last images are reordered to NCHW.
 */
function readImages(x: NpyArray, l: Layout): { images: Uint8Array | Float32Array; pixelScale: number } {
  const float = x.kind === 'f';
  const images = float ? new Float32Array(x.count) : new Uint8Array(x.count);
  const read = elementReader(x);
  const plane = l.height * l.width;
  const pixels = l.channels * plane;
  for (let n = 0; n < l.count; n++) {
    for (let c = 0; c < l.channels; c++) {
      for (let p = 0; p < plane; p++) {
        const from = n * pixels + (l.channelsLast ? p * l.channels + c : c * plane + p);
        const v = read(from);
        if (float ? !Number.isFinite(v) : v < 0 || v > 255) {
          const place = x.shape.length === 2 ? `example ${n} has value ${v} in feature ${c}` : `image ${n} has pixel ${v} at channel ${c}, row ${Math.floor(p / l.width)}, column ${p % l.width}`;
          throw new DataError(x.where, `${place}: ${float ? 'values must be finite' : `integer values must be 0..255 (${x.dtype}); store other ranges as float32`}`);
        }
        images[n * pixels + c * plane + p] = v;
      }
    }
  }
  return { images, pixelScale: float ? 1 : 255 };
}

/**
 * Class indices (N,) or (N, 1), or one-hot rows (N, K); the classes are K, or the largest index plus one, unless given
 * (a test set's are its training set's).  Stored as bytes up to 256 classes, in 16 bits above.
 */
function readLabels(y: NpyArray, count: number, classes?: number): { labels: Labels; classes: number } {
  const s = y.shape;
  const oneHot = s.length === 2 && s[1] > 1;
  if (!(s.length === 1 || (s.length === 2 && (s[1] === 1 || oneHot)))) {
    throw new DataError(y.where, `expected labels of shape (N,) (class indices) or (N, K) (one-hot); got ${shapeText(s)}`);
  }
  if (s[0] !== count) throw new DataError(y.where, `has ${s[0]} labels but the images are ${count}`);
  const read = elementReader(y);
  const labels = new Uint16Array(count);
  if (oneHot) {
    if (s[1] > MAX_CLASSES || (classes !== undefined && s[1] !== classes)) {
      throw new DataError(y.where, `one-hot labels of ${s[1]} classes; ${classes === undefined ? `nos takes at most ${MAX_CLASSES}` : `the training labels have ${classes}`}`);
    }
    for (let i = 0; i < count; i++) labels[i] = oneHotClass(y, read, i, s[1]);
    return { labels: compactLabels(labels, s[1]), classes: s[1] };
  }
  const limit = classes ?? MAX_CLASSES;
  let largest = 0;
  for (let i = 0; i < count; i++) {
    const v = read(i);
    if (!Number.isInteger(v) || v < 0 || v >= limit) {
      throw new DataError(y.where, `label ${v} at index ${i} is not a class index 0..${limit - 1}${classes === undefined ? '' : " (the training labels' classes)"}`);
    }
    labels[i] = v;
    largest = Math.max(largest, v);
  }
  return { labels: compactLabels(labels, classes ?? largest + 1), classes: classes ?? largest + 1 };
}

/** Bytes when the classes fit them (as the IDX and CIFAR loaders give, so a dataset's fingerprint is the same). */
function compactLabels(labels: Uint16Array, classes: number): Labels {
  return classes <= 256 ? Uint8Array.from(labels) : labels;
}

function oneHotClass(y: NpyArray, read: (i: number) => number, row: number, k: number): number {
  let hot = -1;
  for (let j = 0; j < k; j++) {
    const v = read(row * k + j);
    if (v === 0) continue;
    if (v !== 1 || hot >= 0) throw new DataError(y.where, `row ${row} is not one-hot (one 1, the rest 0): found ${v} in column ${j}${hot >= 0 && v === 1 ? ` after a 1 in column ${hot}` : ''}`);
    hot = j;
  }
  if (hot < 0) throw new DataError(y.where, `row ${row} is not one-hot: every column is 0`);
  return hot;
}
