// CIFAR-10 and CIFAR-100 in their binary versions: records of label byte(s) then 3x32x32 pixel bytes (NCHW already).
import * as path from 'node:path';
import type { RawDataset } from './data';
import { DataError } from './data-error';
import { findFile, HOW_TO_GET, readMaybeGzipped } from './data-files';

export interface CifarVariant {
  format: 'cifar10' | 'cifar100';
  name: string;
  /** Label bytes before each image; the last is the class (CIFAR-100: coarse then fine, and nos trains the fine). */
  labelBytes: number;
  classes: number;
  trainFiles: string[];
  testFile: string;
  /** The folder the archive unpacks to, looked for under the one given. */
  folder: string;
}

export const CIFAR10: CifarVariant = {
  format: 'cifar10', name: 'CIFAR-10', labelBytes: 1, classes: 10,
  trainFiles: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`), testFile: 'test_batch.bin', folder: 'cifar-10-batches-bin',
};
export const CIFAR100: CifarVariant = {
  format: 'cifar100', name: 'CIFAR-100', labelBytes: 2, classes: 100, trainFiles: ['train.bin'], testFile: 'test.bin', folder: 'cifar-100-binary',
};

const PIXELS = 3 * 32 * 32;

/** The variant's training files in `dir` (gzipped or not; fewer CIFAR-10 batches are accepted), or its test file. */
export function loadCifar(dir: string, variant: CifarVariant, split: 'train' | 'test' = 'train'): RawDataset {
  const names = split === 'train' ? variant.trainFiles : [variant.testFile];
  const files: string[] = [];
  for (const name of names) {
    const f = findFile(dir, [name]);
    if (!f) {
      if (files.length === 0) throw new DataError(path.join(dir, name), `missing. ${HOW_TO_GET}`);
      break; // the training set is the batches that are there
    }
    files.push(f);
  }
  const record = variant.labelBytes + PIXELS;
  const parts = files.map((f) => {
    const bytes = readMaybeGzipped(f);
    if (bytes.length === 0 || bytes.length % record !== 0) {
      const labels = variant.labelBytes === 1 ? '1 label' : `${variant.labelBytes} labels`;
      throw new DataError(f, `expected ${variant.name} binary records of ${record} bytes (${labels} + 3x32x32 pixels), got ${bytes.length} bytes (not a multiple)`);
    }
    return { f, bytes };
  });
  const count = parts.reduce((n, p) => n + p.bytes.length / record, 0);
  const images = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  let k = 0;
  for (const { f, bytes } of parts) {
    for (let off = 0; off < bytes.length; off += record, k++) {
      const label = bytes[off + variant.labelBytes - 1];
      if (label >= variant.classes) throw new DataError(f, `label ${label} of record ${off / record} is out of range 0..${variant.classes - 1}`);
      labels[k] = label;
      images.set(bytes.subarray(off + variant.labelBytes, off + record), k * PIXELS);
    }
  }
  return { format: variant.format, location: dir, images, pixelScale: 255, labels, count, channels: 3, height: 32, width: 32, classes: variant.classes, files };
}
