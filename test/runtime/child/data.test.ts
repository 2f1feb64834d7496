// Data loaders: IDX and CIFAR-10 binary files (plain and gzipped) written by the test, and malformed inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { idxBytes as idx } from '../../support/bands-idx';
import { channelStatistics, DataError, loadTestData, loadTrainingData, normalizeImages, prepareSplits } from '../../../src/runtime/child/data';
import { tempDirs } from '../../support/temp-dirs';

const tmpDir = tempDirs('nos-data-');


/** Image i is filled with the value i and labelled i % 10, so order and content are easy to check. */
function writeIdx(dir: string, count: number, gz: boolean): void {
  const images = new Uint8Array(count * 4 * 4);
  for (let i = 0; i < count; i++) images.fill(i, i * 16, (i + 1) * 16);
  const labels = Uint8Array.from({ length: count }, (_, i) => i % 10);
  const enc = (b: Buffer) => (gz ? zlib.gzipSync(b) : b);
  const sfx = gz ? '.gz' : '';
  fs.writeFileSync(path.join(dir, `train-images-idx3-ubyte${sfx}`), enc(idx([count, 4, 4], images)));
  fs.writeFileSync(path.join(dir, `train-labels-idx1-ubyte${sfx}`), enc(idx([count], labels)));
}

for (const gz of [false, true]) {
  test(`IDX ${gz ? 'gzipped' : 'plain'}: loads images and labels in order`, () => {
    const dir = tmpDir();
    writeIdx(dir, 30, gz);
    const raw = loadTrainingData(dir);
    assert.equal(raw.format, 'idx');
    assert.deepEqual([raw.count, raw.channels, raw.height, raw.width], [30, 1, 4, 4]);
    assert.equal(raw.images[7 * 16 + 5], 7);
    assert.equal(raw.labels[23], 3);
  });
}

