// NumPy datasets: files written by NumPy itself (np.save, np.savez, np.savez_compressed) load as the same data as IDX;
// layouts, dtypes, one-hot labels, test splits; and malformed files, each named with what is wrong.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { zipSync } from 'fflate';
import { DataError, loadTestData, loadTrainingData, prepareSplits } from '../../../src/runtime/child/data';
import { evaluateRule, loadProtocol, loadProtocolData } from '../../../src/runtime/child/protocol';
import { idxBytes as idx } from '../../support/bands-idx';
import { manyClasses } from '../../support/many-classes';
import { npyBytes } from '../../support/npy-write';
import { runTorchScript } from '../../support/torch';
import { tempDirs } from '../../support/temp-dirs';

const tmpDir = tempDirs('nos-numpy-');

interface ArraySpec { values: number[]; dtype: string; shape: number[]; fortran?: boolean }
type FileSpec = { name: string; array: ArraySpec } | { name: string; compressed?: boolean; arrays: Record<string, ArraySpec> };

/** Writes the files with NumPy (Debian's python3-numpy, which python3-torch brings). */
function writeWithNumpy(dir: string, files: FileSpec[]): void {
  runTorchScript('numpy-write.py', { dir, files });
}

function expectDataError(fn: () => unknown, where: string, pattern: RegExp): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(e instanceof DataError, `expected a DataError, got ${e}`);
    assert.ok(e.message.includes(where), `"${e.message}" should name ${where}`);
    assert.match(e.message, pattern);
    return true;
  });
}

/** Pixels that differ by image, channel, row and column (so a swapped axis shows), in 0..255. */
function pixels(count: number, channels: number, height: number, width: number): number[] {
  const out: number[] = [];
  for (let n = 0; n < count; n++) for (let c = 0; c < channels; c++) for (let h = 0; h < height; h++) for (let w = 0; w < width; w++) out.push((n * 37 + c * 101 + h * 13 + w * 7) % 256);
  return out;
}

/** NCHW values reordered to NHWC. */
function toChannelsLast(values: number[], count: number, channels: number, height: number, width: number): number[] {
  const out: number[] = [];
  for (let n = 0; n < count; n++) for (let h = 0; h < height; h++) for (let w = 0; w < width; w++) for (let c = 0; c < channels; c++) out.push(values[((n * channels + c) * height + h) * width + w]);
  return out;
}


const N = 30;
const LABELS = Array.from({ length: N }, (_, i) => (i * 7) % 10);

test('an .npz (stored or compressed) and an x_train.npy folder load as the same data as IDX, bit for bit after the split', () => {
  const values = pixels(N, 1, 5, 6);
  const idxDir = tmpDir();
  fs.writeFileSync(path.join(idxDir, 'train-images-idx3-ubyte'), idx([N, 5, 6], values));
  fs.writeFileSync(path.join(idxDir, 'train-labels-idx1-ubyte'), idx([N], LABELS));
  const dir = tmpDir();
  const x = { values, dtype: 'uint8', shape: [N, 5, 6] };
  const y = { values: LABELS, dtype: 'int64', shape: [N] }; // Keras' and NumPy's default integer
  writeWithNumpy(dir, [
    { name: 'stored.npz', arrays: { x_train: x, y_train: y } },
    { name: 'compressed.npz', compressed: true, arrays: { x_train: x, y_train: y } },
    { name: 'x_train.npy', array: x }, { name: 'y_train.npy', array: y },
  ]);
  const reference = loadTrainingData(idxDir);
  const split = prepareSplits(reference, 20, 5);
  for (const where of [path.join(dir, 'stored.npz'), path.join(dir, 'compressed.npz'), dir]) {
    const raw = loadTrainingData(where);
    assert.deepEqual([raw.format, raw.location, raw.count, raw.channels, raw.height, raw.width, raw.classes, raw.pixelScale],
      [where === dir ? 'npy' : 'npz', where, N, 1, 5, 6, 10, 255], where);
    assert.deepEqual(raw.images, reference.images, where);
    assert.deepEqual(raw.labels, reference.labels, where);
    assert.deepEqual(prepareSplits(raw, 20, 5), { ...split, source: raw.files[0] }, where);
  }
});

