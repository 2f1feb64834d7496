// The evaluation protocol on small synthetic IDX data: sweep, final run, divergence, errors, presets and JSON files.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { evaluateRule, loadProtocol, loadProtocolData, PROTOCOL_VERSION, PROTOCOLS, ProtocolError, type ProtocolConfig } from '../../../src/runtime/child/protocol';
import { protocolModel } from '../../../src/runtime/child/protocol-data';
import { fingerprintData } from '../../../src/runtime/child/data';
import { SeededRandom } from '../../../src/runtime/child/random';
import { writeBandsIdx } from '../../support/bands-idx';


const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-protocol-'));
writeBandsIdx(dataDir, 700, 1);
after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

const tiny: ProtocolConfig = {
  name: 'tiny', lrs: [1e-3, 1e-1, 1e6], sweepEpochs: 1, finalEpochs: 2, trainExamples: 400, validationExamples: 200,
  batchSize: 20, model: 'mlp', threads: 1, maxSeconds: 60,
};

test('presets: the paper protocol is section 4.2', () => {
  const p = loadProtocol('paper');
  assert.deepEqual(p.lrs, [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10]);
  assert.deepEqual([p.sweepEpochs, p.finalEpochs, p.trainExamples, p.validationExamples, p.batchSize, p.model], [1, 5, 10000, 5000, 100, 'convnet']);
  assert.equal(loadProtocol('quick').model, 'mlp');
  assert.ok(Number.isInteger(PROTOCOL_VERSION) && PROTOCOL_VERSION >= 1);
  // loadProtocol hands out copies: editing one does not change the preset.
  loadProtocol('paper').lrs.push(5);
  assert.equal(PROTOCOLS.paper.lrs.length, 7);
});

test('protocol files: fields on top of a preset, named after the file', () => {
  const f = path.join(dataDir, 'short.json');
  fs.writeFileSync(f, JSON.stringify({ extends: 'quick', lrs: [0.01, 0.1], finalEpochs: 2 }));
  const p = loadProtocol(f);
  assert.equal(p.name, 'short');
  assert.deepEqual(p.lrs, [0.01, 0.1]);
  assert.equal(p.finalEpochs, 2);
  assert.equal(p.model, 'mlp');
  assert.equal(p.trainExamples, PROTOCOLS.quick.trainExamples);
});

