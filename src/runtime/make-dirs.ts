// `mkdir -p` that fails instead of spinning: Node 20's recursive mkdirSync loops for ever where mkdir answers ENOENT
// under a folder that exists (anywhere in /proc), so a misplaced --out or NOS_CACHE_DIR hung the process.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Creates `dir` and its missing parents, one level at a time; throws mkdir's own error (ENOENT, ENOTDIR, EACCES). */
export function makeDirs(dir: string): void {
  const missing: string[] = [];
  const target = path.resolve(dir);
  for (let at = target; !fs.existsSync(at); at = path.dirname(at)) {
    missing.push(at);
    if (path.dirname(at) === at) break;
  }
  for (const level of missing.reverse()) {
    try {
      fs.mkdirSync(level);
    } catch (e) {
      // Another process made it first: fine, if it is a folder.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !fs.statSync(level).isDirectory()) throw e;
    }
  }
  if (missing.length === 0 && !fs.statSync(target).isDirectory()) {
    throw Object.assign(new Error(`EEXIST: file already exists, mkdir '${target}'`), { code: 'EEXIST', path: target });
  }
}
