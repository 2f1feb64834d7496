// `nos --version` and `nos-compile --version` print the package's version and exit 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { main as nos } from '../../src/cli/nos';
import { main as nosCompile } from '../../src/cli/nos-compile';
import { capture } from '../support/cli-capture';

test('--version prints the version in package.json', async () => {
  const root = __dirname.split(path.sep).slice(0, -2).join(path.sep) || '/';
  const rootPkg = [root, path.dirname(root)].map((d) => path.join(d, 'package.json')).find((f) => fs.existsSync(f))!;
  const version = (JSON.parse(fs.readFileSync(rootPkg, 'utf8')) as { version: string }).version;
  for (const run of [() => nos(['node', 'nos', '--version']), () => nosCompile(['node', 'nos-compile', '--version'])]) {
    const { code, stdout } = await capture(run);
    assert.equal(code, 0);
    assert.equal(stdout, `${version}\n`);
  }
});
