// The child-training kernels: forward, backward, batch-norm statistics, loss, divergence check and scoring of many
// children side by side.  One source for NVRTC (the GPU) and for the host C++ compiler (emu_shim.h, the CPU twin).
//
// Rules every kernel here keeps, so that running a block's threads one after another on the CPU is exact:
//   - no warp intrinsics, no atomics: each output element is written by exactly one thread; threads of a block
//     exchange data only through __shared__ memory across a __syncthreads the whole block reaches (the twin runs
//     such a block's threads as fibers, emu_launch.h), and no thread reads what another block of the launch writes;
//   - reductions are phase-split: a kernel writes per-thread partial sums, a later launch adds them (in double), so
//     results are the same on every run and every target;
//   - float arithmetic is written out operation by operation (compiled with --fmad=false / -ffp-contract=off); the
//     multiply-adds of the convolutions and the GEMM are explicit fmaf, which both targets round once (IEEE fused
//     multiply-add: CUDA's fma.rn.f32, the CPU's vfmadd or libm's fmaf): half the instructions, the same bits on both.
// The children dimension: blockIdx.z indexes `kids`, the list of child slots this launch serves; every per-child
// buffer is a base pointer plus slot * stride.  A child whose `dead` flag is set (diverged) is skipped.
// Index math inside one child is 32-bit (a child's tensors are far below 2^31 elements; 64-bit division is slow on
// both targets); only slot * stride is 64-bit.
// Self-contained for NVRTC: no #include, integer types spelled out, helpers below instead of library calls.

#define NOS_ENGINE_ABI 1

static __device__ __forceinline__ bool nos_finite(float x) { return (__float_as_int(x) & 0x7f800000) != 0x7f800000; }
static __device__ __forceinline__ bool nos_nan(float x) { return x != x; }
static __device__ __forceinline__ int nos_imin(int a, int b) { return a < b ? a : b; }
// The slot of this block's child, or -1 when it is dead (diverged): the whole block then returns.
static __device__ __forceinline__ int nos_slot(const int* kids, const int* dead) {
  const int slot = kids[blockIdx.z];
  return (dead != 0 && dead[slot] != 0) ? -1 : slot;
}

// x[slot][b][d] = images[order[step * B + b]][d], y[slot][b] = labels[...]: the child's batch of this step, from its
// epoch's example order (orders holds one order per distinct (seed, epoch); order_of[slot] picks the child's).
extern "C" __global__ void nos_gather(const int* kids, const int* dead, const float* images, const int* labels,
                                      const unsigned int* orders, const int* order_of, int order_len, int step,
                                      int batch, int features, float* x, long long x_slot, int* y, long long y_slot) {
  const int slot = nos_slot(kids, dead);
  if (slot < 0) return;
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= batch * features) return;
  const int b = i / features;
  const int d = i - b * features;
  const unsigned int example = orders[(long long)order_of[slot] * order_len + (long long)step * batch + b];
  x[slot * x_slot + i] = images[(long long)example * features + d];
  if (d == 0) y[slot * y_slot + b] = labels[example];
}

// out[m][n] = sum_k A[m*sam + k*sak] * B[n*sbn + k*sbk] (+ bias[n]) (ReLU) (* (mask[m][n] > 0)), k ascending.
// A thread computes a 4x4 tile whose rows are ty + 16i and columns tx + 16j of the block's 64x64 tile, so a warp's
// loads and stores of B and out along n are contiguous.  Block 16x16, grid (ceil(N/64), ceil(M/64), kids).
extern "C" __global__ void nos_gemm(const int* kids, const int* dead, int M, int N, int K,
                                    const float* A, long long a_slot, long long sam, long long sak,
                                    const float* B, long long b_slot, long long sbn, long long sbk,
                                    float* out, long long o_slot, long long som,
                                    const float* bias, long long bias_slot, int relu,
                                    const float* mask, long long mask_slot) {
  const int slot = nos_slot(kids, dead);
  if (slot < 0) return;
  const int m0 = blockIdx.y * 64 + threadIdx.y;
  const int n0 = blockIdx.x * 64 + threadIdx.x;
  const float* a = A + slot * a_slot;
  const float* b = B + slot * b_slot;
  float acc[4][4];
  bool mrow[4], ncol[4];
  const float* ap[4];
  const float* bp[4];
  for (int i = 0; i < 4; ++i) {
    mrow[i] = m0 + 16 * i < M;
    ncol[i] = n0 + 16 * i < N;
    ap[i] = a + (long long)(mrow[i] ? m0 + 16 * i : 0) * sam;
    bp[i] = b + (long long)(ncol[i] ? n0 + 16 * i : 0) * sbn;
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
  }
  for (int k = 0; k < K; ++k) {
    float av[4], bv[4];
    for (int i = 0; i < 4; ++i) {
      av[i] = *ap[i];
      bv[i] = *bp[i];
      ap[i] += sak;
      bp[i] += sbk;
    }
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
  }
  float* o = out + slot * o_slot;
  for (int i = 0; i < 4; ++i) {
    if (!mrow[i]) continue;
    const int m = m0 + 16 * i;
    for (int j = 0; j < 4; ++j) {
      if (!ncol[j]) continue;
      const int n = n0 + 16 * j;
      float v = acc[i][j];
      if (bias != 0) v = v + bias[slot * bias_slot + n];
      if (relu != 0 && !(v > 0.0f) && !nos_nan(v)) v = 0.0f;
      if (mask != 0 && !(mask[slot * mask_slot + (long long)m * som + n] > 0.0f)) v = 0.0f;
      o[(long long)m * som + n] = v;
    }
  }
}