test('channels last (Keras) and channels first (PyTorch) give the same NCHW images; 16-bit integer pixels are read as bytes', () => {
  const values = pixels(N, 3, 5, 6);
  const dir = tmpDir();
  const y = { values: LABELS, dtype: 'uint8', shape: [N] };
  writeWithNumpy(dir, [
    { name: 'last.npz', arrays: { x_train: { values: toChannelsLast(values, N, 3, 5, 6), dtype: 'uint8', shape: [N, 5, 6, 3] }, y_train: y } },
    { name: 'first.npz', arrays: { x_train: { values, dtype: '>i2', shape: [N, 3, 5, 6] }, y_train: y } },
  ]);
  for (const name of ['last.npz', 'first.npz']) {
    const raw = loadTrainingData(path.join(dir, name));
    assert.deepEqual([raw.channels, raw.height, raw.width, raw.pixelScale], [3, 5, 6, 255], name);
    assert.deepEqual(Array.from(raw.images), values, name);
  }
});

test('float images are taken as they are (any scale: the standardization removes it); one-hot labels give their class', () => {
  const values = pixels(N, 1, 5, 6).map((v) => v / 4 - 10); // exact in float32, negative too
  const oneHot = LABELS.flatMap((l) => Array.from({ length: 12 }, (_, k) => (k === l ? 1 : 0)));
  const dir = tmpDir();
  writeWithNumpy(dir, [
    { name: 'f32.npz', arrays: { x_train: { values, dtype: 'float32', shape: [N, 5, 6] }, y_train: { values: oneHot, dtype: 'float32', shape: [N, 12] } } },
    { name: 'f64.npz', arrays: { x_train: { values, dtype: '>f8', shape: [N, 5, 6] }, y_train: { values: LABELS, dtype: 'int32', shape: [N, 1] } } },
  ]);
  const f32 = loadTrainingData(path.join(dir, 'f32.npz'));
  assert.ok(f32.images instanceof Float32Array);
  assert.deepEqual([Array.from(f32.images), f32.pixelScale, Array.from(f32.labels), f32.classes], [values, 1, LABELS, 12]);
  const f64 = loadTrainingData(path.join(dir, 'f64.npz'));
  assert.deepEqual([Array.from(f64.images), Array.from(f64.labels), f64.classes], [values, LABELS, 10]);
  // Standardized: mean 0 and unit variance over the training subset, whatever the scale.
  const train = prepareSplits(f32, 25, 5).train.images;
  const mean = train.reduce((s, v) => s + v, 0) / train.length;
  const variance = train.reduce((s, v) => s + (v - mean) ** 2, 0) / train.length;
  assert.ok(Math.abs(mean) < 1e-5 && Math.abs(variance - 1) < 1e-4, `mean ${mean}, variance ${variance}`);
});

