// CpuKernel (see cpu_kernel.h): dlopen, argument checks, and the split of a tensor list over the thread pool.
#include "cpu/cpu_kernel.h"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "common/buffers.h"
#include "common/library_check.h"
#include "cpu/thread_pool.h"

namespace nos {

namespace {

constexpr int kArraysPerTensor = 2;  // w, g
constexpr size_t kScalarCount = 32;  // NOS_SCALAR_COUNT in kernel-abi.ts
// Below this many elements a piece is not worth a thread hand-off; a multiple of 16 floats (64 bytes).
constexpr int64_t kMinPieceElements = 1 << 15;
constexpr int64_t kAlignElements = 16;  // 64 bytes of float

// A unit of work: whole tensors [first, last) in one nos_update_list call, or [begin, end) of tensor `first`.
struct Piece {
  int32_t first;
  int32_t last;
  int64_t begin;
  int64_t end;
  bool whole;
};

struct Job {
  nos_update_range_fn update_range;
  nos_update_list_fn update_list;
  const std::vector<nos_tensor>* tensors;
  const std::vector<Piece>* pieces;
  std::atomic<size_t> next{0};
  const float* scalars;
  uint32_t seed;
  uint32_t step;
};

void RunPieces(void* context, int /*participant*/) {
  Job* job = static_cast<Job*>(context);
  const nos_tensor* ts = job->tensors->data();
  for (;;) {
    size_t i = job->next.fetch_add(1, std::memory_order_relaxed);
    if (i >= job->pieces->size()) return;
    const Piece& p = (*job->pieces)[i];
    if (p.whole) {
      job->update_list(ts + p.first, p.last - p.first, job->scalars, job->seed, job->step);
    } else {
      job->update_range(ts + p.first, p.begin, p.end, job->scalars, job->seed, job->step);
    }
  }
}

// Splits the list into pieces of about `piece` elements (a multiple of 16): big tensors cut at 64-byte boundaries of
// w, small ones grouped into one nos_update_list call.
std::vector<Piece> PlanPieces(const std::vector<nos_tensor>& tensors, int64_t piece) {
  std::vector<Piece> pieces;
  int32_t group_first = -1;
  int64_t group_size = 0;
  auto flush_group = [&](int32_t end) {
    if (group_first >= 0) pieces.push_back(Piece{group_first, end, 0, 0, true});
    group_first = -1;
    group_size = 0;
  };
  for (int32_t i = 0; i < static_cast<int32_t>(tensors.size()); ++i) {
    int64_t n = tensors[i].n;
    if (n >= piece) {
      flush_group(i);
      // Cut where w's address is a multiple of 64 bytes, so two threads never write the same cache line of w.
      const int64_t misaligned = static_cast<int64_t>((reinterpret_cast<uintptr_t>(tensors[i].w) / sizeof(float)) % kAlignElements);
      int64_t b = 0;
      int64_t e = std::min(n, (kAlignElements - misaligned) % kAlignElements + piece);
      while (b < n) {
        pieces.push_back(Piece{i, i + 1, b, e, false});
        b = e;
        e = std::min(n, e + piece);
      }
    } else {
      if (group_first < 0) group_first = i;
      group_size += n;
      if (group_size >= piece) flush_group(i + 1);
    }
  }
  flush_group(static_cast<int32_t>(tensors.size()));
  return pieces;
}

}  // namespace

Napi::Function CpuKernel::Define(Napi::Env env) {
  return DefineClass(env, "CpuKernel",
                     {InstanceMethod("update", &CpuKernel::Update), InstanceMethod("close", &CpuKernel::Close),
                      InstanceAccessor("path", &CpuKernel::GetPath, nullptr)});
}

CpuKernel::CpuKernel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CpuKernel>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    throw Napi::TypeError::New(env, "CpuKernel(path): expected the path of a compiled kernel library (string)");
  }
  path_ = info[0].As<Napi::String>().Utf8Value();
  const std::string truncated = TruncatedElfReason(path_);
  if (!truncated.empty()) throw Napi::Error::New(env, "could not load the kernel library " + path_ + ": " + truncated);
  dlerror();
  handle_ = dlopen(path_.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle_) {
    const char* why = dlerror();
    throw Napi::Error::New(env, "could not load the kernel library " + path_ + ": " + (why ? why : "unknown dlopen error"));
  }
  update_range_ = reinterpret_cast<nos_update_range_fn>(dlsym(handle_, "nos_update_range"));
  update_list_ = reinterpret_cast<nos_update_list_fn>(dlsym(handle_, "nos_update_list"));
  if (!update_range_ || !update_list_) {
    dlclose(handle_);
    handle_ = nullptr;
    throw Napi::Error::New(env, "the kernel library " + path_ +
                                    " does not export nos_update_range and nos_update_list (see kernel-abi.ts)");
  }
  const uint32_t* slots = reinterpret_cast<const uint32_t*>(dlsym(handle_, "nos_state_slots"));
  if (slots) state_slots_ = *slots & 0xFu;
}