// dst[n] = sum_m src[m*row + n] (a bias gradient), in double.  Grid (ceil(N/128), 1, kids), block 128.
extern "C" __global__ void nos_colsum(const int* kids, const int* dead, int M, int N, const float* src, long long s_slot,
                                      long long row, float* dst, long long d_slot) {
  const int slot = nos_slot(kids, dead);
  if (slot < 0) return;
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  if (n >= N) return;
  const float* s = src + slot * s_slot;
  double sum = 0.0;
  for (int m = 0; m < M; ++m) sum += (double)s[(long long)m * row + n];
  dst[slot * d_slot + n] = (float)sum;
}

// dst[j] = sum_p part[p*len + j], in double: the second phase of a split reduction.  Grid (ceil(len/128), 1, kids).
extern "C" __global__ void nos_sum_parts(const int* kids, const int* dead, int parts, int len, const float* part,
                                         long long p_slot, float* dst, long long d_slot) {
  const int slot = nos_slot(kids, dead);
  if (slot < 0) return;
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= len) return;
  const float* p = part + slot * p_slot;
  double sum = 0.0;
  for (int q = 0; q < parts; ++q) sum += (double)p[(long long)q * len + j];
  dst[slot * d_slot + j] = (float)sum;
}

// Softmax cross-entropy per row (as the training graph: LogSoftmax, pick the label, mean): picked[b] = logp[label],
// and, when dlogits is given, dlogits[b][k] = (exp(logp[k]) - onehot[k]) * inv_rows.  Grid (ceil(rows/128), 1, kids).
extern "C" __global__ void nos_softmax_xent(const int* kids, const int* dead, int rows, int classes,
                                            const float* logits, long long l_slot, const int* labels, long long y_slot,
                                            float inv_rows, float* picked, long long p_slot,
                                            float* dlogits, long long d_slot) {
  const int slot = nos_slot(kids, dead);
  if (slot < 0) return;
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= rows) return;
  const float* z = logits + slot * l_slot + (long long)b * classes;
  const int label = labels[slot * y_slot + b];
  float max = z[0];
  for (int k = 1; k < classes; ++k) max = (z[k] > max || nos_nan(z[k])) ? z[k] : max;
  float sum = 0.0f;
  for (int k = 0; k < classes; ++k) sum = sum + expf(z[k] - max);
  const float lse = logf(sum);
  picked[slot * p_slot + b] = (z[label] - max) - lse;
  if (dlogits == 0) return;
  float* d = dlogits + slot * d_slot + (long long)b * classes;
  for (int k = 0; k < classes; ++k) {
    const float p = expf((z[k] - max) - lse);
    d[k] = (p - (k == label ? 1.0f : 0.0f)) * inv_rows;
  }
}

// The step's loss per child (-(sum of picked log-probabilities) / rows, in float like the graph) and the divergence
// check of the training loop: the first loss of a run is remembered; a loss that is not finite or exceeds
// factor * the first marks the child dead before its update.  steps[slot] is the number of updates done after this
// step.  One thread per child: grid (1, 1, kids), block 1.
extern "C" __global__ void nos_loss_check(const int* kids, int* dead, int rows, const float* picked, long long p_slot,
                                          const unsigned int* t0, int step, double factor, float* first_loss,
                                          float* last_loss, unsigned int* steps) {
  const int slot = kids[blockIdx.z];
  if (dead[slot] != 0 || threadIdx.x != 0) return;
  double total = 0.0;
  for (int b = 0; b < rows; ++b) total += (double)picked[slot * p_slot + b];
  const float loss = (float)total * (float)(-1.0 / (double)rows);
  const unsigned int t = t0[slot] + (unsigned int)step;
  if (t == 0u) first_loss[slot] = loss;
  last_loss[slot] = loss;
  if (!nos_finite(loss) || (double)loss > factor * (double)first_loss[slot]) {
    dead[slot] = 1;
    steps[slot] = t;
  } else {
    steps[slot] = t + 1u;
  }
}

