// What the user names on the command line, resolved into a search config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadTrainingData } from '../../src/runtime/child/data';
import { InputError } from '../../src/errors';
import { buildSearchConfig, checkResumeInputs, describeSearchData } from '../../src/search/search-inputs';
import { npyBytes } from '../support/npy-write';
import { writeBandsIdx } from '../support/bands-idx';

const inputs = { budget: 5, batchSize: 5, workers: 1, strategy: 'random', space: 'small', protocol: 'fake', device: 'cpu', seed: 1 };

test('a relative --data is stored as an absolute path, so --resume from another folder finds the same data', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-inputs-'));
  try {
    const relative = path.relative(process.cwd(), dir);
    assert.ok(!path.isAbsolute(relative));
    assert.equal(buildSearchConfig({ ...inputs, data: relative }).data.path, dir);
    // Queue workers run elsewhere: the path goes to them as given.
    assert.equal(buildSearchConfig({ ...inputs, data: relative, queue: 'redis://127.0.0.1:6379' }).data.path, relative);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the default --in-flight: 2 per local worker, 32 on a queue, and on local GPUs left to the backend (256 per usable GPU)', () => {
  assert.equal(buildSearchConfig({ ...inputs, workers: 3 }).inFlight, 6);
  assert.equal(buildSearchConfig({ ...inputs, queue: 'redis://127.0.0.1:6379' }).inFlight, 32);
  assert.equal(buildSearchConfig({ ...inputs, device: 'cuda' }).inFlight, undefined);
  assert.equal(buildSearchConfig({ ...inputs, device: 'cuda', inFlight: 40 }).inFlight, 40);
  assert.equal(buildSearchConfig({ ...inputs, device: 'cuda', queue: 'redis://127.0.0.1:6379' }).inFlight, 32);
});

test('a --protocol file that cannot be read says so, not that it is bad JSON', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-inputs-protocol-'));
  try {
    const folder = path.join(dir, 'p.json');
    fs.mkdirSync(folder);
    assert.throws(() => buildSearchConfig({ ...inputs, protocol: folder }),
      (e: Error) => e instanceof InputError && e.message === `--protocol ${folder}: cannot read the file: illegal operation on a directory (EISDIR)`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a bad --data names the folder once', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-inputs-empty-'));
  try {
    assert.throws(() => buildSearchConfig({ ...inputs, protocol: 'quick', data: dir }),
      (e: Error) => e.message.startsWith(`--data ${dir}: no training data`) && e.message.split(dir).length === 2);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the data line says what the local workers train on; none for a queue (its workers read their own) or the fake protocol', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-inputs-data-'));
  try {
    writeBandsIdx(dir, 80, 1, { side: 8, classes: 6, noise: 100, band: 150 });
    const protocol = path.join(dir, 'small.json');
    fs.writeFileSync(protocol, JSON.stringify({ extends: 'quick', trainExamples: 50, validationExamples: 30, batchSize: 10 }));
    const config = buildSearchConfig({ ...inputs, protocol, data: dir });
    assert.equal(describeSearchData(config), `${path.join(dir, 'train-images-idx3-ubyte')}: 50 training and 30 held-out examples of 1x8x8, 10 classes`); // IDX: 10 classes at least
    assert.equal(describeSearchData(buildSearchConfig({ ...inputs, protocol, data: dir, queue: 'redis://127.0.0.1:6379' })), null);
    assert.equal(describeSearchData(buildSearchConfig(inputs)), null);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a search records its data\'s fingerprint; a resume on other data is refused, on the same data in another format it goes on', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-inputs-fingerprint-'));
  // Each data set in its own folder: a process keeps what it loaded by path (a real resume is a new process).
  const folder = (name: string) => { const f = path.join(dir, name); fs.mkdirSync(f); return f; };
  try {
    const idx = folder('idx');
    writeBandsIdx(idx, 80, 1); // 10 classes, as IDX always has: the NumPy copy below has them too
    const protocol = path.join(dir, 'small.json');
    fs.writeFileSync(protocol, JSON.stringify({ extends: 'quick', trainExamples: 50, validationExamples: 30, batchSize: 10 }));
    const config = buildSearchConfig({ ...inputs, protocol, data: idx });
    assert.match(config.data.fingerprint ?? '', /^[0-9a-f]{16}$/);
    assert.doesNotThrow(() => checkResumeInputs(config));
    const movedTo = (where: string) => ({ ...config, data: { ...config.data, path: where } });
    // The same images and labels as NumPy arrays: the same data, whatever the format.
    const raw = loadTrainingData(idx);
    const numpy = folder('numpy');
    fs.writeFileSync(path.join(numpy, 'x_train.npy'), npyBytes('|u1', [raw.count, raw.height, raw.width], raw.images));
    fs.writeFileSync(path.join(numpy, 'y_train.npy'), npyBytes('|u1', [raw.count], raw.labels));
    assert.doesNotThrow(() => checkResumeInputs(movedTo(numpy)));
    // Other images: refused, naming both fingerprints.
    const other = folder('other');
    writeBandsIdx(other, 80, 2);
    assert.throws(() => checkResumeInputs(movedTo(other)), (e: Error) => e instanceof InputError &&
      new RegExp(`^--data ${other}: not the data this search started on \\(fingerprint [0-9a-f]{16}, the search's ${config.data.fingerprint}\\)`).test(e.message));
    // A queue's workers read their own copies: held to this machine's fingerprint when it can read the data, else to none.
    assert.equal(buildSearchConfig({ ...inputs, protocol, data: idx, queue: 'redis://127.0.0.1:6379' }).data.fingerprint, config.data.fingerprint);
    assert.equal(buildSearchConfig({ ...inputs, protocol, data: folder('filled-on-the-workers'), queue: 'redis://127.0.0.1:6379' }).data.fingerprint, undefined);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
