// Random rules (controller token form and infix) through the whole pipeline: compileRule, the CPU renderer, the
// runtime's JIT compile and the native kernel, against the compiler's reference interpreter.  kernel-fuzz.test.ts runs a
// short fixed-seed run; by hand, a longer one:
//   node --import tsx test/runtime/kernel-fuzz.ts [rules=200] [seed=1] [--extremes] [--threads]
import { compileRule, type RuleInfo } from '../../src/compiler';
import { BASE_OPERAND_TOKENS, BINARY_TOKENS, UNARY_TOKENS } from '../../src/compiler/tokens';
import { interpretStep } from '../../src/compiler/interpret';
import { topoOrder } from '../../src/compiler/ir';
import { NOS_SCALAR_COUNT, STATE_SLOTS, type JsTensor } from '../../src/compiler/kernel-abi';
import { fillScalars } from '../../src/compiler/decays';
import { createRunner } from '../../src/runtime/devices';
import { ulps } from '../support/float32-ulps';

export function seeded(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
}

/** A random rule text: half in the controller's token form (1 to 4 groups), half infix with what tokens lack. */
export function randomRuleText(random: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  if (random() < 0.5) {
    const groups = 1 + Math.floor(random() * 4);
    const out: string[] = [];
    for (let k = 0; k < groups; k++) {
      const operands = [...BASE_OPERAND_TOKENS, 'cd2', 'rd10', ...Array.from({ length: k }, (_, j) => `o${j + 1}`)];
      out.push([pick(operands), pick(operands), pick(UNARY_TOKENS), pick(UNARY_TOKENS), pick(BINARY_TOKENS)].join(' '));
    }
    return out.join(' | ');
  }
  const leaves = ['g', 'g2', 'g3', 'm', 'v', 'y', 'w', 'mom', 'sign(g)', 'sign(m)', 'noise', 'anoise', 'noise@0', 'ld', 'cd', 'rd(3)',
    '2', '0.5', '1e-3', '-1', '0', 'adam', 'rmsprop', 'e'];
  const grow = (depth: number): string => {
    if (depth === 0 || random() < 0.2) return pick(leaves);
    const r = random();
    if (r < 0.35) {
      const f = pick(['exp', 'log', 'sqrt', 'sign', 'neg', 'sigmoid', 'clip', 'drop']);
      if (f === 'clip') return `clip(${grow(depth - 1)}, ${pick(['1e-5', '0.5', '2'])})`;
      if (f === 'drop') return `drop(${grow(depth - 1)}, ${pick(['0', '0.1', '0.5', '0.9'])})`;
      return `${f}(${grow(depth - 1)})`;
    }
    return `(${grow(depth - 1)} ${pick(['+', '-', '*', '/', '^', '*'])} ${grow(depth - 1)})`;
  };
  return grow(1 + Math.floor(random() * 4));
}

/** Whether the rule calls libm (exp, log, sigmoid, pow, and the normal draws' logf/cosf), where C and Math may differ. */
export function usesLibm(info: RuleInfo): boolean {
  return topoOrder(info.root).some((n) => n.kind === 'noise'
    || (n.kind === 'unary' && (n.op === 'exp' || n.op === 'log' || n.op === 'sigmoid'))
    || (n.kind === 'binary' && n.op === 'pow'));
}

/**
 * Runs `info` for `steps` steps on the native CPU kernel and the interpreter from the same inputs, comparing after
 * every step and then continuing both from the interpreter's w (so a rule that reads w does not compound a difference).
 * Returns '' when they agree: state exactly; w exactly (bit for bit) for a rule without libm calls. With libm calls
 * (glibc's expf, logf, powf, cosf may differ from Math's in the last bit, and the rule may amplify that: a pow whose
 * exponent is a log, a division by a near-zero noise), w must be NaN, or the same infinity, exactly where the
 * interpreter's is, and otherwise within 2^-16 of it relative to max(1, |w|): far below any wrong operation, select
 * entry, draw or decay.
 */