// The 3x3 convolutions' shared steps (nos_conv3x3, nos_conv3x3_tiled).  A thread computes a 2x2 block of pixels,
// (y, x) its top-left, for 8 output channels: acc[p][o], pixel p = (y + p / 2, x + p % 2).
// This thread's image b and 2x2 block (y, x) (one thread per block of every image, x fastest); false past the end.
// An odd side's last block is half outside the image: its loads read the zero padding, its stores skip the outside.
static __device__ __forceinline__ bool nos_conv_pixels(int n, int height, int width, int* b, int* y, int* x) {
  const int hh = (height + 1) / 2, hw = (width + 1) / 2;
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= n * hh * hw) return false;
  *b = t / (hh * hw);
  const int rem = t - *b * hh * hw;
  *y = (rem / hw) * 2;
  *x = (rem - (rem / hw) * hw) * 2;
  return true;
}
// The zero-padded 4x4 input window around the block, from one input plane.
static __device__ __forceinline__ void nos_conv_window(const float* src, int height, int width, int y, int x,
                                                       float v[4][4]) {
  for (int r = 0; r < 4; ++r) {
    const int yy = y + r - 1;
    for (int c = 0; c < 4; ++c) {
      const int xx = x + c - 1;
      v[r][c] = (yy >= 0 && yy < height && xx >= 0 && xx < width) ? src[yy * width + xx] : 0.0f;
    }
  }
}
// Tap (ky, kx) of the 8 output channels' weights wv into the four pixels (nos_conv3x3 does the same products output
// channel by output channel, each accumulator in the same order: one weight load at a time, fewer registers).
static __device__ __forceinline__ void nos_conv_tap(const float v[4][4], int ky, int kx, const float wv[8],
                                                    float acc[4][8]) {
  for (int o = 0; o < 8; ++o) {
    acc[0][o] = fmaf(v[ky][kx], wv[o], acc[0][o]);
    acc[1][o] = fmaf(v[ky][kx + 1], wv[o], acc[1][o]);
    acc[2][o] = fmaf(v[ky + 1][kx], wv[o], acc[2][o]);
    acc[3][o] = fmaf(v[ky + 1][kx + 1], wv[o], acc[3][o]);
  }
}
// The 2x2 block's pixels that lie inside the image (right: column x + 1 does, below: row y + 1 does).
static __device__ __forceinline__ void nos_conv_store(float* dst, int plane, int width, bool right, bool below,
                                                      const float acc[4][8]) {
  for (int o = 0; o < 8; ++o) {
    float* d = dst + o * plane;
    d[0] = acc[0][o];
    if (right) d[1] = acc[1][o];
    if (below) d[width] = acc[2][o];
    if (right && below) d[width + 1] = acc[3][o];
  }
}

// 3x3 convolution, stride 1, zero padding 1, NCHW: out[b][o][y][x] = sum_{i,ky,kx} in[b][i][y+ky-1][x+kx-1] * w(o,i,ky,kx)
// with w = weight[(o*cin + i)*9 + ky*3 + kx], or, when flip is set (the input gradient of a convolution whose weight
// is [cin][cout][3][3]), w = weight[(i*cout + o)*9 + (2-ky)*3 + (2-kx)].  Sum order: i, then ky, then kx.
// A thread computes a 2x2 block of pixels for 8 output channels: each weight it loads serves four products (two
// pixels per thread had the weight loads, uniform across the warp, outnumber half the multiply-adds).  cout must be a
// multiple of 8; height and width may be odd.
// Grid (ceil(n*ceil(H/2)*ceil(W/2) / 128), cout/8, kids), block 128.
extern "C" __global__ void nos_conv3x3(const int* kids, const int* dead, int n, int cin, int cout, int height, int width,
                                       const float* in, long long i_slot, const float* weight, long long w_slot, int flip,
                                       float* out, long long o_slot) {
  const int slot = nos_slot(kids, dead);
  if (slot < 0) return;
  int b, y, x;
  if (!nos_conv_pixels(n, height, width, &b, &y, &x)) return;
  const int o0 = blockIdx.y * 8;
  const int plane = height * width;
  const float* src = in + slot * i_slot + b * cin * plane;
  const float* w = weight + slot * w_slot;
  float acc[4][8];
  for (int p = 0; p < 4; ++p)
    for (int o = 0; o < 8; ++o) acc[p][o] = 0.0f;
  for (int i = 0; i < cin; ++i) {
    float v[4][4];
    nos_conv_window(src + i * plane, height, width, y, x, v);
    // Weight (o0 + o, i, ky, kx) at wo + o * ostep + kk * kstep, kk = ky * 3 + kx.
    const int wo = flip ? (i * cout + o0) * 9 + 8 : (o0 * cin + i) * 9;
    const int ostep = flip ? 9 : cin * 9;
    const int kstep = flip ? -1 : 1;
    for (int o = 0; o < 8; ++o) {
      for (int ky = 0; ky < 3; ++ky) {
        for (int kx = 0; kx < 3; ++kx) {
          const float wv = w[wo + o * ostep + (ky * 3 + kx) * kstep];
          acc[0][o] = fmaf(v[ky][kx], wv, acc[0][o]);
          acc[1][o] = fmaf(v[ky][kx + 1], wv, acc[1][o]);
          acc[2][o] = fmaf(v[ky + 1][kx], wv, acc[2][o]);
          acc[3][o] = fmaf(v[ky + 1][kx + 1], wv, acc[3][o]);
        }
      }
    }
  }
  nos_conv_store(out + slot * o_slot + (b * cout + o0) * plane + y * width + x, plane, width, x + 1 < width,
                 y + 1 < height, acc);
}

