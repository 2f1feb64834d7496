// Loads image classification data (IDX as in MNIST/Fashion-MNIST, CIFAR-10/100 binary, gzipped or not; NumPy) and splits it.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from './data-error';
import { findFile, HOW_TO_GET, readMaybeGzipped } from './data-files';
import { CIFAR10, CIFAR100, loadCifar } from './data-cifar';
import { hasNumpyFolder, loadNpz, loadNumpyFolder } from './data-numpy';

export const DEFAULT_DATA_PATH = '/usr/share/datasets/fashion-mnist';
export { DataError };

/**
 * Class indices, one per image: bytes up to 256 classes (IDX and CIFAR files, and most NumPy data), 16 bits above
 * (NumPy labels of more classes: downsampled ImageNet's 1000, Omniglot's 1623).
 */
export type Labels = Uint8Array | Uint16Array;

/** Images in NCHW order (bytes, or floats from NumPy), with their labels. */
export interface RawDataset {
  format: 'idx' | 'cifar10' | 'cifar100' | 'npy' | 'npz';
  /** The folder, or the .npz file, it was read from (where its test set is looked for). */
  location: string;
  images: Uint8Array | Float32Array;
  /** What a pixel is divided by to scale it to [0, 1]: 255 for bytes, 1 for float images (taken as they are). */
  pixelScale: number;
  labels: Labels;
  count: number;
  channels: number;
  height: number;
  width: number;
  classes: number;
  files: string[];
}

/** Normalized float images, ready to batch. */
export interface Split {
  images: Float32Array;
  labels: Labels;
  count: number;
}

export interface PreparedData {
  train: Split;
  validation: Split;
  channels: number;
  height: number;
  width: number;
  classes: number;
  mean: number[];
  std: number[];
  source: string;
}

/** Parses an IDX file of unsigned bytes with the expected number of dimensions; returns its dims and data. */
export function parseIdx(file: string, bytes: Buffer, expectedDims: number): { dims: number[]; data: Uint8Array } {
  if (bytes.length < 4) throw new DataError(file, `expected an IDX file (4-byte header), got ${bytes.length} bytes`);
  if (bytes[0] !== 0 || bytes[1] !== 0) throw new DataError(file, `expected an IDX file: first two bytes must be 0, got ${bytes[0]}, ${bytes[1]}`);
  if (bytes[2] !== 0x08) throw new DataError(file, `expected IDX unsigned-byte data (type 0x08), got type 0x${bytes[2].toString(16)}`);
  const ndims = bytes[3];
  if (ndims !== expectedDims) throw new DataError(file, `expected an IDX file with ${expectedDims} dimension(s), got ${ndims}`);
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) throw new DataError(file, `IDX header is truncated: ${bytes.length} bytes, need ${headerBytes}`);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(bytes.readUInt32BE(4 + 4 * i));
  const expected = dims.reduce((p, q) => p * q, 1);
  const actual = bytes.length - headerBytes;
  if (actual !== expected) {
    throw new DataError(file, `IDX dims [${dims.join(', ')}] need ${expected} data bytes, the file has ${actual} (truncated or damaged)`);
  }
  return { dims, data: new Uint8Array(bytes.buffer, bytes.byteOffset + headerBytes, expected) };
}

function checkLabels(file: string, labels: Labels, classes: number, whose = ''): void {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= classes) throw new DataError(file, `label ${labels[i]} at index ${i} is out of range 0..${classes - 1}${whose}`);
  }
}

const TRAIN_LABELS = ['train-labels-idx1-ubyte', 'train-labels.idx1-ubyte'];
const TEST_IMAGES = ['t10k-images-idx3-ubyte', 't10k-images.idx3-ubyte'];
const TEST_LABELS = ['t10k-labels-idx1-ubyte', 't10k-labels.idx1-ubyte'];

/**
 * MNIST-style IDX: 10 classes, or as many as the labels name (EMNIST's IDX files hold up to 62); a test set's labels
 * must be among its training set's `classes`.
 */
function loadIdx(dir: string, imagesFile: string, labelNames = TRAIN_LABELS, classes?: number): RawDataset {
  const labelsFile = findFile(dir, labelNames);
  if (!labelsFile) {
    const which = labelNames === TRAIN_LABELS ? 'training' : 'test';
    throw new DataError(path.join(dir, `${labelNames[0]}.gz`), `missing: found ${path.basename(imagesFile)} but no ${which} labels. ${HOW_TO_GET}`);
  }
  const images = parseIdx(imagesFile, readMaybeGzipped(imagesFile), 3);
  const labels = parseIdx(labelsFile, readMaybeGzipped(labelsFile), 1);
  const [count, height, width] = images.dims;
  if (labels.dims[0] !== count) {
    throw new DataError(labelsFile, `has ${labels.dims[0]} labels but ${path.basename(imagesFile)} has ${count} images`);
  }
  if (classes !== undefined) checkLabels(labelsFile, labels.data, classes, ' (the training labels\' classes)');
  const named = classes ?? Math.max(10, labels.data.reduce((m, v) => Math.max(m, v), 0) + 1);
  return {
    format: 'idx', location: dir, images: images.data, pixelScale: 255, labels: labels.data, count, channels: 1, height, width, classes: named,
    files: [imagesFile, labelsFile],
  };
}