test('feature rows (N, D): D channels of 1x1, each feature standardized on its own; the MLP trains on them, the convnet says why not', async () => {
  // Two classes told apart by feature 1 alone, on very different scales per feature.
  const count = 600;
  const rows: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < count; i++) {
    const label = i % 2;
    labels.push(label);
    rows.push(1000 + (i % 7), label === 1 ? 0.3 + (i % 5) * 0.01 : -0.3 - (i % 3) * 0.01, (i * 13) % 11 - 5);
  }
  const dir = tmpDir();
  writeWithNumpy(dir, [{ name: 'rows.npz', arrays: { x_train: { values: rows, dtype: 'float32', shape: [count, 3] }, y_train: { values: labels, dtype: 'int64', shape: [count] } } }]);
  const raw = loadTrainingData(path.join(dir, 'rows.npz'));
  assert.deepEqual([raw.count, raw.channels, raw.height, raw.width, raw.classes], [count, 3, 1, 1, 2]);
  const split = prepareSplits(raw, 400, 200);
  for (let f = 0; f < 3; f++) {
    const column = Array.from({ length: 400 }, (_, i) => split.train.images[i * 3 + f]);
    const mean = column.reduce((s, v) => s + v, 0) / column.length;
    const variance = column.reduce((s, v) => s + (v - mean) ** 2, 0) / column.length;
    assert.ok(Math.abs(mean) < 1e-4 && Math.abs(variance - 1) < 1e-3, `feature ${f}: mean ${mean}, variance ${variance}`);
  }
  const protocol = { ...loadProtocol('quick'), name: 'rows', trainExamples: 400, validationExamples: 200, batchSize: 20, lrs: [0.1], finalEpochs: 2 };
  const outcome = await evaluateRule('adam', protocol, { path: path.join(dir, 'rows.npz') });
  assert.equal(outcome.status, 'ok', outcome.error);
  assert.ok(outcome.reward > 0.95, `reward ${outcome.reward}`);
  assert.throws(() => loadProtocolData({ ...loadProtocol('paper'), ...protocol, model: 'convnet', name: 'rows-paper' }, path.join(dir, 'rows.npz')),
    (e: Error) => e instanceof DataError && /images of 3x1x1 .* do not fit protocol 'rows-paper'.*use a protocol with the mlp/.test(e.message));
});

test('more than 256 classes (downsampled ImageNet has 1000): 16-bit labels, by index or one-hot; 256 or fewer stay bytes', async () => {
  // 320 classes, 3 training and 1 held-out example each.
  const { classes, count, images, labels } = manyClasses(320, 4);
  const oneHot = labels.slice(0, 8).flatMap((k) => Array.from({ length: classes }, (_, j) => (j === k ? 1 : 0)));
  const dir = tmpDir();
  writeWithNumpy(dir, [
    { name: 'many.npz', arrays: { x_train: { values: images, dtype: 'uint8', shape: [count, 20, 16] }, y_train: { values: labels, dtype: 'int64', shape: [count] } } },
    { name: 'one-hot.npz', arrays: { x_train: { values: images.slice(0, 8 * 320), dtype: 'uint8', shape: [8, 20, 16] }, y_train: { values: oneHot, dtype: 'uint8', shape: [8, classes] } } },
    { name: 'few.npz', arrays: { x_train: { values: images.slice(0, 8 * 320), dtype: 'uint8', shape: [8, 20, 16] }, y_train: { values: labels.slice(0, 8).map((k) => k % 256), dtype: 'int64', shape: [8] } } },
  ]);
  const many = loadTrainingData(path.join(dir, 'many.npz'));
  assert.ok(many.labels instanceof Uint16Array);
  assert.deepEqual([Array.from(many.labels), many.classes], [labels, classes]);
  const hot = loadTrainingData(path.join(dir, 'one-hot.npz'));
  assert.deepEqual([hot.labels instanceof Uint16Array, Array.from(hot.labels), hot.classes], [true, labels.slice(0, 8), classes]);
  assert.ok(loadTrainingData(path.join(dir, 'few.npz')).labels instanceof Uint8Array, 'bytes, as IDX and CIFAR give (the same fingerprint)');
  // The quick protocol's MLP learns them (chance: 1 in 320).
  const protocol = { ...loadProtocol('quick'), name: 'many', trainExamples: 3 * classes, validationExamples: classes, batchSize: 32, lrs: [1e-2], finalEpochs: 8 };
  const outcome = await evaluateRule('adam', protocol, { path: path.join(dir, 'many.npz') });
  assert.equal(outcome.status, 'ok', outcome.error);
  assert.ok(outcome.reward > 0.5, `reward ${outcome.reward}`);
});