// The same convolution as nos_conv3x3 (the same threads, pixels, products and sum order, so the same bits), with the
// block's weights staged once in shared memory as [i][ky*3+kx][8 output channels]: a thread reads the eight weights of
// a tap as two 16-byte loads (nos_conv3x3 issues eight 4-byte loads, which outnumber its input loads 9 to 2).
// cin * 72 floats must fit NOS_CONV_SHARED (the engine uses nos_conv3x3 where they do not).
// Grid (ceil(n*ceil(H/2)*ceil(W/2) / 128), cout/8, kids), block 128.
#define NOS_CONV_SHARED 4608
struct alignas(16) nos_w4 {
  float x, y, z, w;
};
extern "C" __global__ void nos_conv3x3_tiled(const int* kids, const int* dead, int n, int cin, int cout, int height,
                                             int width, const float* in, long long i_slot, const float* weight,
                                             long long w_slot, int flip, float* out, long long o_slot) {
  __shared__ nos_w4 wtile[NOS_CONV_SHARED / 4];
  const int slot = nos_slot(kids, dead);
  if (slot < 0) return;  // the whole block
  const int o0 = blockIdx.y * 8;
  const float* w = weight + slot * w_slot;
  // Entry (i, kk, half) holds the weights of output channels o0 + 4*half .. + 3 at input channel i, tap kk.
  for (int e = threadIdx.x; e < cin * 18; e += blockDim.x) {
    const int i = e / 18, kk = (e - i * 18) / 2, half = e & 1;
    const int wo = flip ? (i * cout + o0 + 4 * half) * 9 + 8 - kk : ((o0 + 4 * half) * cin + i) * 9 + kk;
    const int ostep = flip ? 9 : cin * 9;
    nos_w4 q;
    q.x = w[wo];
    q.y = w[wo + ostep];
    q.z = w[wo + 2 * ostep];
    q.w = w[wo + 3 * ostep];
    wtile[e] = q;
  }
  __syncthreads();
  int b, y, x;
  if (!nos_conv_pixels(n, height, width, &b, &y, &x)) return;
  const int plane = height * width;
  const float* src = in + slot * i_slot + b * cin * plane;
  float acc[4][8];
  for (int p = 0; p < 4; ++p)
    for (int o = 0; o < 8; ++o) acc[p][o] = 0.0f;
  for (int i = 0; i < cin; ++i) {
    float v[4][4];
    nos_conv_window(src + i * plane, height, width, y, x, v);
    for (int ky = 0; ky < 3; ++ky) {
      for (int kx = 0; kx < 3; ++kx) {
        const nos_w4 lo = wtile[(i * 9 + ky * 3 + kx) * 2];
        const nos_w4 hi = wtile[(i * 9 + ky * 3 + kx) * 2 + 1];
        const float wv[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
        nos_conv_tap(v, ky, kx, wv, acc);
      }
    }
  }
  nos_conv_store(out + slot * o_slot + (b * cout + o0) * plane + y * width + x, plane, width, x + 1 < width,
                 y + 1 < height, acc);
}

// Partial weight gradient of a 3x3 convolution: part[q][o][i][ky*3+kx] = sum over the images and rows of partial q
// of dy[b][o][y][x] * in[b][i][y+ky-1][x+kx-1].  Block p covers images [ib*img_chunk, ...) and rows
// [rb*row_chunk, ...), p = ib * row_pieces + rb; its threads are `groups` row groups of (cout/4) * cin threads, a thread
// (r, og, i) doing 4 output channels of one input channel over the rows y0 + r, y0 + r + groups, ... into partial
// q = p * groups + r (row groups keep a block full when cin is 1).  threadIdx.x = (r * (cout/4) + og) * cin + i.
// Grid (img_pieces * row_pieces, 1, kids), block groups * (cout/4) * cin (at most 1024).
extern "C" __global__ void nos_conv3x3_wgrad(const int* kids, const int* dead, int n, int cin, int cout, int height,
                                             int width, const float* in, long long i_slot, const float* dy,
                                             long long d_slot, int img_chunk, int row_chunk, int groups, float* part,
                                             long long p_slot) {
  const int slot = nos_slot(kids, dead);
  if (slot < 0) return;
  const int per_group = (cout / 4) * cin;
  if ((int)threadIdx.x >= groups * per_group) return;
  const int r = threadIdx.x / per_group;
  const int og = (threadIdx.x - r * per_group) / cin;
  const int i = threadIdx.x - r * per_group - og * cin;
  const int row_pieces = (height + row_chunk - 1) / row_chunk;
  const int ib = blockIdx.x / row_pieces;
  const int rb = blockIdx.x - ib * row_pieces;
  const int b0 = ib * img_chunk, b1 = nos_imin(n, b0 + img_chunk);
  const int y0 = rb * row_chunk, y1 = nos_imin(height, y0 + row_chunk);
  const int plane = height * width;
  float acc[4][9];
  for (int o = 0; o < 4; ++o)
    for (int k = 0; k < 9; ++k) acc[o][k] = 0.0f;
  for (int b = b0; b < b1; ++b) {
    const float* src = in + slot * i_slot + (b * cin + i) * plane;
    const float* g = dy + slot * d_slot + (b * cout + og * 4) * plane;
    for (int y = y0 + r; y < y1; y += groups) {
      // The 3x3 input window slides along the row: v[ky*3 + kx] = in(y+ky-1, x+kx-1), one new column loaded per
      // pixel (a third of the loads of reading the window whole at every pixel).
      float v[9];
      for (int ky = 0; ky < 3; ++ky) {
        const int yy = y + ky - 1;
        v[ky * 3 + 0] = 0.0f;
        v[ky * 3 + 1] = (yy >= 0 && yy < height) ? src[yy * width] : 0.0f;
      }
      for (int x = 0; x < width; ++x) {
        for (int ky = 0; ky < 3; ++ky) {
          const int yy = y + ky - 1;
          v[ky * 3 + 2] = (yy >= 0 && yy < height && x + 1 < width) ? src[yy * width + x + 1] : 0.0f;
        }
        const int at = y * width + x;
        for (int o = 0; o < 4; ++o) {
          const float gv = g[o * plane + at];
          for (int k = 0; k < 9; ++k) acc[o][k] = fmaf(gv, v[k], acc[o][k]);
        }
        for (int ky = 0; ky < 3; ++ky) {
          v[ky * 3 + 0] = v[ky * 3 + 1];
          v[ky * 3 + 1] = v[ky * 3 + 2];
        }
      }
    }
  }
  float* dst = part + slot * p_slot + (blockIdx.x * groups + r) * cout * cin * 9;
  for (int o = 0; o < 4; ++o)
    for (int k = 0; k < 9; ++k) dst[((og * 4 + o) * cin + i) * 9 + k] = acc[o][k];
}

// The same partial weight gradient as nos_conv3x3_wgrad (the same blocks, threads, partials and sum order, so the
// same bits), with the block's images staged through shared memory a slab of `rows` rows at a time: the input rows
// y0-1 .. y0+rows (zero-padded: no bounds checks in the loop) and the output gradient's rows y0 .. y0+rows-1, read
// from global memory once by the whole block, coalesced.  In nos_conv3x3_wgrad a warp's 32 threads (one per input
// channel) read 32 planes at the same pixel, 32 memory transactions per load; here the planes sit an odd number of
// floats apart, in 32 different shared-memory banks.  The slab fits NOS_WGRAD_SHARED floats (the engine picks rows).
#define NOS_WGRAD_SHARED 12032
extern "C" __global__ void nos_conv3x3_wgrad_tiled(const int* kids, const int* dead, int n, int cin, int cout,
                                                   int height, int width, const float* in, long long i_slot,
                                                   const float* dy, long long d_slot, int img_chunk, int rows,
                                                   int groups, float* part, long long p_slot) {
  __shared__ float tile[NOS_WGRAD_SHARED];
  const int slot = nos_slot(kids, dead);
  if (slot < 0) return;  // the whole block
  const int per_group = (cout / 4) * cin;
  const int active = (int)threadIdx.x < groups * per_group;
  const int r = threadIdx.x / per_group;
  const int og = (threadIdx.x - r * per_group) / cin;
  const int i = threadIdx.x - r * per_group - og * cin;
  const int b0 = blockIdx.x * img_chunk, b1 = nos_imin(n, b0 + img_chunk);
  const int plane = height * width;
  const int pw = width + 2;                          // a padded input row
  const int in_plane = ((rows + 2) * pw) | 1;        // odd: the threads of a warp (input channels) hit distinct banks
  const int dy_plane = (rows * width) | 1;
  float* tin = tile + cout * dy_plane;               // [cin][rows + 2][width + 2], after dy's [cout][rows][width]
  float acc[4][9];
  for (int o = 0; o < 4; ++o)
    for (int k = 0; k < 9; ++k) acc[o][k] = 0.0f;
  for (int b = b0; b < b1; ++b) {
    const float* src = in + slot * i_slot + b * cin * plane;
    const float* g = dy + slot * d_slot + b * cout * plane;
    for (int y0 = 0; y0 < height; y0 += rows) {
      const int here = nos_imin(rows, height - y0);
      __syncthreads();  // the last slab has been read
      for (int e = threadIdx.x; e < cin * (rows + 2) * pw; e += blockDim.x) {
        const int c = e / ((rows + 2) * pw);
        const int rest = e - c * ((rows + 2) * pw);
        const int yy = y0 - 1 + rest / pw;
        const int xx = rest - (rest / pw) * pw - 1;
        const bool inside = yy >= 0 && yy < height && xx >= 0 && xx < width;
        tin[c * in_plane + rest] = inside ? src[c * plane + yy * width + xx] : 0.0f;
      }
      for (int e = threadIdx.x; e < cout * here * width; e += blockDim.x) {
        const int o = e / (here * width);
        const int rest = e - o * (here * width);
        tile[o * dy_plane + rest] = g[o * plane + y0 * width + rest];
      }
      __syncthreads();
      if (!active) continue;
      const float* win = tin + i * in_plane;
      const float* gs = tile + og * 4 * dy_plane;
      // This thread's rows are y0 + r, y0 + r + groups, ... of the image: the first of them in this slab.
      for (int y = (r - y0 % groups + groups) % groups; y < here; y += groups) {
        float v[9];
        for (int ky = 0; ky < 3; ++ky) {
          v[ky * 3 + 0] = 0.0f;
          v[ky * 3 + 1] = win[(y + ky) * pw + 1];
        }
        for (int x = 0; x < width; ++x) {
          for (int ky = 0; ky < 3; ++ky) v[ky * 3 + 2] = win[(y + ky) * pw + x + 2];
          for (int o = 0; o < 4; ++o) {
            const float gv = gs[o * dy_plane + y * width + x];
            for (int k = 0; k < 9; ++k) acc[o][k] = fmaf(gv, v[k], acc[o][k]);
          }
          for (int ky = 0; ky < 3; ++ky) {
            v[ky * 3 + 0] = v[ky * 3 + 1];
            v[ky * 3 + 1] = v[ky * 3 + 2];
          }
        }
      }
    }
  }
  if (!active) return;
  float* dst = part + slot * p_slot + (blockIdx.x * groups + r) * cout * cin * 9;
  for (int o = 0; o < 4; ++o)
    for (int k = 0; k < 9; ++k) dst[((og * 4 + o) * cin + i) * 9 + k] = acc[o][k];
}

// Batch-norm statistics, phase 1: part[c][b][j] = (sum, sum of squares) of lane j's elements of z[b][c][:, :]
// (j, j + lanes, ...), in double.  Grid (ceil(channels*n*lanes / 128), 1, kids), block 128.
extern "C" __global__ void nos_bn_stats_partial(const int* kids, const int* dead, int n, int channels, int plane,
                                                int lanes, const float* z, long long z_slot, double* part,
                                                long long p_slot) {
  const int slot = nos_slot(kids, dead);
  if (slot < 0) return;
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= channels * n * lanes) return;
  const int cb = t / lanes;  // (channel, image) of the thread; lane j takes elements j, j + lanes, ... of its plane
  const int j = t - cb * lanes;
  const int c = cb / n;
  const int b = cb - c * n;
  const float* src = z + slot * z_slot + (b * channels + c) * plane;
  double s = 0.0, ss = 0.0;
  for (int k = j; k < plane; k += lanes) {
    const double v = (double)src[k];
    s += v;
    ss += v * v;
  }
  double* dst = part + slot * p_slot + 2 * (long long)t;
  dst[0] = s;
  dst[1] = ss;
}

