// Reads NumPy's .npy format (versions 1-3, numpy/lib/format.py): the header's dtype and shape, and the data's numbers.
import { DataError } from './data-error';

/** One array of a .npy file: its shape, its element type, and its data bytes (C order). */
export interface NpyArray {
  /** Where it came from, for messages: a file, or `archive.npz [key]`. */
  where: string;
  shape: number[];
  /** numpy's dtype text without the byte order, e.g. 'u1', 'f4', 'i8'. */
  dtype: string;
  kind: 'b' | 'i' | 'u' | 'f';
  count: number;
  data: Uint8Array;
  littleEndian: boolean;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const SUPPORTED = new Set(['b1', 'u1', 'i1', 'u2', 'i2', 'u4', 'i4', 'u8', 'i8', 'f4', 'f8']);

/** The array in `bytes` (a whole .npy file); a DataError names `where` and what is wrong. */
export function parseNpy(where: string, bytes: Uint8Array): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new DataError(where, 'expected a NumPy .npy file (it starts with \\x93NUMPY), got other bytes');
  }
  const major = bytes[6];
  if (major < 1 || major > 3) throw new DataError(where, `.npy format version ${major}.${bytes[7]} is not one nos reads (1.0 to 3.0)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  if (bytes.length < headerStart + headerLength) throw new DataError(where, `.npy header is truncated: ${bytes.length} bytes, the header needs ${headerStart + headerLength}`);
  const header = Buffer.from(bytes.buffer, bytes.byteOffset + headerStart, headerLength).toString(major === 3 ? 'utf8' : 'latin1');
  const { dtype, littleEndian, fortranOrder, shape } = readHeader(where, header);
  if (fortranOrder) throw new DataError(where, `the array is in Fortran order; save it in C order (np.save(f, np.ascontiguousarray(a)))`);
  const count = shape.reduce((p, q) => p * q, 1);
  const itemBytes = Number(dtype.slice(1));
  const data = bytes.subarray(headerStart + headerLength);
  if (data.length !== count * itemBytes) {
    throw new DataError(where, `shape ${shapeText(shape)} of ${dtype} needs ${count * itemBytes} data bytes, the file has ${data.length} (truncated or damaged)`);
  }
  return { where, shape, dtype, kind: dtype[0] as NpyArray['kind'], count, data, littleEndian };
}

/** The header is a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }. */
function readHeader(where: string, header: string): { dtype: string; littleEndian: boolean; fortranOrder: boolean; shape: number[] } {
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header);
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) {
    if (/['"]descr['"]\s*:\s*\[/.test(header)) throw new DataError(where, 'holds a structured array (fields); save each field as its own plain array');
    throw new DataError(where, `.npy header is not one nos understands: ${JSON.stringify(header.trim().slice(0, 120))}`);
  }
  const code = /^([<>|=]?)([a-zA-Z])(\d+)$/.exec(descr[1]);
  const dtype = code ? `${code[2]}${code[3]}` : descr[1].replace(/^[<>|=]/, '');
  if (!code || !SUPPORTED.has(dtype)) {
    const hint = dtype.startsWith('O') ? ' (Python objects: convert to a number array first)' : dtype === 'f2' ? ' (convert float16 to float32)'
      : /^[US]/.test(dtype) ? ' (text: map class names to indices 0..K-1 first)' : '';
    throw new DataError(where, `holds dtype '${descr[1]}'${hint}; nos reads bool, integers of 1 to 8 bytes, float32 and float64`);
  }
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (!dims.every((d) => /^\d+L?$/.test(d))) throw new DataError(where, `.npy shape (${shape[1]}) is not a list of sizes`);
  // '>' is big-endian; '<', '|' (one byte) and '=' (native, little on every machine nos runs on) read as little-endian.
  return { dtype, littleEndian: code[1] !== '>', fortranOrder: fortran[1] === 'True', shape: dims.map((d) => parseInt(d, 10)) };
}

/** Reads element i (C order) of any supported dtype as a number (8-byte integers beyond 2^53 lose precision). */
export function elementReader(a: NpyArray): (i: number) => number {
  const view = new DataView(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const le = a.littleEndian;
  switch (a.dtype) {
    case 'b1': case 'u1': return (i) => a.data[i];
    case 'i1': return (i) => view.getInt8(i);
    case 'u2': return (i) => view.getUint16(2 * i, le);
    case 'i2': return (i) => view.getInt16(2 * i, le);
    case 'u4': return (i) => view.getUint32(4 * i, le);
    case 'i4': return (i) => view.getInt32(4 * i, le);
    case 'u8': return (i) => Number(view.getBigUint64(8 * i, le));
    case 'i8': return (i) => Number(view.getBigInt64(8 * i, le));
    case 'f4': return (i) => view.getFloat32(4 * i, le);
    case 'f8': return (i) => view.getFloat64(8 * i, le);
    default: throw new Error(`elementReader: dtype ${a.dtype} (parseNpy refuses it)`);
  }
}

/** The shape as Python prints it, for messages: (60000, 28, 28). */
export function shapeText(shape: number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}