/**
 * Loads the training data at `where` (default: Debian's Fashion-MNIST): a NumPy .npz file, or a folder whose file
 * names tell the format (IDX, CIFAR-10 or CIFAR-100 binary, or NumPy's x_train.npy and y_train.npy).
 */
export function loadTrainingData(where: string = DEFAULT_DATA_PATH): RawDataset {
  if (!fs.existsSync(where)) throw new DataError(where, `no such file or folder. ${HOW_TO_GET}`);
  if (!fs.statSync(where).isDirectory()) {
    if (where.toLowerCase().endsWith('.npz')) return loadNpz(where, 'train')!;
    throw new DataError(where, `expected a NumPy .npz file or a folder holding train-images-idx3-ubyte(.gz) and train-labels-idx1-ubyte(.gz), CIFAR-10 data_batch_N.bin files, CIFAR-100's train.bin, or x_train.npy and y_train.npy`);
  }
  const idxImages = findFile(where, ['train-images-idx3-ubyte', 'train-images.idx3-ubyte']);
  if (idxImages) return loadIdx(where, idxImages);
  for (const variant of [CIFAR10, CIFAR100]) {
    if (findFile(where, [variant.trainFiles[0]])) return loadCifar(where, variant);
    const nested = path.join(where, variant.folder);
    if (fs.existsSync(nested)) return loadCifar(nested, variant);
  }
  if (hasNumpyFolder(where)) return loadNumpyFolder(where, 'train');
  const archives = fs.readdirSync(where).filter((f) => f.toLowerCase().endsWith('.npz'));
  const hint = archives.length > 0 ? ` It holds ${archives.slice(0, 3).join(', ')}: pass the .npz file itself (--data ${path.join(where, archives[0])}).` : '';
  throw new DataError(where, `no training data: expected train-images-idx3-ubyte(.gz) and train-labels-idx1-ubyte(.gz) (MNIST, Fashion-MNIST), data_batch_1.bin ... (CIFAR-10 binary), train.bin (CIFAR-100 binary) or x_train.npy and y_train.npy (NumPy).${hint} ${HOW_TO_GET}`);
}

/**
 * The fixed split: validation is the LAST `validationExamples` images of the training file (never trained on),
 * training is the FIRST `trainExamples`.  Pixels are scaled to [0, 1] then standardized per channel with the
 * training subset's mean and standard deviation.
 */
export function prepareSplits(raw: RawDataset, trainExamples: number, validationExamples: number): PreparedData {
  const source = raw.files[0];
  if (!Number.isInteger(trainExamples) || trainExamples < 1) throw new Error(`trainExamples must be a positive integer, got ${trainExamples}`);
  if (!Number.isInteger(validationExamples) || validationExamples < 1) throw new Error(`validationExamples must be a positive integer, got ${validationExamples}`);
  if (trainExamples + validationExamples > raw.count) {
    const held = Math.max(1, Math.floor(raw.count / 3));
    const batch = raw.count - held < 100 ? `, "batchSize": ${Math.max(1, Math.floor((raw.count - held) / 4))}` : ''; // the presets' 100 must fit
    throw new DataError(source, `holds ${raw.count} examples, fewer than the ${trainExamples} training + ${validationExamples} validation the protocol asks for; ` +
      `a protocol file can ask for fewer, e.g. {"extends": "quick", "trainExamples": ${raw.count - held}, "validationExamples": ${held}${batch}} (--protocol FILE; docs/training.md)`);
  }
  const stats = channelStatistics(raw, trainExamples);
  return {
    train: normalizeImages(raw, 0, trainExamples, stats),
    validation: normalizeImages(raw, raw.count - validationExamples, validationExamples, stats),
    channels: raw.channels, height: raw.height, width: raw.width, classes: raw.classes, mean: stats.mean, std: stats.std, source,
  };
}

/**
 * One line on what a protocol trains on, so a user sees how nos read the data (its layout and classes):
 * `fm.npz [x_train]: 10000 training and 5000 held-out examples of 1x28x28, 10 classes`.
 */