// Batch-norm statistics, phase 2, per channel: the batch mean and biased variance, 1/sqrt(var + eps), and the running
// statistics (momentum, unbiased variance as PyTorch) when running_mean is given.  Grid (ceil(channels/32), 1, kids).
extern "C" __global__ void nos_bn_stats_finalize(const int* kids, const int* dead, int n, int channels, int plane,
                                                 int lanes, const double* part, long long p_slot, float eps, double momentum,
                                                 float* mean, float* var, float* invstd, long long s_slot,
                                                 float* running_mean, float* running_var, long long r_slot) {
  const int slot = nos_slot(kids, dead);
  if (slot < 0) return;
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  const double* p = part + slot * p_slot + 2 * (long long)c * n * lanes;
  double s = 0.0, ss = 0.0;
  for (int q = 0; q < n * lanes; ++q) { s += p[2 * q]; ss += p[2 * q + 1]; }
  const double count = (double)n * (double)plane;
  const double m = s / count;
  double v = ss / count - m * m;
  if (v < 0.0) v = 0.0;
  const float mf = (float)m, vf = (float)v;
  const long long at = slot * s_slot + c;
  mean[at] = mf;
  var[at] = vf;
  invstd[at] = 1.0f / sqrtf(vf + eps);
  if (running_mean != 0) {
    const long long r = slot * r_slot + c;
    const double unbias = count / (count > 1.0 ? count - 1.0 : 1.0);
    running_mean[r] = (float)((1.0 - momentum) * (double)running_mean[r] + momentum * (double)mf);
    running_var[r] = (float)((1.0 - momentum) * (double)running_var[r] + momentum * (double)vf * unbias);
  }
}

