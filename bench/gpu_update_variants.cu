// Layouts of the children update timed against each other on a GPU (issue 11's notes: why nos_update_children is
// shaped as it is).  The engine's layout: child k's tensors at k * count (count = 25,322 for the paper's convnet, so
// most children start off a 16-byte boundary), one launch for every child, Adam's and SGD's element code.
//   nvcc -O3 -arch=sm_90 [--fmad=false] bench/gpu_update_variants.cu -o /tmp/variants && /tmp/variants
#include <cuda_runtime.h>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CHECK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { printf("%s: %s\n", #x, cudaGetErrorString(e)); exit(1); } } while (0)

struct Args { const int* members; const int* dead; long long count; float* w; const float* g; float* s0; float* s1; long long stride; };

__device__ __forceinline__ void adam(float& w, float g, float& m, float& v) {
  const float b1 = 0.9f, b2 = 0.999f, omb1 = 0.1f, omb2 = 0.001f, ibc1 = 1.5f, ibc2 = 2.5f, lr = 1e-3f, delta = 1e-8f;
  m = b1 * m + omb1 * g;
  v = b2 * v + omb2 * (g * g);
  w = w - lr * ((m * ibc1) / (sqrtf(fabsf(v * ibc2)) + delta));
}

// v0: what the engine launches now (grid-stride, 64-bit indices, about four elements per thread).
__global__ void v0(Args a) {
  const int slot = a.members[blockIdx.z];
  if (a.dead[slot]) return;
  const long long base = (long long)slot * a.stride;
  float* __restrict__ wp = a.w + base; const float* __restrict__ gp = a.g + base;
  float* __restrict__ s0 = a.s0 + base; float* __restrict__ s1 = a.s1 + base;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < a.count; i += (long long)gridDim.x * blockDim.x) {
    float w = wp[i], m = s0[i], v = s1[i];
    adam(w, gp[i], m, v);
    s0[i] = m; s1[i] = v; wp[i] = w;
  }
}

// v1: one element per thread, 32-bit index within the child.
__global__ void v1(Args a) {
  const int slot = a.members[blockIdx.z];
  if (a.dead[slot]) return;
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= a.count) return;
  const long long base = (long long)slot * a.stride;
  float* __restrict__ wp = a.w + base; const float* __restrict__ gp = a.g + base;
  float* __restrict__ s0 = a.s0 + base; float* __restrict__ s1 = a.s1 + base;
  float w = wp[i], m = s0[i], v = s1[i];
  adam(w, gp[i], m, v);
  s0[i] = m; s1[i] = v; wp[i] = w;
}

// v2: a tile of U * blockDim elements per block, every load of the tile issued before any arithmetic.
template <int U>
__global__ void v2(Args a) {
  const int slot = a.members[blockIdx.z];
  if (a.dead[slot]) return;
  const long long base = (long long)slot * a.stride;
  float* __restrict__ wp = a.w + base; const float* __restrict__ gp = a.g + base;
  float* __restrict__ s0 = a.s0 + base; float* __restrict__ s1 = a.s1 + base;
  const int first = blockIdx.x * blockDim.x * U + threadIdx.x;
  float w[U], g[U], m[U], v[U];
#pragma unroll
  for (int u = 0; u < U; ++u) {
    const int i = first + u * blockDim.x;
    if (i < a.count) { w[u] = wp[i]; g[u] = gp[i]; m[u] = s0[i]; v[u] = s1[i]; }
  }
#pragma unroll
  for (int u = 0; u < U; ++u) {
    const int i = first + u * blockDim.x;
    if (i < a.count) { adam(w[u], g[u], m[u], v[u]); s0[i] = m[u]; s1[i] = v[u]; wp[i] = w[u]; }
  }
}

// v3: 16-byte loads over the child's aligned middle, scalar head and tail.
__global__ void v3(Args a) {
  const int slot = a.members[blockIdx.z];
  if (a.dead[slot]) return;
  const long long base = (long long)slot * a.stride;
  float* __restrict__ wp = a.w + base; const float* __restrict__ gp = a.g + base;
  float* __restrict__ s0 = a.s0 + base; float* __restrict__ s1 = a.s1 + base;
  const int head = (int)((4 - (base & 3)) & 3);
  const int vecs = (int)((a.count - head) >> 2);
  const int tail = head + 4 * vecs;
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t < vecs) {
    const int i = head + 4 * t;
    float4 W = *reinterpret_cast<const float4*>(wp + i), G = *reinterpret_cast<const float4*>(gp + i);
    float4 M = *reinterpret_cast<const float4*>(s0 + i), V = *reinterpret_cast<const float4*>(s1 + i);
    adam(W.x, G.x, M.x, V.x); adam(W.y, G.y, M.y, V.y); adam(W.z, G.z, M.z, V.z); adam(W.w, G.w, M.w, V.w);
    *reinterpret_cast<float4*>(s0 + i) = M; *reinterpret_cast<float4*>(s1 + i) = V; *reinterpret_cast<float4*>(wp + i) = W;
  }
  const int extra = t - vecs;  // threads past the middle take the head and the tail
  int i = -1;
  if (extra >= 0 && extra < head) i = extra;
  else if (extra >= head && extra < head + (int)(a.count - tail)) i = tail + extra - head;
  if (i >= 0) { float w = wp[i], m = s0[i], v = s1[i]; adam(w, gp[i], m, v); s0[i] = m; s1[i] = v; wp[i] = w; }
}

