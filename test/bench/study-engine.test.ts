// The study on the child engine (bench/study/run-study.ts with device host, the engine's CPU twin): a search's rules
// train on the engine end to end, its folder says device cuda at full fidelity, the cache keys name the engine (never
// read by a CPU study), and a second call resumes the search where it stopped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readLedger } from '../../src/search/ledger';
import { jobKey, readCacheFile } from '../../bench/study/result-cache';
import { runStudy, type StudySearch } from '../../bench/study/run-study';
import { PROTOCOL_VERSION } from '../../src/runtime/child/protocol';
import { KERNEL_ABI_VERSION } from '../../src/compiler/kernel-abi';

test('a study search on the engine\'s CPU twin trains its rules, keys its cache by engine and resumes', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-study-engine-'));
  try {
    // A tiny MLP protocol (two rates, one final epoch, 400 examples): seconds per rule on the twin.
    const protocol = path.join(dir, 'tiny.json');
    fs.writeFileSync(protocol, JSON.stringify({ extends: 'quick', name: 'tiny', lrs: [1e-2, 1e-1], finalEpochs: 1, trainExamples: 400, validationExamples: 200, batchSize: 20 }));
    const search: StudySearch = { space: 'sign-family', strategy: 'random', seed: 3, label: '', outDir: path.join(dir, 'study', 'random-seed3') };
    const cacheFile = path.join(dir, 'study', 'results-cache.jsonl');
    const lines: string[] = [];
    const options = { workers: 1, cacheFile, protocol, device: 'host' as const, inFlight: 2, concurrent: 1, log: (l: string) => lines.push(l) };
    const first = await runStudy([search], { ...options, budget: 3 });
    const config = JSON.parse(fs.readFileSync(path.join(search.outDir, 'config.json'), 'utf8'));
    assert.equal(config.device, 'cuda');
    assert.equal(config.fidelity, 'full');
    assert.equal(config.inFlight, 2);
    const results = () => readLedger(path.join(search.outDir, 'ledger.jsonl')).records.flatMap((r) => (r.type === 'result' ? [r] : []));
    assert.equal(new Set(results().map((r) => r.index)).size, 3);
    assert.ok(first.trained >= 1, `no rule trained on the engine: ${JSON.stringify(first)}\n${lines.join('\n')}`);
    const { entries } = readCacheFile(cacheFile);
    assert.equal(entries.length, first.trained);
    for (const e of entries) {
      assert.equal(e.engine, 'host');
      assert.ok(['ok', 'diverged'].includes(e.envelope.status));
      const job = { id: 'x', rule: e.rule, seed: e.seed, protocol: config.protocol, data: config.data, device: 'cuda' as const, versions: { compiler: KERNEL_ABI_VERSION, protocol: PROTOCOL_VERSION } };
      assert.equal(jobKey(job, 'host'), e.key, 'the key is the job\'s with the engine');
      assert.notEqual(jobKey(job), e.key, 'a CPU study\'s key never matches');
    }
    // Resumed with a larger budget: the three rules stay, one more is added.
    await runStudy([search], { ...options, budget: 4 });
    const resumed = [...lines].reverse().find((l) => l.includes('already recorded'));
    assert.match(resumed ?? '', /3 of 4 rules already recorded/, lines.join('\n'));
    assert.equal(new Set(results().map((r) => r.index)).size, 4);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
