// The data loaders' file handling: finding a file (gzipped or not), reading it, and how to get the default data.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { DataError } from './data-error';

export const HOW_TO_GET =
  "Install the default data with 'apt-get install dataset-fashion-mnist' (files in /usr/share/datasets/fashion-mnist), " +
  'or pass --data with a folder of MNIST/Fashion-MNIST IDX files, of the CIFAR-10 or CIFAR-100 binary files or of ' +
  'x_train.npy and y_train.npy (NumPy), or with a NumPy .npz file holding x_train and y_train.';

/** A file's bytes, gunzipped when it is gzipped (whatever its name). */
export function readMaybeGzipped(file: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new DataError(file, `cannot read: ${(e as Error).message}. ${HOW_TO_GET}`);
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      return zlib.gunzipSync(bytes);
    } catch (e) {
      throw new DataError(file, `looks gzipped but does not decompress (${(e as Error).message}); the file is damaged, fetch it again. ${HOW_TO_GET}`);
    }
  }
  return bytes;
}

/** The first of `names` (or its .gz) found in `dir`, or null. */
export function findFile(dir: string, names: string[]): string | null {
  for (const n of names) {
    for (const candidate of [n, `${n}.gz`]) {
      const p = path.join(dir, candidate);
      if (fs.existsSync(p)) return p;
    }
  }
  return null;
}