template <typename F>
static float timeMs(F launch) {
  cudaEvent_t a, b;
  CHECK(cudaEventCreate(&a)); CHECK(cudaEventCreate(&b));
  for (int i = 0; i < 5; ++i) launch();
  CHECK(cudaDeviceSynchronize());
  std::vector<float> ms;
  for (int r = 0; r < 30; ++r) {
    CHECK(cudaEventRecord(a)); launch(); CHECK(cudaEventRecord(b)); CHECK(cudaEventSynchronize(b));
    float t; CHECK(cudaEventElapsedTime(&t, a, b)); ms.push_back(t);
  }
  CHECK(cudaGetLastError());
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

int main() {
  const int C = 1024; const long long P = 25322, N = C * P;
  float *w, *g, *s0, *s1, *ref_w, *ref_s0, *ref_s1, *init_w, *init_s0, *init_s1; int *members, *dead;
  for (float** p : {&w, &g, &s0, &s1, &ref_w, &ref_s0, &ref_s1, &init_w, &init_s0, &init_s1}) CHECK(cudaMalloc(p, 4 * N));
  CHECK(cudaMalloc(&members, 4 * C)); CHECK(cudaMalloc(&dead, 4 * C));
  std::vector<int> idx(C); for (int i = 0; i < C; ++i) idx[i] = i;
  CHECK(cudaMemcpy(members, idx.data(), 4 * C, cudaMemcpyHostToDevice)); CHECK(cudaMemset(dead, 0, 4 * C));
  std::vector<float> h(N); srand(7);
  auto fill = [&](float* d, float scale, float shift) { for (auto& x : h) x = shift + scale * (rand() / (float)RAND_MAX - 0.5f); CHECK(cudaMemcpy(d, h.data(), 4 * N, cudaMemcpyHostToDevice)); };
  fill(g, 0.02f, 0.f);
  fill(init_w, 0.2f, 0.f); fill(init_s0, 0.01f, 0.f); fill(init_s1, 1e-4f, 1e-4f);
  auto reset = [&]() {
    for (auto [to, from] : {std::make_pair(w, init_w), std::make_pair(s0, init_s0), std::make_pair(s1, init_s1)}) CHECK(cudaMemcpy(to, from, 4 * N, cudaMemcpyDeviceToDevice));
  };
  Args args{members, dead, P, w, g, s0, s1, P};
  const double bytes = 7.0 * 4 * N;  // w, m, v read and written, g read
  float copy = timeMs([&] { CHECK(cudaMemcpyAsync(ref_w, w, 4 * N, cudaMemcpyDeviceToDevice)); });
  printf("copy D2D %.3f ms, %.0f GB/s (read + written)\n", copy, 8.0 * N / copy / 1e6);
  // Each variant starts from the same state, runs once and must equal v1's (the plain element code): every element
  // written, the same arithmetic.
  reset(); v1<<<dim3((P + 255) / 256, 1, C), 256>>>(args); CHECK(cudaDeviceSynchronize());
  CHECK(cudaMemcpy(ref_w, w, 4 * N, cudaMemcpyDeviceToDevice)); CHECK(cudaMemcpy(ref_s0, s0, 4 * N, cudaMemcpyDeviceToDevice)); CHECK(cudaMemcpy(ref_s1, s1, 4 * N, cudaMemcpyDeviceToDevice));
  struct V { const char* name; void (*launch)(const Args&); };
  const V variants[] = {
    {"v0 grid-stride, 4/thread, 64-bit", [](const Args& a) { v0<<<dim3(std::min<long long>((a.count + 1023) / 1024, 4096), 1, 1024), 256>>>(a); }},
    {"v1 one per thread", [](const Args& a) { v1<<<dim3((a.count + 255) / 256, 1, 1024), 256>>>(a); }},
    {"v2 tile, 2/thread", [](const Args& a) { v2<2><<<dim3((a.count + 511) / 512, 1, 1024), 256>>>(a); }},
    {"v2 tile, 4/thread", [](const Args& a) { v2<4><<<dim3((a.count + 1023) / 1024, 1, 1024), 256>>>(a); }},
    {"v2 tile, 8/thread", [](const Args& a) { v2<8><<<dim3((a.count + 2047) / 2048, 1, 1024), 256>>>(a); }},
    {"v3 float4 middle, 256", [](const Args& a) { v3<<<dim3((a.count / 4 + 8 + 255) / 256, 1, 1024), 256>>>(a); }},
    {"v3 float4 middle, 128", [](const Args& a) { v3<<<dim3((a.count / 4 + 8 + 127) / 128, 1, 1024), 128>>>(a); }},
  };
  std::vector<float> out(N), ref(N);
  for (const V& v : variants) {
    reset(); v.launch(args); CHECK(cudaDeviceSynchronize()); CHECK(cudaGetLastError());
    long long bad = 0;
    for (auto [dev, want] : {std::make_pair(w, ref_w), std::make_pair(s0, ref_s0), std::make_pair(s1, ref_s1)}) {
      CHECK(cudaMemcpy(out.data(), dev, 4 * N, cudaMemcpyDeviceToHost)); CHECK(cudaMemcpy(ref.data(), want, 4 * N, cudaMemcpyDeviceToHost));
      for (long long i = 0; i < N; ++i) bad += out[i] != ref[i];
    }
    const float ms = timeMs([&] { v.launch(args); });
    printf("%-36s %.3f ms  %5.0f GB/s  %5.1f%% of copy  %s\n", v.name, ms, bytes / ms / 1e6, 100.0 * (bytes / ms) / (8.0 * N / copy), bad ? "MISMATCH" : "same as v1");
  }
  return 0;
}
