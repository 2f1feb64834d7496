// The checkpoint: atomic replace (no temp file left behind), read back exactly, clear errors for damage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CHECKPOINT_VERSION, readCheckpoint, writeCheckpoint, type Checkpoint } from '../../src/search/checkpoint';

const sample: Checkpoint = { version: CHECKPOINT_VERSION, runId: 'r1', events: 5, candidatesProposed: 15,
  strategyState: { weights: [0.1, -0.2], rng: [1, 2, 3, 4] }, time: '2026-01-01T00:00:00Z' };

test('checkpoint: written, replaced and read back; no temporary file remains', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-ckpt-'));
  assert.equal(readCheckpoint(dir), null);
  writeCheckpoint(dir, sample);
  writeCheckpoint(dir, { ...sample, events: 6 });
  assert.deepEqual(readCheckpoint(dir), { ...sample, events: 6 });
  assert.deepEqual(fs.readdirSync(dir), ['checkpoint.json']);
});

test('checkpoint: damaged or foreign files give clear errors', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-ckpt-'));
  fs.writeFileSync(path.join(dir, 'checkpoint.json'), '{"version":1,');
  assert.throws(() => readCheckpoint(dir), /checkpoint.json: not valid JSON/);
  fs.writeFileSync(path.join(dir, 'checkpoint.json'), JSON.stringify({ ...sample, version: 99 }));
  assert.throws(() => readCheckpoint(dir), /checkpoint version 99/);
  fs.writeFileSync(path.join(dir, 'checkpoint.json'), JSON.stringify({ ...sample, events: -1 }));
  assert.throws(() => readCheckpoint(dir), /events must be an integer >= 0/);
  fs.writeFileSync(path.join(dir, 'checkpoint.json'), JSON.stringify({ ...sample, version: 1, batchesProposed: 2, batchesFed: 1.5 }));
  assert.throws(() => readCheckpoint(dir), /batchesFed must be an integer >= 0/);
});

test('checkpoint: a version 1 file (the synchronous loop: proposals and feedbacks alternate) reads as its event count', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-ckpt-'));
  const { events: _events, ...rest } = sample;
  fs.writeFileSync(path.join(dir, 'checkpoint.json'), JSON.stringify({ ...rest, version: 1, batchesProposed: 3, batchesFed: 2 }));
  assert.equal(readCheckpoint(dir)!.events, 5);
  assert.equal(readCheckpoint(dir)!.version, CHECKPOINT_VERSION);
});