test('the test split: x_test and y_test of the .npz or the folder, with the training labels\' classes; checked against them', () => {
  const dir = tmpDir();
  const x = (count: number, h = 5) => ({ values: pixels(count, 1, h, 6), dtype: 'uint8', shape: [count, h, 6] });
  const y = (labels: number[]) => ({ values: labels, dtype: 'int64', shape: [labels.length] });
  writeWithNumpy(dir, [
    { name: 'both.npz', arrays: { x_train: x(N), y_train: y(LABELS), x_test: x(4), y_test: y([3, 1, 4, 1]) } },
    { name: 'train-only.npz', arrays: { x_train: x(N), y_train: y(LABELS) } },
    { name: 'wide.npz', arrays: { x_train: x(N), y_train: y(LABELS), x_test: x(2), y_test: y([2, 10]) } },
    { name: 'taller.npz', arrays: { x_train: x(N), y_train: y(LABELS), x_test: x(2, 6), y_test: y([2, 1]) } },
    { name: 'x_train.npy', array: x(N) }, { name: 'y_train.npy', array: y(LABELS) },
    { name: 'x_test.npy', array: x(3) }, { name: 'y_test.npy', array: y([9, 0, 5]) },
  ]);
  const both = loadTestData(loadTrainingData(path.join(dir, 'both.npz')))!;
  assert.deepEqual([both.count, Array.from(both.labels), both.classes, both.files[0]], [4, [3, 1, 4, 1], 10, `${path.join(dir, 'both.npz')} [x_test]`]);
  assert.equal(loadTestData(loadTrainingData(path.join(dir, 'train-only.npz'))), null);
  const folder = loadTestData(loadTrainingData(dir))!;
  assert.deepEqual([folder.format, Array.from(folder.labels)], ['npy', [9, 0, 5]]);
  expectDataError(() => loadTestData(loadTrainingData(path.join(dir, 'wide.npz'))), '[y_test]', /label 10 at index 1 is not a class index 0\.\.9 \(the training labels' classes\)/);
  expectDataError(() => loadTestData(loadTrainingData(path.join(dir, 'taller.npz'))), '[x_test]', /test images are 1x6x6 .* the training images 1x5x6/);
});

/** Writes x_train.npy and y_train.npy (by hand) into a fresh folder and returns it. */
function numpyFolder(x: Buffer, y: Buffer = npyBytes('<i8', [N], LABELS)): string {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'x_train.npy'), x);
  fs.writeFileSync(path.join(dir, 'y_train.npy'), y);
  return dir;
}

