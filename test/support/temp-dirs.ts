// Temporary folders for a test file, all removed when its tests end.
import { after } from 'node:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** A maker of fresh folders under the OS temp dir, named `prefix` plus a random suffix; removed after the file's tests. */
export function tempDirs(prefix: string): () => string {
  const made: string[] = [];
  after(() => { for (const d of made) fs.rmSync(d, { recursive: true, force: true }); });
  return () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    made.push(d);
    return d;
  };
}
