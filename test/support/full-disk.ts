// Fault injection: makes writes fail the way a full disk does (a short write, then ENOSPC), in this process.
import * as path from 'node:path';
// The module object itself (an `import * as` copy is read-only): code under test reads its functions at call time.
import fs = require('node:fs');

/**
 * `file` and `failAt`: the failAt-th write to the file named `file` (its temporary copies `file.tmp-PID` count as
 * the file) stores half its bytes, and every later write to that file fails with ENOSPC.
 * `bytes` and `dir`: files under `dir` may take `bytes` bytes in all; the write that passes that stores what fits,
 * every later one fails with ENOSPC (a disk that fills up while the search runs).
 */
export type FullDiskPlan = { file: string; failAt: number } | { bytes: number; dir: string };

/** The environment variable the preload (full-disk-preload.ts) reads its plan from, as JSON. */
export const FULL_DISK_ENV = 'NOS_TEST_FULL_DISK';

function enospc(syscall: string, file: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOSPC: no space left on device, ${syscall} '${file}'`), { code: 'ENOSPC', errno: -28, syscall, path: file });
}

/** Where an already open descriptor points (Linux), for one opened before the plan was installed. */
function pathOfOpenFd(fd: number): string | undefined {
  try { return fs.readlinkSync(`/proc/self/fd/${fd}`); } catch { return undefined; }
}

/** Installs the plan on the fs module (what every `import * as fs` reads at call time); returns the undo. */
export function installFullDisk(plan: FullDiskPlan): () => void {
  const real = { openSync: fs.openSync, closeSync: fs.closeSync, writeSync: fs.writeSync, writeFileSync: fs.writeFileSync };
  const pathOfFd = new Map<number, string>();
  const writes = new Map<string, number>();
  let used = 0;
  let full = false;
  let inWriteFile = false; // writeFileSync calls writeSync itself: count its bytes once
  const nameOf = (file: string) => path.basename(file).replace(/\.tmp-\d+$/, '');
  const watched = (file: string) => ('file' in plan ? nameOf(file) === plan.file : path.resolve(file).startsWith(path.resolve(plan.dir) + path.sep));
  /** How many of `length` bytes this write may store (throws ENOSPC when none). */
  const allowance = (file: string, length: number, syscall: string): number => {
    if ('file' in plan) {
      const n = (writes.get(nameOf(file)) ?? 0) + 1;
      writes.set(nameOf(file), n);
      if (n < plan.failAt) return length;
      if (n === plan.failAt && length > 1) return Math.floor(length / 2);
      throw enospc(syscall, file);
    }
    if (full) throw enospc(syscall, file);
    const room = plan.bytes - used;
    if (length < room) { used += length; return length; }
    full = true;
    if (room <= 0) throw enospc(syscall, file);
    used += room;
    return room;
  };

  const patched = fs as unknown as Record<string, unknown>;
  patched.openSync = function (file: fs.PathLike, ...rest: unknown[]) {
    const fd = (real.openSync as (...a: unknown[]) => number)(file, ...rest);
    pathOfFd.set(fd, String(file));
    return fd;
  };
  patched.closeSync = function (fd: number) {
    pathOfFd.delete(fd);
    return real.closeSync(fd);
  };
  patched.writeSync = function (fd: number, data: NodeJS.ArrayBufferView | string, ...rest: unknown[]) {
    const file = pathOfFd.get(fd) ?? pathOfOpenFd(fd);
    if (inWriteFile || file === undefined || !watched(file) || typeof data === 'string') return (real.writeSync as (...a: unknown[]) => number)(fd, data, ...rest);
    const offset = typeof rest[0] === 'number' ? rest[0] : 0;
    const length = typeof rest[1] === 'number' ? rest[1] : data.byteLength - offset;
    const allowed = allowance(file, length, 'write');
    return (real.writeSync as (...a: unknown[]) => number)(fd, data, offset, allowed, ...rest.slice(2));
  };
  patched.writeFileSync = function (file: fs.PathOrFileDescriptor, data: string | NodeJS.ArrayBufferView, ...rest: unknown[]) {
    if (typeof file !== 'string' || !watched(file)) return (real.writeFileSync as (...a: unknown[]) => void)(file, data, ...rest);
    const bytes = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const allowed = allowance(file, bytes.length, 'write');
    inWriteFile = true;
    try {
      (real.writeFileSync as (...a: unknown[]) => void)(file, bytes.subarray(0, allowed), ...rest);
    } finally {
      inWriteFile = false;
    }
    if (allowed < bytes.length) throw enospc('write', file);
  };
  return () => { Object.assign(patched, real); };
}