test('malformed arrays: shapes, pixels, labels, each error names the file and the place', () => {
  const images = (shape: number[], descr = '|u1', fill = 1) => npyBytes(descr, shape, new Array(shape.reduce((p, q) => p * q, 1)).fill(fill));
  const x = (dir: string) => path.join(dir, 'x_train.npy');
  const y = (dir: string) => path.join(dir, 'y_train.npy');
  let dir = numpyFolder(images([N, 2, 5, 6, 1]));
  expectDataError(() => loadTrainingData(dir), x(dir), /expected images of shape \(N, H, W\).*or feature rows \(N, D\); got shape \(30, 2, 5, 6, 1\)/);
  dir = numpyFolder(npyBytes('|u1', [0, 5, 6], []), npyBytes('<i8', [0], []));
  expectDataError(() => loadTrainingData(dir), x(dir), /holds no examples: shape \(0, 5, 6\)/);
  dir = numpyFolder(npyBytes('|u1', [N, 0, 6], []));
  expectDataError(() => loadTrainingData(dir), x(dir), /holds no values per example: shape \(30, 0, 6\)/);
  dir = numpyFolder(npyBytes('<f8', [N, 4], new Array(4 * N).fill(1).map((v, i) => (i === 9 ? Infinity : v))));
  expectDataError(() => loadTrainingData(dir), x(dir), /example 2 has value Infinity in feature 1: values must be finite/);
  dir = numpyFolder(images([N, 3, 5, 3]));
  expectDataError(() => loadTrainingData(dir), x(dir), /shape \(30, 3, 5, 3\) does not say which axis holds the channels/);
  dir = numpyFolder(images([N, 5, 6], '<i2', 300));
  expectDataError(() => loadTrainingData(dir), x(dir), /image 0 has pixel 300 at channel 0, row 0, column 0: integer values must be 0\.\.255/);
  const withNaN = new Array(N * 30).fill(0.5);
  withNaN[31] = NaN;
  dir = numpyFolder(npyBytes('<f4', [N, 5, 6], withNaN));
  expectDataError(() => loadTrainingData(dir), x(dir), /image 1 has pixel NaN at channel 0, row 0, column 1: values must be finite/);
  dir = numpyFolder(images([N, 5, 6]), npyBytes('<i8', [N - 1], LABELS.slice(1)));
  expectDataError(() => loadTrainingData(dir), y(dir), /has 29 labels but the images are 30/);
  dir = numpyFolder(images([N, 5, 6]), npyBytes('<i8', [N], LABELS.map((l, i) => (i === 4 ? -1 : l))));
  expectDataError(() => loadTrainingData(dir), y(dir), /label -1 at index 4 is not a class index 0\.\.65535/);
  dir = numpyFolder(images([N, 5, 6]), npyBytes('<f8', [N], LABELS.map((l, i) => (i === 2 ? 1.5 : l))));
  expectDataError(() => loadTrainingData(dir), y(dir), /label 1\.5 at index 2/);
  dir = numpyFolder(images([N, 5, 6]), npyBytes('<i8', [N], new Array(N).fill(0)));
  expectDataError(() => loadTrainingData(dir), y(dir), /every label is 0/);
  dir = numpyFolder(images([N, 5, 6]), npyBytes('<f4', [N, 3], new Array(3 * N).fill(0).map((_, i) => (i === 7 || i === 8 ? 1 : i % 3 === 0 ? 1 : 0))));
  expectDataError(() => loadTrainingData(dir), y(dir), /row 2 is not one-hot \(one 1, the rest 0\): found 1 in column 1 after a 1 in column 0/);
  dir = numpyFolder(images([N, 5, 6]), npyBytes('<i8', [N, 2, 2], new Array(4 * N).fill(0)));
  expectDataError(() => loadTrainingData(dir), y(dir), /expected labels of shape \(N,\) .*got \(30, 2, 2\)/);
  dir = numpyFolder(images([N, 5, 6]));
  fs.unlinkSync(y(dir));
  expectDataError(() => loadTrainingData(dir), y(dir), /missing: found x_train\.npy but not its labels/);
});

test('malformed archives and folders: no x_train, no labels, not a zip, and a folder holding an .npz says to pass the file', () => {
  const dir = tmpDir();
  const x = npyBytes('|u1', [N, 5, 6], new Array(N * 30).fill(3));
  const archive = (name: string, entries: Record<string, Buffer>) => {
    fs.writeFileSync(path.join(dir, name), zipSync(Object.fromEntries(Object.entries(entries).map(([k, v]) => [`${k}.npy`, new Uint8Array(v)]))));
    return path.join(dir, name);
  };
  const images = archive('images.npz', { images: x, labels: npyBytes('<i8', [N], LABELS) });
  expectDataError(() => loadTrainingData(images), images, /has no 'x_train' array \(it holds: images, labels\); save it with np\.savez/);
  const noLabels = archive('no-labels.npz', { x_train: x });
  expectDataError(() => loadTrainingData(noLabels), noLabels, /has 'x_train' but no 'y_train'/);
  const damaged = archive('damaged.npz', { x_train: x.subarray(0, 200), y_train: npyBytes('<i8', [N], LABELS) });
  expectDataError(() => loadTrainingData(damaged), `${damaged} [x_train]`, /needs 900 data bytes, the file has 72 \(truncated or damaged\)/);
  const text = path.join(dir, 'text.npz');
  fs.writeFileSync(text, 'not a zip at all');
  expectDataError(() => loadTrainingData(text), text, /is not a readable \.npz \(zip\) archive/);
  expectDataError(() => loadTrainingData(dir), dir, /no training data: .*x_train\.npy and y_train\.npy \(NumPy\)\. It holds .*: pass the \.npz file itself \(--data .*\.npz\)/);
  const other = path.join(dir, 'images.csv');
  fs.writeFileSync(other, '1,2,3');
  expectDataError(() => loadTrainingData(other), other, /expected a NumPy \.npz file or a folder holding/);
});
