// Synthetic data of many classes (more than a byte holds): class k lights pixel k of a 1x20x16 image, plus noise.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { npyBytes } from './npy-write';

export interface ManyClasses { classes: number; count: number; height: number; width: number; images: number[]; labels: number[] }

/** `perClass` examples of each of `classes` (at most 320) classes, interleaved; pixels in 0..239. */
export function manyClasses(classes: number, perClass: number): ManyClasses {
  const [height, width] = [20, 16];
  const count = perClass * classes;
  const labels = Array.from({ length: count }, (_, i) => (i * 7) % classes);
  const images = labels.flatMap((k, i) => Array.from({ length: height * width }, (_, p) => (p === k ? 200 : 0) + ((i * 31 + p * 17) % 40)));
  return { classes, count, height, width, images, labels };
}

/** Writes `data` as x_train.npy (uint8) and y_train.npy (int64) in `dir` (nos's own .npy writer: no NumPy needed). */
export function writeManyClassesNpy(dir: string, data: ManyClasses): void {
  fs.writeFileSync(path.join(dir, 'x_train.npy'), npyBytes('|u1', [data.count, data.height, data.width], data.images));
  fs.writeFileSync(path.join(dir, 'y_train.npy'), npyBytes('<i8', [data.count], data.labels));
}
