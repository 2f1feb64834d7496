// ||a - b|| / ||b|| over two arrays of equal length (0 when both are zero; Infinity on a NaN or a length mismatch).
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  if (Number.isNaN(num) || Number.isNaN(den)) return Infinity;
  return num === 0 ? 0 : Math.sqrt(num / den);
}
