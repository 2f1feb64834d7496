// The README's examples of the package API, as written: type-checked against the package's own types, run, and
// their output compared with the `//=>` comments beside them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../../src/runtime/binding';

const root = packageRoot();

/** The README's ```ts blocks that import from 'nos'. */
function examples(): string[] {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  return [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]).filter((code) => /from 'nos'/.test(code));
}

/** The lines an example prints, as its `//=>` comments say, in order. */
function expectedOutput(code: string): string[] {
  return code.split('\n').flatMap((line) => {
    const at = line.indexOf('//=> ');
    return at < 0 ? [] : [line.slice(at + 5).trimEnd()];
  });
}

test('the README examples type-check against the package types, run as written and print what they say', () => {
  const found = examples();
  assert.ok(found.length >= 2, `found ${found.length} examples`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-readme-'));
  try {
    // A project that depends on nos: node_modules/nos is this package (its package.json exports and types).
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(root, path.join(dir, 'node_modules', 'nos'), 'dir');
    fs.symlinkSync(path.join(root, 'node_modules', '@types'), path.join(dir, 'node_modules', '@types'), 'dir');
    found.forEach((code, k) => fs.writeFileSync(path.join(dir, `example${k}.mts`), code));
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'node16', moduleResolution: 'node16', strict: true, types: ['node'], outDir: 'out', skipLibCheck: false },
      include: ['*.mts'],
    }));
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    try {
      execFileSync(process.execPath, [tsc, '-p', dir], { cwd: dir, stdio: 'pipe' });
    } catch (e) {
      assert.fail(`the README examples do not type-check:\n${(e as { stdout?: Buffer }).stdout?.toString()}`);
    }
    found.forEach((code, k) => {
      const out = execFileSync(process.execPath, [path.join(dir, 'out', `example${k}.mjs`)], { cwd: dir, stdio: 'pipe', timeout: 300_000 }).toString();
      const printed = out.split('\n').filter((l) => l.length > 0);
      assert.deepEqual(printed, expectedOutput(code), `example ${k} printed:\n${out}`);
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