export function compareWithInterpreter(info: RuleInfo, random: () => number, cacheDir: string,
  { sizes = [1, 7, 16, 33, 100], steps = 3, threads = 1, extremes = false } = {}): string {
  const runner = createRunner(info, 'cpu', { threads, cacheDir });
  if (runner.device !== 'cpu') return `ran on ${runner.device}, not the native kernel`;
  runner.bind(sizes);
  const params = sizes.map((n) => Float32Array.from({ length: n }, () => (random() - 0.5) * 4));
  const reference: JsTensor[] = [];
  let base = 0;
  for (const p of params) {
    reference.push({ w: p.slice(), g: new Float32Array(p.length), s: STATE_SLOTS.map((s) => (info.state.includes(s) ? new Float32Array(p.length) : undefined)), rngBase: base });
    base += p.length;
  }
  const libm = usesLibm(info);
  const scalars = new Float32Array(NOS_SCALAR_COUNT);
  // Zeros of both signs, and where asked the float32 extremes: subnormals, huge values, infinities and NaN.
  const special = [0, -0, 1e-40, -1e-42, 3e38, -3e38, Infinity, -Infinity, NaN];
  for (let t = 1; t <= steps; t++) {
    const grads = sizes.map((n) => Float32Array.from({ length: n }, () => (random() < 0.1 ? 0 * Math.sign(random() - 0.5)
      : extremes && random() < 0.1 ? special[Math.floor(random() * special.length)] : (random() - 0.5) * 0.2)));
    grads.forEach((gr, k) => reference[k].g.set(gr));
    fillScalars(info, { lr: 0.01 }, t, 10, scalars);
    runner.step(params, grads, scalars, 77, t);
    interpretStep(info, reference, scalars, 77, t);
    for (let k = 0; k < sizes.length; k++) {
      for (const s of info.state) {
        const slot = STATE_SLOTS.indexOf(s);
        const [a, b] = [runner.readSlot(slot)[k], reference[k].s[slot]!];
        for (let i = 0; i < a.length; i++) {
          if (!Object.is(a[i], b[i]) && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return `step ${t} tensor ${k} state ${s}[${i}]: kernel ${a[i]}, interpreter ${b[i]}`;
        }
      }
      for (let i = 0; i < params[k].length; i++) {
        const [a, b] = [params[k][i], reference[k].w[i]];
        if (Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b))) continue;
        const close = libm && Number.isFinite(a) && Number.isFinite(b) && Math.abs(a - b) <= 2 ** -16 * Math.max(1, Math.abs(b));
        if (!close) return `step ${t} tensor ${k} w[${i}]: kernel ${a}, interpreter ${b} (${ulps(a, b)} ulps${libm ? '' : ', a rule without libm calls'})`;
      }
      params[k].set(reference[k].w);
    }
  }
  runner.dispose();
  return '';
}

/** `count` random rules that compile (rules the front end refuses are skipped), with the seed each was drawn from. */
export function randomRules(count: number, seed: number): Array<{ text: string; info: RuleInfo }> {
  const random = seeded(seed);
  const out: Array<{ text: string; info: RuleInfo }> = [];
  const seen = new Set<string>();
  for (let tries = 0; out.length < count && tries < count * 50; tries++) {
    const text = randomRuleText(random);
    let info: RuleInfo;
    try {
      info = compileRule(text);
    } catch (err) {
      if ((err as Error).name === 'NosSyntaxError') continue;
      throw new Error(`compileRule(${JSON.stringify(text)}) threw ${(err as Error).stack}`);
    }
    if (seen.has(info.hash)) continue;
    seen.add(info.hash);
    out.push({ text, info });
  }
  return out;
}

if (require.main === module) {
  const count = Number(process.argv[2] ?? 200);
  const seed = Number(process.argv[3] ?? 1);
  const extremes = process.argv.includes('--extremes');
  const sizes = process.argv.includes('--threads') ? [70_001, 3, 40_000, 1] : undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dir = require('node:fs').mkdtempSync(require('node:path').join(require('node:os').tmpdir(), 'nos-kernel-fuzz-'));
  const random = seeded(seed * 7919);
  let failed = 0;
  for (const { text, info } of randomRules(count, seed)) {
    let why: string;
    try {
      why = compareWithInterpreter(info, random, dir, { extremes, sizes, threads: sizes ? 2 : 1 });
    } catch (err) {
      why = `threw ${(err as Error).message.split('\n').slice(0, 3).join(' / ')}`;
    }
    if (why) { failed++; console.log(`MISMATCH ${JSON.stringify(text)} -> ${info.canonical}: ${why}`); }
  }
  console.log(`${count} rules (seed ${seed}): ${failed} mismatches`);
  require('node:fs').rmSync(dir, { recursive: true, force: true });
}
