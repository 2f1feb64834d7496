// The language model's text: reading a file or a folder, the vocabulary, the splits and the sequences.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataError } from '../../src/runtime/child/data';
import { SeededRandom } from '../../src/runtime/child/random';
import { buildVocabulary, encodeText, OTHER_CHAR, randomSequence, readCorpus, sequencesOf, splitCorpus } from '../../src/transfer/text-corpus';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-corpus-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('readCorpus: a folder\'s plain-text files in name order; .dat files, links and binary files skipped', () => {
  const folder = path.join(dir, 'fortunes');
  fs.mkdirSync(folder);
  fs.writeFileSync(path.join(folder, 'b'), 'second\n%\n');
  fs.writeFileSync(path.join(folder, 'a'), 'first\n%\n');
  fs.writeFileSync(path.join(folder, 'a.dat'), Buffer.from([0, 0, 0, 2, 0, 1]));
  fs.writeFileSync(path.join(folder, 'blob'), Buffer.from([65, 0, 66]));
  fs.symlinkSync(path.join(folder, 'a'), path.join(folder, 'a.u8'));
  const corpus = readCorpus(folder);
  assert.equal(corpus.text, 'first\n%\n\nsecond\n%\n');
  assert.deepEqual(corpus.files.map((f) => path.basename(f)), ['a', 'b']);
  assert.equal(readCorpus(path.join(folder, 'b')).text, 'second\n%\n');
});

test('readCorpus: a missing path, an empty file and a binary file are refused, naming the file', () => {
  assert.throws(() => readCorpus(path.join(dir, 'nope')), (e: Error) => e instanceof DataError && /nope: no such file or folder.*apt-get install fortunes/.test(e.message));
  fs.writeFileSync(path.join(dir, 'empty.txt'), '');
  assert.throws(() => readCorpus(path.join(dir, 'empty.txt')), /empty\.txt: holds no text/);
  fs.writeFileSync(path.join(dir, 'bin'), Buffer.from([1, 0, 2]));
  assert.throws(() => readCorpus(path.join(dir, 'bin')), /bin: holds NUL bytes: not plain text/);
});

test('vocabulary: most frequent first, ties by code point, the rest share id 0; astral characters are one id', () => {
  const v = buildVocabulary('aab😀😀😀c', 3);
  assert.deepEqual(v.chars, ['\u0000', '😀', 'a']);
  assert.deepEqual(Array.from(encodeText('a😀bz', v)), [2, 1, OTHER_CHAR, OTHER_CHAR]);
});

test('splitCorpus: train, validation, test in order; the vocabulary from the training part only', () => {
  const text = 'abcabcabcabcabcabcab' + 'xy' + 'zz'; // 24 characters: 20 train, 2 validation, 2 test
  const s = splitCorpus(text, { validation: 2 / 24, test: 2 / 24 }, 10);
  assert.deepEqual([s.train.length, s.validation.length, s.test.length], [20, 2, 2]);
  assert.deepEqual(s.vocab.chars.slice(1).sort(), ['a', 'b', 'c']);
  assert.deepEqual(Array.from(s.test), [OTHER_CHAR, OTHER_CHAR]); // 'z' never occurs in training
});

test('sequences: consecutive windows of length + 1 whose targets do not overlap; random windows stay inside', () => {
  const ids = Uint16Array.from({ length: 10 }, (_, i) => i);
  assert.deepEqual(sequencesOf(ids, 3).map((s) => Array.from(s)), [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]);
  assert.equal(sequencesOf(ids, 3, 2).length, 2);
  const rng = new SeededRandom(1);
  for (let i = 0; i < 200; i++) {
    const s = randomSequence(ids, 4, rng);
    assert.equal(s.length, 5);
    assert.equal(s[4] - s[0], 4);
  }
});