test('prepareSplits: first N train, last M validation, standardized with the training statistics', () => {
  const dir = tmpDir();
  writeIdx(dir, 30, true);
  const data = prepareSplits(loadTrainingData(dir), 10, 5);
  assert.equal(data.train.count, 10);
  assert.equal(data.validation.count, 5);
  assert.deepEqual(Array.from(data.train.labels), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(Array.from(data.validation.labels), [5, 6, 7, 8, 9]); // images 25..29
  // Training images hold 0..9 (/255): mean 4.5/255, population std sqrt(8.25)/255.
  assert.ok(Math.abs(data.mean[0] - 4.5 / 255) < 1e-12);
  assert.ok(Math.abs(data.std[0] - Math.sqrt(8.25) / 255) < 1e-12);
  let mean = 0;
  for (const v of data.train.images) mean += v;
  assert.ok(Math.abs(mean / data.train.images.length) < 1e-5, 'training images have mean 0 after normalization');
  const expected = (25 - 4.5) / Math.sqrt(8.25);
  assert.ok(Math.abs(data.validation.images[0] - expected) < 1e-5, 'validation uses the training statistics');
});

test('prepareSplits: asking for more examples than the file holds names the file', () => {
  const dir = tmpDir();
  writeIdx(dir, 30, false);
  assert.throws(() => prepareSplits(loadTrainingData(dir), 26, 5), (e: Error) => e instanceof DataError && /holds 30 examples, .*; a protocol file can ask for fewer, e\.g\. \{"extends": "quick", "trainExamples": 20, "validationExamples": 10, "batchSize": 5\}/.test(e.message) && e.message.includes('train-images-idx3-ubyte'));
});

test('CIFAR-10 binary: records across batches, gzipped or not', () => {
  const dir = tmpDir();
  const record = (label: number, fill: number) => { const r = Buffer.alloc(3073, fill); r[0] = label; return r; };
  fs.writeFileSync(path.join(dir, 'data_batch_1.bin'), Buffer.concat([record(3, 10), record(9, 11)]));
  fs.writeFileSync(path.join(dir, 'data_batch_2.bin.gz'), zlib.gzipSync(Buffer.concat([record(0, 12)])));
  const raw = loadTrainingData(dir);
  assert.equal(raw.format, 'cifar10');
  assert.deepEqual([raw.count, raw.channels, raw.height, raw.width], [3, 3, 32, 32]);
  assert.deepEqual(Array.from(raw.labels), [3, 9, 0]);
  assert.equal(raw.images[2 * 3072 + 100], 12);
});

test('CIFAR-10 found in a nested cifar-10-batches-bin folder', () => {
  const dir = tmpDir();
  fs.mkdirSync(path.join(dir, 'cifar-10-batches-bin'));
  const r = Buffer.alloc(3073, 1); r[0] = 4;
  fs.writeFileSync(path.join(dir, 'cifar-10-batches-bin', 'data_batch_1.bin'), r);
  assert.equal(loadTrainingData(dir).labels[0], 4);
});

test('CIFAR-100 binary: coarse and fine label bytes (the fine is the class, of 100), in cifar-100-binary/, with test.bin', () => {
  const dir = tmpDir();
  const folder = path.join(dir, 'cifar-100-binary');
  fs.mkdirSync(folder);
  const record = (coarse: number, fine: number, fill: number) => { const r = Buffer.alloc(3074, fill); r[0] = coarse; r[1] = fine; r[3073] = fill + 1; return r; };
  fs.writeFileSync(path.join(folder, 'train.bin'), Buffer.concat([record(19, 99, 10), record(0, 4, 20), record(7, 55, 30)]));
  fs.writeFileSync(path.join(folder, 'test.bin.gz'), zlib.gzipSync(record(3, 42, 40)));
  const raw = loadTrainingData(dir);
  assert.deepEqual([raw.format, raw.location, raw.count, raw.channels, raw.height, raw.width, raw.classes], ['cifar100', folder, 3, 3, 32, 32, 100]);
  assert.deepEqual(Array.from(raw.labels), [99, 4, 55]);
  // The pixels start after both label bytes: the first is the record's fill, the last its fill + 1.
  assert.deepEqual([raw.images[0], raw.images[3071], raw.images[3072], raw.images[3 * 3072 - 1]], [10, 11, 20, 31]);
  const test = loadTestData(raw)!;
  assert.deepEqual([test.format, test.count, Array.from(test.labels), test.classes], ['cifar100', 1, [42], 100]);
  fs.writeFileSync(path.join(folder, 'train.bin'), record(1, 100, 0));
  expectDataError(() => loadTrainingData(dir), 'train.bin', /label 100 of record 0 is out of range 0\.\.99/);
  fs.writeFileSync(path.join(folder, 'train.bin'), Buffer.alloc(3073));
  expectDataError(() => loadTrainingData(dir), 'train.bin', /expected CIFAR-100 binary records of 3074 bytes \(2 labels \+ 3x32x32 pixels\), got 3073 bytes/);
});

function expectDataError(fn: () => unknown, file: string, what: RegExp): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(e instanceof DataError, `a DataError, got ${e}`);
    assert.ok(e.message.includes(file), `message names ${file}: ${e.message}`);
    assert.match(e.message, what);
    return true;
  });
}

test('malformed: missing directory says how to get the data', () => {
  expectDataError(() => loadTrainingData('/nonexistent/nos-data'), '/nonexistent/nos-data', /apt-get install dataset-fashion-mnist/);
});

test('malformed: empty directory lists the expected files', () => {
  const dir = tmpDir();
  expectDataError(() => loadTrainingData(dir), dir, /train-images-idx3-ubyte.*data_batch_1\.bin/);
});

test('malformed: images without labels', () => {
  const dir = tmpDir();
  writeIdx(dir, 5, false);
  fs.unlinkSync(path.join(dir, 'train-labels-idx1-ubyte'));
  expectDataError(() => loadTrainingData(dir), 'train-labels-idx1-ubyte', /missing/);
});

test('malformed: truncated IDX images', () => {
  const dir = tmpDir();
  writeIdx(dir, 5, false);
  const f = path.join(dir, 'train-images-idx3-ubyte');
  fs.writeFileSync(f, fs.readFileSync(f).subarray(0, 50));
  expectDataError(() => loadTrainingData(dir), f, /need 80 data bytes, the file has 34/);
});

