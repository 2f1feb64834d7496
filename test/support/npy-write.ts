// Writes .npy bytes by hand, for the malformed files NumPy itself would not write (and the tests that run without it).

/** A .npy (version 1.0) of `values` with dtype text `descr` ('<f4', '|u1', ...), or a raw header for damaged files. */
export function npyBytes(descr: string, shape: number[], values: ArrayLike<number>, options: { fortran?: boolean; header?: string } = {}): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = options.header ?? `{'descr': '${descr}', 'fortran_order': ${options.fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const prefix = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(prefix);
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), dataBytes(descr, values)]);
}

function dataBytes(descr: string, values: ArrayLike<number>): Buffer {
  const little = !descr.startsWith('>');
  const type = descr.replace(/^[<>|=]/, '');
  const size = Number(type.slice(1));
  const out = Buffer.alloc(values.length * size);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    switch (type) {
      case 'u1': case 'b1': out.writeUInt8(v, i); break;
      case 'i2': little ? out.writeInt16LE(v, 2 * i) : out.writeInt16BE(v, 2 * i); break;
      case 'i8': little ? out.writeBigInt64LE(BigInt(v), 8 * i) : out.writeBigInt64BE(BigInt(v), 8 * i); break;
      case 'f4': little ? out.writeFloatLE(v, 4 * i) : out.writeFloatBE(v, 4 * i); break;
      case 'f8': little ? out.writeDoubleLE(v, 8 * i) : out.writeDoubleBE(v, 8 * i); break;
      default: break; // other dtypes: zero bytes of the right length (the reader must refuse the dtype first)
    }
  }
  return out;
}