test('protocol files: bad values, unknown fields, bad JSON and missing files are named', () => {
  const f = path.join(dataDir, 'bad.json');
  fs.writeFileSync(f, JSON.stringify({ lrs: [0.1, -1], batchSize: 0, epochs: 3 }));
  assert.throws(() => loadProtocol(f), (e: Error) => e instanceof ProtocolError && e.message.includes(f) &&
    /\/lrs\/1 must be > 0/.test(e.message) && /\/batchSize must be >= 1/.test(e.message) && /'epochs'/.test(e.message));
  fs.writeFileSync(f, '{ "lrs": [0.1,');
  assert.throws(() => loadProtocol(f), /not valid JSON/);
  assert.throws(() => loadProtocol('fast'), /'fast': not a preset \(paper, quick\) and no such file/);
  // Rates the kernels cannot hold (a float32 0 or infinity) would train nothing, or diverge at once, with exit 0.
  fs.writeFileSync(f, JSON.stringify({ lrs: [0.1, 1e-50] }));
  assert.throws(() => loadProtocol(f), /\/lrs\/1 1e-50 is 0 as a float32 \(the kernels' rate\)/);
  fs.writeFileSync(f, JSON.stringify({ lrs: [1e39] }));
  assert.throws(() => loadProtocol(f), /\/lrs\/0 1e\+39 is infinite as a float32/);
  // A rate given twice (or two rates one float32 apart) would train the same child twice.
  fs.writeFileSync(f, JSON.stringify({ lrs: [0.1, 0.01, 0.1] }));
  assert.throws(() => loadProtocol(f), /\/lrs\/2 0\.1 is already in \/lrs/);
  // A name is shown in headers: control and direction characters are refused; other letters are welcome.
  fs.writeFileSync(f, JSON.stringify({ name: 'a\u0000b' }));
  assert.throws(() => loadProtocol(f), /\/name must match pattern/);
  fs.writeFileSync(f, JSON.stringify({ name: 'r\u00e9seau-\u03c0' }));
  assert.equal(loadProtocol(f).name, 'r\u00e9seau-\u03c0');
  fs.writeFileSync(f, JSON.stringify({ lrs: [0.1, 0.10000000001] }));
  assert.throws(() => loadProtocol(f), /\/lrs\/1 0\.10000000001 is already in \/lrs \(as a float32/);
});

test('protocol files: a batch larger than the training set is refused when the file is loaded', () => {
  const f = path.join(dataDir, 'big-batch.json');
  fs.writeFileSync(f, JSON.stringify({ extends: 'quick', batchSize: 20000 }));
  assert.throws(() => loadProtocol(f), (e: Error) => e instanceof ProtocolError && e.message.includes(f) &&
    /\/batchSize 20000 is larger than \/trainExamples 10000/.test(e.message));
  fs.writeFileSync(f, JSON.stringify({ extends: 'quick', batchSize: 50, trainExamples: 50 }));
  assert.equal(loadProtocol(f).batchSize, 50);
});

test('evaluateRule: sweep, best learning rate, final run, reward well above chance', async () => {
  const seen = new Set<string>();
  const outcome = await evaluateRule('sgd', tiny, { path: dataDir }, { seed: 3, onProgress: (p) => seen.add(`${p.phase}:${p.lr}`) });
  assert.equal(outcome.status, 'ok', outcome.error);
  assert.deepEqual(outcome.sweep.map((s) => s.lr), tiny.lrs);
  assert.deepEqual(outcome.sweep.map((s) => s.status), ['ok', 'ok', 'diverged']);
  assert.equal(outcome.bestLr, 0.1);
  assert.ok(outcome.sweep[1].accuracy > outcome.sweep[0].accuracy);
  assert.equal(outcome.sweep[2].accuracy, 0);
  assert.ok(outcome.reward >= 0.9, `reward ${outcome.reward} (chance 0.1)`);
  assert.ok(seen.has('sweep:0.001') && seen.has('final:0.1'));
  const again = await evaluateRule('sgd', tiny, { path: dataDir }, { seed: 3 });
  assert.equal(again.reward, outcome.reward, 'same seed, same reward');
});

test('protocol files: the model\'s width (filters of the convnet, hidden units of the MLP), each on its own model only', () => {
  const f = path.join(dataDir, 'wide.json');
  fs.writeFileSync(f, JSON.stringify({ extends: 'quick', hidden: 256 }));
  assert.deepEqual([loadProtocol(f).model, loadProtocol(f).hidden], ['mlp', 256]);
  fs.writeFileSync(f, JSON.stringify({ filters: 16 }));
  assert.deepEqual([loadProtocol(f).model, loadProtocol(f).filters], ['convnet', 16]);
  const refused: Array<[object, RegExp]> = [
    [{ extends: 'quick', filters: 16 }, /\/filters is the convnet's width; the mlp's is \/hidden/],
    [{ hidden: 64 }, /\/hidden is the mlp's width; the convnet's is \/filters/],
    [{ filters: 0 }, /\/filters must be >= 1/],
    [{ extends: 'quick', hidden: 1e6 }, /\/hidden must be <= 65536/],
    [{ extends: 'quick', hidden: 2.5 }, /\/hidden must be integer/],
  ];
  for (const [fields, pattern] of refused) {
    fs.writeFileSync(f, JSON.stringify(fields));
    assert.throws(() => loadProtocol(f), (e: Error) => e instanceof ProtocolError && pattern.test(e.message), JSON.stringify(fields));
  }
});

test('evaluateRule: the width reaches the network (parameter shapes), and a narrow MLP and convnet train', async () => {
  const data = loadProtocolData({ ...tiny, hidden: 24 }, dataDir);
  assert.deepEqual(protocolModel({ ...tiny, hidden: 24 }, data).params.map((p) => p.shape), [[24, 144], [24], [10, 24], [10]]);
  assert.deepEqual(protocolModel({ ...tiny, model: 'convnet', filters: 8 }, data).params[0].shape, [8, 1, 3, 3]);
  assert.deepEqual(protocolModel(tiny, data).params[0].shape, [100, 144]); // the default: quick's 100
  for (const protocol of [{ ...tiny, hidden: 24 }, { ...tiny, model: 'convnet' as const, filters: 8, lrs: [1e-2], finalEpochs: 1, trainExamples: 200, validationExamples: 100 }]) {
    const outcome = await evaluateRule('adam', protocol, { path: dataDir }, { seed: 1 });
    assert.equal(outcome.status, 'ok', outcome.error);
    assert.ok(outcome.reward > 0.5, `${protocol.model}: reward ${outcome.reward} (chance 0.1)`);
  }
});

test('evaluateRule: given its search\'s data fingerprint, other data at the path is an error outcome naming both, never a reward', async () => {
  const fingerprint = fingerprintData(loadProtocolData(tiny, dataDir));
  const same = await evaluateRule('sgd', { ...tiny, lrs: [0.1], finalEpochs: 1 }, { path: dataDir, fingerprint }, { seed: 1 });
  assert.equal(same.status, 'ok', same.error);
  const other = await evaluateRule('sgd', { ...tiny, lrs: [0.1], finalEpochs: 1 }, { path: dataDir, fingerprint: '0123456789abcdef' }, { seed: 1 });
  assert.deepEqual([other.status, other.reward, other.sweep.length], ['error', 0, 0]);
  assert.match(other.error ?? '', new RegExp(`^${dataDir}: not the search's data \\(fingerprint ${fingerprint} here, the search's 0123456789abcdef\\)`));
});

test('evaluateRule: the paper convnet runs the protocol end to end', async () => {
  const outcome = await evaluateRule('adam', { ...tiny, model: 'convnet', lrs: [1e-2], finalEpochs: 1, trainExamples: 200, validationExamples: 100 }, { path: dataDir }, { seed: 1 });
  assert.equal(outcome.status, 'ok', outcome.error);
  assert.ok(outcome.reward > 0.5, `reward ${outcome.reward} (chance 0.1)`);
});

test('evaluateRule: every rate diverging gives status diverged and the floor reward', async () => {
  const outcome = await evaluateRule('sgd', { ...tiny, lrs: [1e6, 1e7] }, { path: dataDir });
  assert.equal(outcome.status, 'diverged');
  assert.equal(outcome.reward, 0);
  assert.equal(outcome.bestLr, null);
  assert.ok(outcome.sweep.every((s) => s.status === 'diverged' && Number.isFinite(s.loss)));
});

test('evaluateRule: a bad rule, missing data and the time limit come back as errors', async () => {
  const badRule = await evaluateRule('g +* m', tiny, { path: dataDir });
  assert.equal(badRule.status, 'error');
  assert.equal(badRule.reward, 0);
  assert.ok(badRule.error && badRule.error.length > 0);
  const noData = await evaluateRule('sgd', tiny, { path: path.join(dataDir, 'absent') });
  assert.equal(noData.status, 'error');
  assert.match(noData.error ?? '', /absent.*apt-get install dataset-fashion-mnist/);
  const slow = await evaluateRule('sgd', { ...tiny, maxSeconds: 1e-6 }, { path: dataDir });
  assert.equal(slow.status, 'error');
  assert.match(slow.error ?? '', /maxSeconds/);
  const tooFew = await evaluateRule('sgd', { ...tiny, trainExamples: 10 }, { path: dataDir });
  assert.match(tooFew.error ?? '', /smaller than one batch/);
});

test('evaluateRule: CIFAR-10 binary data (3x32x32) through the convnet', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-cifar-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const r = new SeededRandom(11);
  const records: Buffer[] = [];
  for (let i = 0; i < 300; i++) {
    // Two classes: dark images (label 0) and bright ones (label 1), with noise.
    const label = r.next() < 0.5 ? 0 : 1;
    const rec = Buffer.alloc(3073);
    rec[0] = label;
    for (let p = 1; p < 3073; p++) rec[p] = Math.floor(r.next() * 100) + (label === 1 ? 120 : 0);
    records.push(rec);
  }
  fs.writeFileSync(path.join(dir, 'data_batch_1.bin'), Buffer.concat(records));
  const outcome = await evaluateRule('adam', { ...tiny, model: 'convnet', lrs: [1e-2], finalEpochs: 1, trainExamples: 200, validationExamples: 100 }, { path: dir }, { seed: 2 });
  assert.equal(outcome.status, 'ok', outcome.error);
  assert.ok(outcome.reward > 0.9, `reward ${outcome.reward} (chance 0.5)`);
});

test('loadProtocol: a name that is not a string, and a folder, are named as such', () => {
  assert.throws(() => loadProtocol(null as never), (e: Error) => e instanceof ProtocolError && /protocol must be a preset name \(paper, quick\) or a JSON file's path, received null/.test(e.message));
  assert.throws(() => loadProtocol('' as never), /protocol must be a preset name .* received ""/);
  // A folder used to be reported as 'not valid JSON (EISDIR ...)'.
  assert.throws(() => loadProtocol(dataDir), (e: Error) => e instanceof ProtocolError && e.message.includes(dataDir) && /cannot be read: illegal operation on a directory \(EISDIR\)/.test(e.message));
});
