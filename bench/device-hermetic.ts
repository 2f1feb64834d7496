// Loaded first by the device scripts (NODE_OPTIONS in bench/device-env.sh): a module that resolves into this
// repository's node_modules is one the device machine lacks (it has .device's only), so a dry run here fails where
// the device would, naming the module to add to bench/gpu-bundle.sh.
import * as path from 'node:path';
import Module = require('node:module');

// Compiled to .device/dist/bench/: three folders up is the repository's root.
const forbidden = path.join(path.resolve(__dirname, '..', '..', '..'), 'node_modules') + path.sep;
// There, where node_modules is absent, node goes on to NODE_PATH (the bundle's modules and the unpacked CLI's): so here.
const fallbacks = (process.env.NODE_PATH ?? '').split(path.delimiter).filter((dir) => dir !== '');
type Resolve = (request: string, parent: unknown, isMain: boolean, options?: { paths?: string[] }) => string;
const loader = Module as unknown as { _resolveFilename: Resolve };
const resolve = loader._resolveFilename;
loader._resolveFilename = function hermetic(this: unknown, request: string, parent: unknown, isMain: boolean, options?: { paths?: string[] }): string {
  const file = resolve.call(this, request, parent, isMain, options);
  if (!file.startsWith(forbidden)) return file;
  for (const dir of fallbacks) {
    try {
      const there = resolve.call(this, request, parent, isMain, { paths: [dir] });
      if (!there.startsWith(forbidden)) return there;
    } catch {
      // not in this folder: the next one
    }
  }
  throw Object.assign(new Error(`device bundle: '${request}' resolves to ${file}, which the device machine does not have: add it to bench/gpu-bundle.sh`), { code: 'MODULE_NOT_FOUND' });
};
