// The paper's child trained in PyTorch with nos's exported PowerSign and with torch.optim.Adam, next to nos's own rewards.
//
//   npx tsc -p . && node dist/bench/export-protocol.js        (NOS_BENCH_PROTOCOL=quick|paper, NOS_BENCH_SEED, NOS_BENCH_DATA)
//
// Same protocol on both sides (bench/child_protocol_torch.py is src/runtime/child/protocol.ts in PyTorch: data split,
// network, initialization scheme, sweep, divergence rule). Rows: PowerSign as `nos eval powersign` trains it and as
// `nos export powersign --to pytorch` trains it in PyTorch; Adam as nos's `adam` rule and as torch.optim.Adam.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exportRule, exportClassName } from '../src/export';
import { compileRule } from '../src/compiler';
import { evaluateRule, loadProtocol, type EvalOutcome } from '../src/runtime/child/protocol';

const protocolName = process.env.NOS_BENCH_PROTOCOL ?? 'paper';
const seed = Number(process.env.NOS_BENCH_SEED ?? 0);
const dataPath = process.env.NOS_BENCH_DATA;

interface TorchOutcome { reward: number; bestLr: number | null; status: string; seconds: number; sweep: Array<{ lr: number; accuracy: number; status: string }> }

function torchScript(): string {
  const local = path.join(__dirname, 'child_protocol_torch.py');
  return fs.existsSync(local) ? local : path.join(__dirname, '..', '..', 'bench', 'child_protocol_torch.py');
}

function runTorch(protocolJson: string, rule: string): TorchOutcome {
  const res = spawnSync('/usr/bin/python3', [torchScript(), protocolJson, rule, String(seed)], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`PyTorch run failed for ${rule}: ${res.stderr || res.error}`);
  return JSON.parse(res.stdout.trim().split('\n').pop()!) as TorchOutcome;
}

const lrText = (x: number | null): string => (x === null ? '-' : x.toExponential(0)).padEnd(7);
const sweepText = (sweep: Array<{ lr: number; accuracy: number; status: string }>): string =>
  sweep.map((s) => `${s.lr.toExponential(0)} ${s.status === 'ok' ? s.accuracy.toFixed(3) : 'div'}`).join(', ');

async function main(): Promise<void> {
  const protocol = loadProtocol(protocolName);
  const protocolJson = JSON.stringify({ ...protocol, data: dataPath });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nos-bench-export-'));
  const started = Date.now();
  try {
    const powersign = compileRule('powersign');
    const file = path.join(dir, 'nos_power_sign.py');
    fs.writeFileSync(file, exportRule(powersign, 'pytorch'));
    console.log(`protocol ${protocol.name}: ${JSON.stringify(protocol)}; seed ${seed}`);
    console.log('optimizer                                   reward  best lr  seconds');
    const rows: Array<[string, () => Promise<{ reward: number; bestLr: number | null; seconds: number; sweep: TorchOutcome['sweep'] }>]> = [
      ['nos: powersign (nos eval)', () => nosRun('powersign')],
      [`PyTorch: exported ${exportClassName(powersign)}`, async () => runTorch(protocolJson, `export:${file}:${exportClassName(powersign)}`)],
      ['nos: adam (nos eval)', () => nosRun('adam')],
      ['PyTorch: torch.optim.Adam', async () => runTorch(protocolJson, 'adam')],
    ];
    for (const [name, run] of rows) {
      const r = await run();
      console.log(`${name.padEnd(42)} ${r.reward.toFixed(4)}  ${lrText(r.bestLr)} ${r.seconds.toFixed(0).padStart(7)}`);
      console.log(`  sweep: ${sweepText(r.sweep)}`);
    }
    console.log(`total ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }

  async function nosRun(rule: string): Promise<EvalOutcome> {
    const outcome = await evaluateRule(rule, protocol, { path: dataPath }, { seed });
    if (outcome.status === 'error') throw new Error(`nos failed for ${rule}: ${outcome.error}`);
    return outcome;
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
