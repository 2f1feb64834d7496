// The reference interpreter's results for every fixture rule on fixed inputs, against digests recorded in test/fixtures.
//
// The interpreter is the definition every target is checked against, so a change to what it computes must be
// deliberate: rerun with NOS_UPDATE_GOLDEN=1 to record new digests, and say why in the commit.  The digests were
// recorded before the op table (ops.ts) replaced the interpreter's own switch of ops, and still hold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { interpretStep } from '../../src/compiler/interpret';
import { packageRoot } from '../../src/runtime/binding';
import { fixtureRules, randomTensors, seededRandom, testScalars } from './render-rules';

const FILE = path.join(packageRoot(), 'test', 'fixtures', 'interpreter-golden.json');

function digests(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { name, info } of fixtureRules()) {
    const ts = randomTensors(info, [13, 5], seededRandom(7), 2 ** 32 - 9);
    for (let t = 1; t <= 3; t++) interpretStep(info, ts, testScalars(info, t), 99, t);
    const h = createHash('sha256');
    for (const x of ts) {
      h.update(Buffer.from(x.w.buffer));
      for (const s of x.s) if (s) h.update(Buffer.from(s.buffer));
    }
    out[name] = h.digest('hex').slice(0, 32);
  }
  return out;
}

test('the interpreter computes what it computed when the digests were recorded (every fixture rule, 3 steps)', () => {
  const now = digests();
  if (process.env.NOS_UPDATE_GOLDEN) fs.writeFileSync(FILE, `${JSON.stringify(now, null, 2)}\n`);
  const recorded = JSON.parse(fs.readFileSync(FILE, 'utf8')) as Record<string, string>;
  assert.deepEqual(Object.keys(now).sort(), Object.keys(recorded).sort(), 'the fixture rules changed: record new digests');
  for (const [name, digest] of Object.entries(recorded)) assert.equal(now[name], digest, `${name}: the interpreter's result changed`);
});