// Evaluation mode: the running statistics as the normalization.  Grid (ceil(channels/32), 1, kids).
extern "C" __global__ void nos_bn_eval_params(const int* kids, int channels, const float* running_mean,
                                              const float* running_var, long long r_slot, float eps, float* mean,
                                              float* invstd, long long s_slot) {
  const int slot = kids[blockIdx.z];
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  mean[slot * s_slot + c] = running_mean[slot * r_slot + c];
  invstd[slot * s_slot + c] = 1.0f / sqrtf(running_var[slot * r_slot + c] + eps);
}

// Batch norm, 2x2 max pool and ReLU in one pass: a[b][c][py][px] = relu(max over the window of
// (z - mean) * invstd * gamma + beta), PH = floor(H/2), PW = floor(W/2) (an odd side's last row or column is in no
// window, as in PyTorch's MaxPool2d(2)).  arg (when given) keeps a 4-bit mask of the window positions equal to the max:
// the gradient goes to each of them, as in the training graph (Equal(x, upsampled max)); ties are common on images
// with a flat background.  NaN propagates (so a diverging child's loss turns NaN as in the graph).
// Grid (ceil(n*C*PH*PW/128), 1, kids).
extern "C" __global__ void nos_bn_pool_relu(const int* kids, const int* dead, int n, int channels, int height, int width,
                                            const float* z, long long z_slot, const float* mean, const float* invstd,
                                            long long s_slot, const float* params, long long param_slot,
                                            int gamma_at, int beta_at, float* a, long long a_slot,
                                            unsigned char* arg, long long arg_slot) {
  const int slot = nos_slot(kids, dead);
  if (slot < 0) return;
  const int ph = height / 2, pw = width / 2;
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= n * channels * ph * pw) return;
  const int row = t / pw;
  const int px = t - row * pw;
  const int bc = row / ph;
  const int py = row - bc * ph;
  const int c = bc % channels;
  const float m = mean[slot * s_slot + c], is = invstd[slot * s_slot + c];
  const float g = params[slot * param_slot + gamma_at + c], be = params[slot * param_slot + beta_at + c];
  const float* src = z + slot * z_slot + bc * height * width + (2 * py) * width + 2 * px;
  float v[4];
  float best = 0.0f;
  for (int q = 0; q < 4; ++q) {
    v[q] = (src[(q >> 1) * width + (q & 1)] - m) * is * g + be;
    if (q == 0 || v[q] > best || (nos_nan(v[q]) && !nos_nan(best))) best = v[q];
  }
  a[slot * a_slot + t] = (best > 0.0f || nos_nan(best)) ? best : 0.0f;
  if (arg != 0) {
    unsigned int mask = 0;
    for (int q = 0; q < 4; ++q) mask |= (v[q] == best ? 1u : 0u) << q;
    arg[slot * arg_slot + t] = (unsigned char)mask;
  }
}

