// Prints the node_modules folders that the named packages need (their dependency closure), one a line, for a bundle.
//
//   node dist/bench/device-modules.js bullmq ioredis commander
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The folder of package `name` as Node resolves it from `from` (node_modules up the tree), or null. */
function packageFolder(name: string, from: string): string | null {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (path.dirname(dir) === dir) return null;
  }
}

function closure(names: string[], root: string): string[] {
  const found = new Set<string>();
  const visit = (name: string, from: string, optional: boolean) => {
    const folder = packageFolder(name, from);
    if (!folder) {
      if (optional) return; // another platform's prebuilt binary, say
      throw new Error(`package ${name} (needed from ${path.relative(root, from) || '.'}) is not installed: run npm ci`);
    }
    if (found.has(folder)) return;
    found.add(folder);
    const manifest = JSON.parse(fs.readFileSync(path.join(folder, 'package.json'), 'utf8')) as
      { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    const optionals = new Set(Object.keys(manifest.optionalDependencies ?? {}));
    for (const dep of new Set([...Object.keys(manifest.dependencies ?? {}), ...optionals])) visit(dep, folder, optionals.has(dep));
  };
  for (const name of names) visit(name, root, false);
  return [...found].map((f) => path.relative(root, f)).sort();
}

const names = process.argv.slice(2);
if (names.length === 0) {
  console.error('usage: node dist/bench/device-modules.js PACKAGE...');
  process.exitCode = 2;
} else {
  try {
    for (const folder of closure(names, process.cwd())) console.log(folder);
  } catch (e) {
    console.error(`device-modules: ${(e as Error).message}`);
    process.exitCode = 1;
  }
}
