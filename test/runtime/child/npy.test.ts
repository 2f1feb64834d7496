// The .npy reader: every dtype it takes, both byte orders, format versions 1 to 3, and headers it must refuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataError } from '../../../src/runtime/child/data-error';
import { elementReader, parseNpy, shapeText } from '../../../src/runtime/child/npy';
import { npyBytes } from '../../support/npy-write';

function values(bytes: Buffer): number[] {
  const a = parseNpy('t.npy', bytes);
  const read = elementReader(a);
  return Array.from({ length: a.count }, (_, i) => read(i));
}

test('reads each dtype in both byte orders', () => {
  const data = [0, 1, 127, 3, 250, 42];
  for (const descr of ['|u1', '|b1']) assert.deepEqual(values(npyBytes(descr, [6], data.map((v) => (descr === '|b1' ? +(v > 1) : v)))), data.map((v) => (descr === '|b1' ? +(v > 1) : v)));
  const signed = [-32768, -1, 0, 1, 255, 32767];
  for (const descr of ['<i2', '>i2']) assert.deepEqual(values(npyBytes(descr, [2, 3], signed)), signed, descr);
  const big = [-(2 ** 53) + 1, -5, 0, 7, 2 ** 40, 2 ** 53 - 1];
  for (const descr of ['<i8', '>i8']) assert.deepEqual(values(npyBytes(descr, [6], big)), big, descr);
  const floats = [-1.5, 0, 0.25, 2 ** 100, -7, 1 / 1024]; // exact in float32
  for (const descr of ['<f4', '>f4', '<f8', '>f8']) assert.deepEqual(values(npyBytes(descr, [3, 2], floats)), floats, descr);
  const a = parseNpy('t.npy', npyBytes('<f4', [3, 2], floats));
  assert.deepEqual([a.shape, a.dtype, a.kind, a.count, a.littleEndian], [[3, 2], 'f4', 'f', 6, true]);
  assert.deepEqual([shapeText([5]), shapeText([5, 2, 3])], ['(5,)', '(5, 2, 3)']);
});

test('format versions 2 and 3 (a 4-byte header length) read as version 1', () => {
  const v1 = npyBytes('<i2', [4], [1, -2, 3, -4]);
  const headerLength = v1.readUInt16LE(8);
  for (const major of [2, 3]) {
    const prefix = Buffer.alloc(12);
    v1.copy(prefix, 0, 0, 6);
    prefix[6] = major;
    prefix.writeUInt32LE(headerLength, 8);
    const bytes = Buffer.concat([prefix, v1.subarray(10)]);
    assert.deepEqual(values(bytes), [1, -2, 3, -4], `version ${major}`);
  }
});

test('refuses what it cannot read, naming the file and why', () => {
  const refuse = (bytes: Buffer, pattern: RegExp) => assert.throws(() => parseNpy('bad.npy', bytes), (e: Error) => e instanceof DataError && e.message.startsWith('bad.npy: ') && pattern.test(e.message));
  refuse(Buffer.from('PK\x03\x04 a zip file, not npy'), /expected a NumPy \.npy file/);
  const v9 = npyBytes('<f4', [1], [1]);
  v9[6] = 9;
  refuse(v9, /format version 9\.0 is not one nos reads/);
  refuse(npyBytes('<f4', [2, 2], [1, 2, 3, 4], { fortran: true }), /Fortran order; save it in C order/);
  refuse(npyBytes('', [2], [0, 0], { header: "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (2,), }" }), /structured array/);
  refuse(npyBytes('|O', [2], [0, 0]), /dtype '\|O' \(Python objects/);
  refuse(npyBytes('<f2', [2], [0, 0]), /dtype '<f2' \(convert float16 to float32\)/);
  refuse(npyBytes('<U5', [2], [0, 0]), /dtype '<U5' \(text: map class names to indices 0\.\.K-1 first\)/);
  refuse(npyBytes('<c8', [2], [0, 0]), /dtype '<c8'; nos reads bool, integers of 1 to 8 bytes, float32 and float64/);
  refuse(npyBytes('<f4', [2], [0, 0], { header: "{'descr': '<f4', 'shape': (2,), }" }), /header is not one nos understands/);
  refuse(npyBytes('<f4', [4], [1, 2, 3, 4]).subarray(0, 140), /shape \(4,\) of f4 needs 16 data bytes, the file has 12/);
  refuse(npyBytes('<f4', [4], [1, 2, 3, 4]).subarray(0, 40), /header is truncated/);
});