// Backward through ReLU, max pool and batch norm, phase 1: per (channel, image) the sums of dy and dy * (z - mean)
// over the batch-norm output's gradient dy, which is da * (a > 0) at each window position equal to the window's max
// (arg's mask) and 0 elsewhere; lane j of a (channel, image) takes pooled positions j, j + lanes, ...  In double.
// Grid (ceil(channels*n*lanes/128), 1, kids), block 128.
extern "C" __global__ void nos_bn_pool_backward_partial(const int* kids, const int* dead, int n, int channels,
                                                        int height, int width, int lanes, const float* da, const float* a,
                                                        const unsigned char* arg, long long a_slot, const float* z,
                                                        long long z_slot, const float* mean, long long s_slot,
                                                        double* part, long long p_slot) {
  const int slot = nos_slot(kids, dead);
  if (slot < 0) return;
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= channels * n * lanes) return;
  const int cb = t / lanes;  // (channel, image) of the thread; lane j takes pooled elements j, j + lanes, ...
  const int j = t - cb * lanes;
  const int c = cb / n;
  const int b = cb - c * n;
  const int ph = height / 2, pw = width / 2;
  const int pooled = (b * channels + c) * ph * pw;
  const float* zc = z + slot * z_slot + (b * channels + c) * height * width;
  const float m = mean[slot * s_slot + c];
  double s = 0.0, sx = 0.0;
  for (int k = j; k < ph * pw; k += lanes) {
    const long long at = slot * a_slot + pooled + k;
    if (!(a[at] > 0.0f)) continue;
    const float g = da[at];
    const int mask = arg[at];
    const int py = k / pw, px = k - (k / pw) * pw;
    for (int q = 0; q < 4; ++q) {
      if (((mask >> q) & 1) == 0) continue;
      const float xc = zc[(2 * py + (q >> 1)) * width + 2 * px + (q & 1)] - m;
      s += (double)g;
      sx += (double)g * (double)xc;
    }
  }
  double* dst = part + slot * p_slot + 2 * (long long)t;
  dst[0] = s;
  dst[1] = sx;
}

// Phase 2, per channel: dgamma = sum(dy*xc) * invstd and dbeta = sum(dy) into the gradients, and the coefficients of
// dz = dy*k + xc*cx + c0 (the graph's closed form: k = gamma*invstd, cx = -k*invstd^2*sum(dy*xc)/M, c0 = -k*sum(dy)/M).
// Grid (ceil(channels/32), 1, kids).
extern "C" __global__ void nos_bn_backward_finalize(const int* kids, const int* dead, int n, int channels, int plane,
                                                    int lanes, const double* part, long long p_slot, const float* invstd,
                                                    long long s_slot, const float* params, float* grads,
                                                    long long param_slot, int gamma_at, int beta_at, float* coef,
                                                    long long c_slot) {
  const int slot = nos_slot(kids, dead);
  if (slot < 0) return;
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  const double* p = part + slot * p_slot + 2 * (long long)c * n * lanes;
  double s = 0.0, sx = 0.0;
  for (int q = 0; q < n * lanes; ++q) { s += p[2 * q]; sx += p[2 * q + 1]; }
  const float sum_dy = (float)s, sum_dy_xc = (float)sx;
  const float is = invstd[slot * s_slot + c];
  const float gamma = params[slot * param_slot + gamma_at + c];
  grads[slot * param_slot + gamma_at + c] = sum_dy_xc * is;
  grads[slot * param_slot + beta_at + c] = sum_dy;
  const float neg_inv_count = (float)(-1.0 / ((double)n * (double)plane));
  const float k = gamma * is;
  const float k_inv_var = k * (is * is);
  float* out = coef + slot * c_slot + 3 * (long long)c;
  out[0] = k;
  out[1] = (k_inv_var * sum_dy_xc) * neg_inv_count;
  out[2] = (k * sum_dy) * neg_inv_count;
}

