// Hand-written C++ kernels that follow kernel-abi.ts (SGD, Adam), used to test the JIT independently of the renderer.
import { binary, input, unary, type Node } from '../../src/compiler/ir';
import type { StateName } from '../../src/compiler/kernel-abi';

const PRELUDE = `
#include <stdint.h>
struct nos_tensor { float* w; const float* g; float* s[4]; int64_t n; uint64_t rng_base; };
`;

function wrap(body: string): string {
  return `${PRELUDE}
extern "C" __attribute__((visibility("default")))
void nos_update_range(const nos_tensor* t, int64_t begin, int64_t end, const float* sc, uint32_t seed, uint32_t step) {
  (void)seed; (void)step;
  float* __restrict w = t->w; const float* __restrict g = t->g;
  float* __restrict sm = t->s[0]; float* __restrict sv = t->s[1]; (void)sm; (void)sv;
  const float lr = sc[0], b1 = sc[1], b2 = sc[2], inv1 = sc[4], inv2 = sc[5], delta = sc[7];
  const float omb1 = sc[11], omb2 = sc[12]; (void)b1; (void)b2; (void)inv1; (void)inv2; (void)delta; (void)omb1; (void)omb2;
  for (int64_t i = begin; i < end; ++i) {
${body}
  }
}
extern "C" __attribute__((visibility("default")))
void nos_update_list(const nos_tensor* ts, int32_t count, const float* sc, uint32_t seed, uint32_t step) {
  for (int32_t k = 0; k < count; ++k) nos_update_range(ts + k, 0, ts[k].n, sc, seed, step);
}
`;
}

export interface StandIn { source: string; root: Node; state: StateName[]; decays: []; hash: string }

export const SGD_STAND_IN: StandIn = {
  source: wrap('    w[i] = w[i] - lr * g[i];'),
  root: input('g'),
  state: [],
  decays: [],
  hash: 'standin-sgd',
};

export const ADAM_STAND_IN: StandIn = {
  source: wrap(`    const float gi = g[i];
    const float m = b1 * sm[i] + omb1 * gi; sm[i] = m;
    const float v = b2 * sv[i] + omb2 * (gi * gi); sv[i] = v;
    const float mh = m * inv1, vh = v * inv2;
    const float r = mh / (__builtin_sqrtf(__builtin_fabsf(vh)) + delta);
    w[i] = w[i] - lr * r;`),
  root: binary('div', input('m'), unary('sqrt', input('v'))),
  state: ['m', 'v'],
  decays: [],
  hash: 'standin-adam',
};
