// The C-style dialect both C targets (C++ for the CPU, CUDA) extend: declarations, element access, Philox draws and
// selects through the helpers of cHelpers; each op is written from the op table's C text.
import { Dialect } from './dialect';
import type { OpLanguage } from './ops';
import { uniform } from './philox';

/** What the C++ and CUDA dialects share; each supplies its literals, scalar access, drop and element index. */
export abstract class CDialect extends Dialect {
  readonly language: OpLanguage = 'c';
  decl(name: string, expr: string): string { return `const float ${name} = ${expr};`; }
  load(arr: string): string { return `${this.pointer(arr)}[i]`; }
  store(arr: string, value: string): string { return `${this.pointer(arr)}[i] = ${value};`; }
  draw(site: number): string[] { return [`const nos_u4 r${site} = nos_philox(idx, ${site}u, seed, step);`]; }
  noise(site: number, std: string): string { return `(nos_normal(r${site}.x0, r${site}.x1) * ${std})`; }
  select(p: string, pos: string, neg: string, zero: string, negZero: string): string {
    return `nos_select(${p}, ${pos}, ${neg}, ${zero}, ${negZero})`;
  }
  /** The kernel's local pointer for an array the body names (w, g, s0..s3). */
  protected pointer(arr: string): string { return arr === 'w' ? 'wp' : arr === 'g' ? 'gp' : arr; }
  /** uniform(x) >= p as an integer compare (dropThreshold): exact, and it vectorizes. */
  protected keepTest(site: number, p: number): string { return `(r${site}.x0 >> 8) >= ${dropThreshold(p)}u`; }
}

/**
 * The smallest k = x >>> 8 for which uniform(x) >= p (float32), so a C drop can test integers: keep iff (x >> 8) >= k.
 * uniform is non-decreasing in x >>> 8, so this is exactly the interpreter's float test; 2^24 when nothing passes.
 */
export function dropThreshold(p: number): number {
  const pf = Math.fround(p);
  let lo = 0;
  let hi = 1 << 24;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (uniform(mid << 8 >>> 0) >= pf) hi = mid; else lo = mid + 1;
  }
  return lo;
}

/** Shortest decimal that reads back as this float32 value, in C float-literal form (`1.0f`, `1e-08f`). */
export function cFloatLiteral(x: number, inf: string, nan: string): string {
  const v = Math.fround(x);
  if (Number.isNaN(v)) return nan;
  if (v === Infinity) return inf;
  if (v === -Infinity) return `(-${inf})`;
  if (Object.is(v, -0)) return '(-0.0f)';
  let s = String(v);
  if (!/[.e]/.test(s)) s += '.0';
  return v < 0 ? `(${s}f)` : `${s}f`;
}

/**
 * The C helpers shared by the CPU and CUDA targets; `q` is the function qualifier (static inline / __device__ ...),
 * `signbit(x)` an expression true when float x has its sign bit set.
 */
export function cHelpers(q: string, u32: string, u64: string, signbit: (x: string) => string): string {
  return `struct nos_u4 { ${u32} x0, x1, x2, x3; };
// Philox4x32-10, key (seed, step), counter (index lo, index hi, site, 0); rounds unrolled so the loop vectorizes.
${q} void nos_philox_round(${u32}& c0, ${u32}& c1, ${u32}& c2, ${u32}& c3, ${u32} k0, ${u32} k1) {
  const ${u64} p0 = (${u64})0xD2511F53u * c0;
  const ${u64} p1 = (${u64})0xCD9E8D57u * c2;
  const ${u32} n0 = (${u32})(p1 >> 32) ^ c1 ^ k0;
  const ${u32} n2 = (${u32})(p0 >> 32) ^ c3 ^ k1;
  c1 = (${u32})p1; c3 = (${u32})p0; c0 = n0; c2 = n2;
}
${q} nos_u4 nos_philox(${u64} index, ${u32} site, ${u32} seed, ${u32} step) {
  ${u32} c0 = (${u32})index, c1 = (${u32})(index >> 32), c2 = site, c3 = 0u, k0 = seed, k1 = step;
  nos_philox_round(c0, c1, c2, c3, k0, k1);
${'  k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; nos_philox_round(c0, c1, c2, c3, k0, k1);\n'.repeat(9)}  nos_u4 out; out.x0 = c0; out.x1 = c1; out.x2 = c2; out.x3 = c3;
  return out;
}
${q} float nos_uniform(${u32} x) { return ((float)(int)(x >> 8) + 0.5f) * 5.9604644775390625e-8f; }
${q} float nos_normal(${u32} a, ${u32} b) {
  const float radius = sqrtf(-2.0f * logf(nos_uniform(a)));
  const float angle = 6.2831855f * nos_uniform(b);
  return radius * cosf(angle);
}
// Branch-free (both compares always evaluated) so g++ if-converts and vectorizes them.
${q} float nos_sign(float x) { return (float)((int)(x > 0.0f) - (int)(x < 0.0f)); }
${q} float nos_clip(float x, float l) { const float low = x < -l ? -l : x; return low > l ? l : low; }
${q} float nos_select(float p, float pos, float neg, float zero, float neg_zero) {
  const float either_zero = ${signbit('p')} ? neg_zero : zero;
  const float not_pos = p < 0.0f ? neg : either_zero;
  return p > 0.0f ? pos : not_pos;
}
${q} float nos_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
${q} float nos_pow(float x, float y) { return powf(x, y); }
`;
}