export function describeData(data: PreparedData): string {
  return `${data.source}: ${data.train.count} training and ${data.validation.count} held-out examples of ${data.channels}x${data.height}x${data.width}, ${data.classes} classes`;
}

/**
 * A digest of exactly what a protocol trains and scores on (the standardized splits, their shape and classes): a
 * search records it, and a resume that would read other data is refused instead of mixing rewards.
 */
export function fingerprintData(data: PreparedData): string {
  const known = fingerprints.get(data);
  if (known !== undefined) return known;
  const hash = createHash('sha256').update(`${data.channels}x${data.height}x${data.width}|${data.classes}|${data.train.count}|${data.validation.count}|`);
  for (const split of [data.train, data.validation]) {
    hash.update(new Uint8Array(split.images.buffer, split.images.byteOffset, split.images.byteLength));
    hash.update(split.labels);
  }
  const digest = hash.digest('hex').slice(0, 16);
  fingerprints.set(data, digest);
  return digest;
}
const fingerprints = new WeakMap<PreparedData, string>(); // a worker checks every job's data against its search's

/**
 * A worker's check that it trains on its search's data: a DataError when `expected` (the search's fingerprint) is
 * given and `data` (what this machine read at `where`) is other data.
 */
export function checkDataFingerprint(data: PreparedData, expected: string | undefined, where: string): void {
  if (expected === undefined) return;
  const found = fingerprintData(data);
  if (found !== expected) {
    throw new DataError(where, `not the search's data (fingerprint ${found} here, the search's ${expected}): it changed since the search started, or this machine's copy differs; no reward is recorded from it`);
  }
}

/** Per-channel mean and standard deviation of the pixels (scaled to [0, 1]) of the first `count` images. */
export function channelStatistics(raw: RawDataset, count: number): { mean: number[]; std: number[] } {
  const pixels = raw.channels * raw.height * raw.width;
  const plane = raw.height * raw.width;
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < raw.channels; c++) {
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < count; i++) {
      const base = i * pixels + c * plane;
      for (let p = 0; p < plane; p++) {
        const v = raw.images[base + p] / raw.pixelScale;
        sum += v;
        sumSq += v * v;
      }
    }
    const n = count * plane;
    const m = sum / n;
    mean.push(m);
    std.push(Math.sqrt(Math.max(sumSq / n - m * m, 0)) || 1);
  }
  return { mean, std };
}

/** Images [start, start + count) scaled to [0, 1] and standardized per channel with the given statistics. */
export function normalizeImages(raw: RawDataset, start: number, count: number, stats: { mean: number[]; std: number[] }): Split {
  const pixels = raw.channels * raw.height * raw.width;
  const plane = raw.height * raw.width;
  const images = new Float32Array(count * pixels);
  for (let i = 0; i < count; i++) {
    for (let c = 0; c < raw.channels; c++) {
      const src = (start + i) * pixels + c * plane;
      const dst = i * pixels + c * plane;
      const scale = 1 / (raw.pixelScale * stats.std[c]);
      const shift = stats.mean[c] / stats.std[c];
      for (let p = 0; p < plane; p++) images[dst + p] = raw.images[src + p] * scale - shift;
    }
  }
  return { images, labels: raw.labels.slice(start, start + count), count };
}

/**
 * The test set beside the training data `train` came from: t10k-images/labels (IDX), test_batch.bin (CIFAR-10), test.bin (CIFAR-100),
 * x_test.npy and y_test.npy, or an .npz's x_test and y_test; null when there is none.
 */
export function loadTestData(train: RawDataset): RawDataset | null {
  const folder = train.location;
  switch (train.format) {
    case 'idx': {
      const images = findFile(folder, TEST_IMAGES);
      return images ? loadIdx(folder, images, TEST_LABELS, train.classes) : null;
    }
    case 'cifar10': return findFile(folder, [CIFAR10.testFile]) ? loadCifar(folder, CIFAR10, 'test') : null;
    case 'cifar100': return findFile(folder, [CIFAR100.testFile]) ? loadCifar(folder, CIFAR100, 'test') : null;
    case 'npy': return hasNumpyFolder(folder, 'test') ? checkTestShape(train, loadNumpyFolder(folder, 'test', train.classes)) : null;
    case 'npz': {
      const test = loadNpz(folder, 'test', train.classes);
      return test ? checkTestShape(train, test) : null;
    }
  }
}

/** IDX and CIFAR fix the image size; NumPy arrays could differ between the splits. */
function checkTestShape(train: RawDataset, test: RawDataset): RawDataset {
  const shape = (d: RawDataset) => `${d.channels}x${d.height}x${d.width}`;
  if (shape(train) !== shape(test)) throw new DataError(test.files[0], `test images are ${shape(test)} (channels x height x width), the training images ${shape(train)}`);
  return test;
}