// Phase 3: dz for every element of each 2x2 window: dy*k + (z - mean)*cx + c0, with dy = da*(a > 0) where arg's mask
// marks the window's max and 0 elsewhere.  With an odd side, the threads of the last window column (row) also write
// the column (row) left out of the windows, where dy is 0.  Grid (ceil(n*C*PH*PW/128), 1, kids), block 128.
extern "C" __global__ void nos_bn_pool_backward_apply(const int* kids, const int* dead, int n, int channels, int height,
                                                      int width, const float* da, const float* a,
                                                      const unsigned char* arg, long long a_slot, const float* z,
                                                      long long z_slot, const float* mean, long long s_slot,
                                                      const float* coef, long long c_slot, float* dz) {
  const int slot = nos_slot(kids, dead);
  if (slot < 0) return;
  const int ph = height / 2, pw = width / 2;
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= n * channels * ph * pw) return;
  const int row = t / pw;
  const int px = t - row * pw;
  const int bc = row / ph;
  const int py = row - bc * ph;
  const int c = bc % channels;
  const long long at = slot * a_slot + t;
  const float g = a[at] > 0.0f ? da[at] : 0.0f;
  const int mask = arg[at];
  const float m = mean[slot * s_slot + c];
  const float* cf = coef + slot * c_slot + 3 * (long long)c;
  const long long base = slot * z_slot + bc * height * width + (2 * py) * width + 2 * px;
  for (int w = 0; w < 4; ++w) {
    const long long e = base + (w >> 1) * width + (w & 1);
    const float dy = ((mask >> w) & 1) != 0 ? g : 0.0f;
    const float affine = (z[e] - m) * cf[1] + cf[2];
    dz[e] = dy * cf[0] + affine;
  }
  // An odd side's last column (row) is in no window: dy = 0 there, so dz = 0*k + affine, the same operations as above.
  // The 3x3 around the window's top-left: column 2 when this is the last window column, row 2 the last window row.
  const bool right = px == pw - 1 && width > 2 * pw, below = py == ph - 1 && height > 2 * ph;
  if (!right && !below) return;
  for (int dr = 0; dr < 3; ++dr) {
    for (int dc = 0; dc < 3; ++dc) {
      if ((dr < 2 && dc < 2) || (dc == 2 && !right) || (dr == 2 && !below)) continue;
      const long long e = base + dr * width + dc;
      const float affine = (z[e] - m) * cf[1] + cf[2];
      dz[e] = 0.0f * cf[0] + affine;
    }
  }
}

// Evaluation, per row: whether the arg-max of the logits is the label (first maximum; a row whose maximum is not
// finite never counts) and the row's cross-entropy log(sum exp(z - max)) + max - z[label], in double.
// Grid (ceil(rows/128), 1, kids), block 128.
extern "C" __global__ void nos_score_rows(const int* kids, int rows, int classes, const float* logits, long long l_slot,
                                          const int* labels, double* loss, unsigned char* correct, long long r_slot) {
  const int slot = kids[blockIdx.z];
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= rows) return;
  const float* z = logits + slot * l_slot + (long long)b * classes;
  int best = 0;
  float max = -__int_as_float(0x7f800000);
  for (int k = 0; k < classes; ++k) {
    if (z[k] > max) { max = z[k]; best = k; }
  }
  double sum = 0.0;
  for (int k = 0; k < classes; ++k) sum += exp((double)z[k] - (double)max);
  const int label = labels[b];
  loss[slot * r_slot + b] = log(sum) + (double)max - (double)z[label];
  correct[slot * r_slot + b] = (unsigned char)(best == label && nos_finite(max) ? 1 : 0);
}

// Adds a chunk's rows into the child's totals (correct count, summed loss).  One thread per child.
extern "C" __global__ void nos_score_total(const int* kids, int rows, const double* loss, const unsigned char* correct,
                                           long long r_slot, double* loss_total, unsigned int* correct_total) {
  const int slot = kids[blockIdx.z];
  if (threadIdx.x != 0) return;
  double s = loss_total[slot];
  unsigned int c = correct_total[slot];
  for (int b = 0; b < rows; ++b) {
    s += loss[slot * r_slot + b];
    c += correct[slot * r_slot + b];
  }
  loss_total[slot] = s;
  correct_total[slot] = c;
}

// Whether every parameter is finite, phase 1: flags[slot][t] = 1 when thread t's stride of params holds a NaN or an
// infinity.  Grid (1, 1, kids), block 256.
extern "C" __global__ void nos_nonfinite_partial(const int* kids, long long count, const float* params,
                                                 long long param_slot, unsigned char* flags, long long f_slot) {
  const int slot = kids[blockIdx.z];
  const float* p = params + slot * param_slot;
  unsigned char bad = 0;
  for (long long i = threadIdx.x; i < count; i += blockDim.x) bad = (unsigned char)(bad | (nos_finite(p[i]) ? 0 : 1));
  flags[slot * f_slot + threadIdx.x] = bad;
}

// Phase 2: nonfinite[slot] = any flag.  One thread per child.
extern "C" __global__ void nos_nonfinite_total(const int* kids, int threads, const unsigned char* flags, long long f_slot,
                                               int* nonfinite) {
  const int slot = kids[blockIdx.z];
  if (threadIdx.x != 0) return;
  int bad = 0;
  for (int t = 0; t < threads; ++t) bad |= flags[slot * f_slot + t];
  nonfinite[slot] = bad;
}