CpuKernel::~CpuKernel() {
  if (handle_) dlclose(handle_);
}

Napi::Value CpuKernel::GetPath(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), path_); }

Napi::Value CpuKernel::Close(const Napi::CallbackInfo& info) {
  if (handle_) dlclose(handle_);
  handle_ = nullptr;
  update_range_ = nullptr;
  update_list_ = nullptr;
  return info.Env().Undefined();
}

Napi::Value CpuKernel::Update(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!handle_) throw Napi::Error::New(env, "update: this kernel was closed (" + path_ + ")");
  if (info.Length() < 7) {
    throw Napi::TypeError::New(env, "update(pairs, offsets, state, scalars, seed, step, threads): expected 7 arguments");
  }
  if (!info[0].IsArray()) throw Napi::TypeError::New(env, "update: pairs must be an Array [w0, g0, w1, g1, ...] of Float32Array");
  Napi::Array pairs = info[0].As<Napi::Array>();
  uint32_t entries = pairs.Length();
  if (entries % kArraysPerTensor != 0) {
    throw Napi::RangeError::New(env, "update: pairs must hold 2 entries per tensor (w, g), received " + std::to_string(entries));
  }
  size_t count = entries / kArraysPerTensor;
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw Napi::TypeError::New(env, "update: offsets must be a Float64Array");
  }
  Napi::Float64Array offsets = info[1].As<Napi::Float64Array>();
  if (offsets.ElementLength() != count) {
    throw Napi::RangeError::New(env, "update: offsets has " + std::to_string(offsets.ElementLength()) + " entries for " +
                                         std::to_string(count) + " tensors");
  }
  if (!info[2].IsArray() || info[2].As<Napi::Array>().Length() != 4) {
    throw Napi::TypeError::New(env, "update: state must be an Array of 4 slots (Float32Array or null)");
  }
  Napi::Array state_slots = info[2].As<Napi::Array>();
  FloatView state[4];
  bool has_state[4] = {false, false, false, false};
  for (uint32_t s = 0; s < 4; ++s) {
    Napi::Value v = state_slots.Get(s);
    if (v.IsNull() || v.IsUndefined()) continue;
    state[s] = RequireFloat32(env, v, Where("update: state slot ", s, ""));
    has_state[s] = true;
  }
  for (uint32_t s = 0; s < 4; ++s) {
    if ((state_slots_ >> s & 1u) && !has_state[s]) {
      static const char* const kSlotNames[4] = {"m", "v", "y", "mom"};
      throw Napi::TypeError::New(env, "update: this kernel reads and writes state slot " + std::to_string(s) + " (" +
                                          kSlotNames[s] + "), but state[" + std::to_string(s) + "] is null");
    }
  }
  FloatView scalars = RequireFloat32(env, info[3], "update: scalars");
  if (scalars.length < kScalarCount) {
    throw Napi::RangeError::New(env, "update: scalars must hold at least 32 values, received " + std::to_string(scalars.length));
  }
  double seed = RequireNumber(env, info[4], "update: seed");
  double step = RequireNumber(env, info[5], "update: step");
  double threads_arg = RequireNumber(env, info[6], "update: threads");
  if (!(seed >= 0 && seed <= 4294967295.0 && std::floor(seed) == seed)) throw Napi::RangeError::New(env, "update: seed must be an integer in [0, 2^32)");
  if (!(step >= 0 && step <= 4294967295.0 && std::floor(step) == step)) throw Napi::RangeError::New(env, "update: step must be an integer in [0, 2^32)");
  if (!(threads_arg >= 0 && threads_arg <= 1024 && std::floor(threads_arg) == threads_arg)) {
    throw Napi::RangeError::New(env, "update: threads must be an integer in [0, 1024]");
  }

  std::vector<nos_tensor> tensors(count);
  int64_t total = 0;
  for (size_t i = 0; i < count; ++i) {
    FloatView w = RequireFloat32(env, pairs.Get(static_cast<uint32_t>(i * kArraysPerTensor)), Where("update: tensor ", static_cast<long long>(i), " w"));
    FloatView g = RequireFloat32(env, pairs.Get(static_cast<uint32_t>(i * kArraysPerTensor + 1)), Where("update: tensor ", static_cast<long long>(i), " g"));
    if (g.length != w.length) {
      throw Napi::RangeError::New(env, "update: tensor " + std::to_string(i) + ": g has " + std::to_string(g.length) +
                                           " elements, w has " + std::to_string(w.length));
    }
    double offset = offsets[i];
    if (!(offset >= 0 && offset <= 9007199254740991.0 && std::floor(offset) == offset)) {
      throw Napi::RangeError::New(env, "update: tensor " + std::to_string(i) + ": offset must be a non-negative integer");
    }
    nos_tensor& t = tensors[i];
    t.w = w.data;
    t.g = g.data;
    t.n = static_cast<int64_t>(w.length);
    t.rng_base = static_cast<uint64_t>(offset);
    for (int s = 0; s < 4; ++s) {
      t.s[s] = nullptr;
      if (!has_state[s]) continue;
      if (offset + static_cast<double>(w.length) > static_cast<double>(state[s].length)) {
        throw Napi::RangeError::New(env, "update: tensor " + std::to_string(i) + " needs state elements [" +
                                             std::to_string(t.rng_base) + ", " + std::to_string(t.rng_base + w.length) +
                                             ") but state slot " + std::to_string(s) + " has " + std::to_string(state[s].length));
      }
      t.s[s] = state[s].data + t.rng_base;
    }
    total += t.n;
  }
  if (count == 0 || total == 0) return env.Undefined();

  int threads = static_cast<int>(threads_arg);
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  uint32_t seed32 = static_cast<uint32_t>(seed);
  uint32_t step32 = static_cast<uint32_t>(step);
  if (threads == 1 || total < 2 * kMinPieceElements) {
    update_list_(tensors.data(), static_cast<int32_t>(count), scalars.data, seed32, step32);
    return env.Undefined();
  }
  // About four pieces per thread, so a thread slowed by other load does not hold the others up.
  int64_t piece = (total + threads * 4 - 1) / (threads * 4);
  piece = std::max(kMinPieceElements, (piece + kAlignElements - 1) / kAlignElements * kAlignElements);
  std::vector<Piece> pieces = PlanPieces(tensors, piece);
  Job job;
  job.update_range = update_range_;
  job.update_list = update_list_;
  job.tensors = &tensors;
  job.pieces = &pieces;
  job.scalars = scalars.data;
  job.seed = seed32;
  job.step = step32;
  int participants = static_cast<int>(std::min<size_t>(static_cast<size_t>(threads), pieces.size()));
  ThreadPool::Shared().Run(participants, RunPieces, &job);
  return env.Undefined();
}

}  // namespace nos