test('malformed: bad IDX magic and wrong dimensionality', () => {
  const dir = tmpDir();
  writeIdx(dir, 5, false);
  const f = path.join(dir, 'train-images-idx3-ubyte');
  fs.writeFileSync(f, Buffer.from('PK\x03\x04garbage'));
  expectDataError(() => loadTrainingData(dir), f, /first two bytes must be 0/);
  fs.writeFileSync(f, idx([5, 16], new Uint8Array(80)));
  expectDataError(() => loadTrainingData(dir), f, /3 dimension\(s\), got 2/);
});

test('malformed: label count mismatch and out-of-range label', () => {
  const dir = tmpDir();
  writeIdx(dir, 5, false);
  const f = path.join(dir, 'train-labels-idx1-ubyte');
  fs.writeFileSync(f, idx([4], new Uint8Array(4)));
  expectDataError(() => loadTrainingData(dir), f, /4 labels but .* 5 images/);
});

test('IDX classes: 10 (MNIST-style), or as many as the labels name (EMNIST: up to 62); the test labels must be among them', () => {
  const dir = tmpDir();
  writeIdx(dir, 5, false);
  assert.equal(loadTrainingData(dir).classes, 10);
  fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), idx([5], Uint8Array.from([0, 1, 46, 3, 4])));
  const train = loadTrainingData(dir);
  assert.equal(train.classes, 47);
  fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), idx([2, 4, 4], new Uint8Array(32)));
  const labels = path.join(dir, 't10k-labels-idx1-ubyte');
  fs.writeFileSync(labels, idx([2], Uint8Array.from([46, 2])));
  assert.deepEqual([loadTestData(train)!.classes, Array.from(loadTestData(train)!.labels)], [47, [46, 2]]);
  fs.writeFileSync(labels, idx([2], Uint8Array.from([3, 47])));
  expectDataError(() => loadTestData(train), labels, /label 47 at index 1 is out of range 0\.\.46 \(the training labels' classes\)/);
});

test('malformed: damaged gzip and CIFAR record size', () => {
  const dir = tmpDir();
  const f = path.join(dir, 'data_batch_1.bin');
  fs.writeFileSync(f, Buffer.alloc(3000));
  expectDataError(() => loadTrainingData(dir), f, /records of 3073 bytes/);
  fs.writeFileSync(f, Buffer.concat([zlib.gzipSync(Buffer.alloc(3073)).subarray(0, 20)]));
  expectDataError(() => loadTrainingData(dir), f, /does not decompress/);
});

test('a file path instead of a directory is refused with what was expected', () => {
  const dir = tmpDir();
  const f = path.join(dir, 'x.bin');
  fs.writeFileSync(f, 'x');
  expectDataError(() => loadTrainingData(f), f, /expected a NumPy \.npz file or a folder holding train-images-idx3-ubyte/);
});

test('loadTestData: the t10k files beside the training files, standardized with the training statistics', () => {
  const dir = tmpDir();
  writeIdx(dir, 30, true);
  const images = new Uint8Array(5 * 16).fill(200);
  fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), idx([5, 4, 4], images));
  fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), idx([5], Uint8Array.from([9, 8, 7, 6, 5])));
  const train = loadTrainingData(dir);
  const test = loadTestData(train)!;
  assert.deepEqual([test.count, test.height, test.width, Array.from(test.labels)], [5, 4, 4, [9, 8, 7, 6, 5]]);
  const stats = channelStatistics(train, 20);
  const split = normalizeImages(test, 0, 5, stats);
  const expected = (200 / 255 - stats.mean[0]) / stats.std[0];
  assert.ok(Math.abs(split.images[3] - expected) <= 1e-6 * Math.abs(expected), `${split.images[3]} vs ${expected}`);
  // The same statistics and arithmetic as prepareSplits.
  assert.deepEqual(normalizeImages(train, 25, 5, stats).images, prepareSplits(train, 20, 5).validation.images);
});

test('loadTestData: null without test files; test labels missing names the file', () => {
  const dir = tmpDir();
  writeIdx(dir, 30, false);
  assert.equal(loadTestData(loadTrainingData(dir)), null);
  fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), idx([5, 4, 4], new Uint8Array(80)));
  assert.throws(() => loadTestData(loadTrainingData(dir)), (e: Error) => e instanceof DataError && /t10k-labels-idx1-ubyte.*no test labels/.test(e.message));
});
