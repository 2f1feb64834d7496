// CUDA side of the addon (see cuda_kernel.h); every driver or NVRTC failure becomes a JS error with its context.
#include "cuda/cuda_kernel.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <cmath>
#include <stdexcept>
#include <string>

#include "common/buffers.h"

namespace nos {

using cuda::CUdeviceptr;

namespace {

constexpr size_t kScalarCount = 32;  // NOS_SCALAR_COUNT
struct DeviceTensor {                 // nos_tensor as the CUDA kernel sees it (kernel-abi.ts)
  unsigned long long w, g, s[4];
  long long n;
  unsigned long long rng_base;
};
struct ScalarBlock {
  float v[kScalarCount];
};

// A Float64Array argument (anything else would be read as doubles past its end).
Napi::Float64Array RequireFloat64(const Napi::Env& env, const Napi::Value& value, const char* what) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw Napi::TypeError::New(env, std::string(what) + " must be a Float64Array");
  }
  return value.As<Napi::Float64Array>();
}

// An integer in [0, max] (NaN, fractions and negatives would be undefined behaviour when cast).
double RequireIndex(const Napi::Env& env, const Napi::Value& value, const std::string& what, double max) {
  double x = RequireNumber(env, value, what.c_str());
  if (!(x >= 0 && x <= max && std::floor(x) == x)) {
    throw Napi::RangeError::New(env, what + " must be an integer in [0, " + std::to_string(static_cast<unsigned long long>(max)) + "]");
  }
  return x;
}

cuda::Driver& DriverOrThrow(const Napi::Env& env) {
  try {
    return cuda::LoadDriver();
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

}  // namespace

Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  cuda::Driver& driver = DriverOrThrow(env);
  int count = 0;
  try {
    // No context: the caller (a search's parent process) hands each GPU to a worker and must not hold one itself.
    cuda::Check(driver, driver.cuDeviceGetCount(&count), "cuDeviceGetCount");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  return Napi::Number::New(env, count);
}

Napi::Value CudaDeviceInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  cuda::Driver& driver = DriverOrThrow(env);
  int major = 0, minor = 0, version = 0;
  std::string name;
  try {
    cuda::EnsureContext(driver, &major, &minor, &name);
    cuda::Check(driver, driver.cuDriverGetVersion(&version), "cuDriverGetVersion");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("name", name);
  out.Set("major", major);
  out.Set("minor", minor);
  out.Set("driverVersion", version);
  out.Set("driverPath", driver.path);
  return out;
}

namespace {

struct PtxResult {
  std::string ptx, log, version, path;
};

// One NVRTC compile (no JS involved, so it can run off the JS thread); throws std::runtime_error with the log.
PtxResult CompileToPtx(const std::string& source, const std::string& arch, const std::string& name) {
  cuda::Nvrtc& nvrtc = cuda::LoadNvrtc();
  cuda::nvrtcProgram program = nullptr;
  cuda::nvrtcResult r = nvrtc.nvrtcCreateProgram(&program, source.c_str(), name.c_str(), 0, nullptr, nullptr);
  if (r != 0) throw std::runtime_error(std::string("nvrtcCreateProgram: ") + nvrtc.nvrtcGetErrorString(r));
  std::string arch_flag = "--gpu-architecture=" + arch;
  // --fmad=false: no contraction into FMA, so results follow the interpreter's float32 steps like the CPU kernels;
  // 177: the renderer's shared helpers that a rule does not use.
  const char* options[] = {arch_flag.c_str(), "--std=c++17", "-default-device", "--fmad=false", "--diag-suppress=177"};
  r = nvrtc.nvrtcCompileProgram(program, 5, options);
  size_t log_size = 0;
  nvrtc.nvrtcGetProgramLogSize(program, &log_size);
  std::string log(log_size, '\0');
  if (log_size > 0) nvrtc.nvrtcGetProgramLog(program, &log[0]);
  while (!log.empty() && (log.back() == '\0' || log.back() == '\n')) log.pop_back();
  if (r != 0) {
    nvrtc.nvrtcDestroyProgram(&program);
    throw std::runtime_error(std::string("NVRTC could not compile ") + name + " for " + arch + ": " +
                             nvrtc.nvrtcGetErrorString(r) + (log.empty() ? "" : "\n" + log));
  }
  size_t ptx_size = 0;
  nvrtc.nvrtcGetPTXSize(program, &ptx_size);
  std::string ptx(ptx_size, '\0');
  nvrtc.nvrtcGetPTX(program, &ptx[0]);
  nvrtc.nvrtcDestroyProgram(&program);
  while (!ptx.empty() && ptx.back() == '\0') ptx.pop_back();
  int major = 0, minor = 0;
  nvrtc.nvrtcVersion(&major, &minor);
  return PtxResult{ptx, log, std::to_string(major) + "." + std::to_string(minor), nvrtc.path};
}

Napi::Object PtxObject(const Napi::Env& env, const PtxResult& r) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("ptx", r.ptx);
  out.Set("log", r.log);
  out.Set("nvrtcVersion", r.version);
  out.Set("nvrtcPath", r.path);
  return out;
}

struct CompileArgs {
  std::string source, arch, name;
};

CompileArgs CompileArgsOf(const Napi::CallbackInfo& info, const char* usage) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) throw Napi::TypeError::New(env, usage);
  return CompileArgs{info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value(),
                     info.Length() > 2 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "nos_kernel.cu"};
}

// nvrtcCompileAsync: the compile on the libuv pool (NVRTC is thread-safe), so many rules compile at once and the
// JS thread (and a training round) goes on meanwhile.
class CompileWorker : public Napi::AsyncWorker {
 public:
  CompileWorker(Napi::Env env, CompileArgs args) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), args_(std::move(args)) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }
  void Execute() override {
    try {
      result_ = CompileToPtx(args_.source, args_.arch, args_.name);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(PtxObject(Env(), result_)); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  CompileArgs args_;
  PtxResult result_;
};

}  // namespace

Napi::Value NvrtcCompile(const Napi::CallbackInfo& info) {
  CompileArgs args = CompileArgsOf(info, "nvrtcCompile(source, arch[, name]): expected strings, e.g. arch 'compute_90'");
  try {
    return PtxObject(info.Env(), CompileToPtx(args.source, args.arch, args.name));
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

Napi::Value NvrtcCompileAsync(const Napi::CallbackInfo& info) {
  CompileArgs args = CompileArgsOf(info, "nvrtcCompileAsync(source, arch[, name]): expected strings, e.g. arch 'compute_90'");
  auto* worker = new CompileWorker(info.Env(), std::move(args));
  worker->Queue();
  return worker->Promise();
}

Napi::Value CudaCopyBandwidth(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double bytes_arg = RequireNumber(env, info[0], "cudaCopyBandwidth: bytes");
  double reps_arg = RequireNumber(env, info[1], "cudaCopyBandwidth: reps");
  if (!(bytes_arg >= 4 && bytes_arg <= 68719476736.0 && reps_arg >= 1 && reps_arg <= 100000)) {
    throw Napi::RangeError::New(env, "cudaCopyBandwidth(bytes, reps): bytes in [4, 64 GiB], reps in [1, 100000]");
  }
  size_t bytes = static_cast<size_t>(bytes_arg) / 4 * 4;
  int reps = static_cast<int>(reps_arg);
  cuda::Driver& driver = DriverOrThrow(env);
  CUdeviceptr a = 0, b = 0;
  double seconds = 0;
  try {
    cuda::EnsureContext(driver, nullptr, nullptr, nullptr);
    cuda::Check(driver, driver.cuMemAlloc(&a, bytes), "cuMemAlloc");
    cuda::Check(driver, driver.cuMemAlloc(&b, bytes), "cuMemAlloc");
    cuda::Check(driver, driver.cuMemsetD32(a, 0, bytes / 4), "cuMemsetD32");
    cuda::Check(driver, driver.cuMemcpyDtoD(b, a, bytes), "cuMemcpyDtoD");  // warm
    cuda::Check(driver, driver.cuCtxSynchronize(), "cuCtxSynchronize");
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) cuda::Check(driver, driver.cuMemcpyDtoD(i % 2 ? a : b, i % 2 ? b : a, bytes), "cuMemcpyDtoD");
    cuda::Check(driver, driver.cuCtxSynchronize(), "cuCtxSynchronize");
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } catch (const std::exception& e) {
    if (a) driver.cuMemFree(a);
    if (b) driver.cuMemFree(b);
    throw Napi::Error::New(env, e.what());
  }
  driver.cuMemFree(a);
  driver.cuMemFree(b);
  return Napi::Number::New(env, 2.0 * static_cast<double>(bytes) * reps / seconds / 1e9);
}

Napi::Function CudaKernel::Define(Napi::Env env) {
  Napi::Function fn = DefineClass(env, "CudaKernel", {InstanceMethod("close", &CudaKernel::Close)});
  // Per environment (main thread, each worker thread), freed with it.
  env.SetInstanceData<Napi::FunctionReference>(new Napi::FunctionReference(Napi::Persistent(fn)));
  return fn;
}

bool CudaKernel::IsInstance(Napi::Env env, const Napi::Value& value) {
  Napi::FunctionReference* ctor = env.GetInstanceData<Napi::FunctionReference>();
  return ctor != nullptr && value.IsObject() && value.As<Napi::Object>().InstanceOf(ctor->Value());
}

CudaKernel::CudaKernel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CudaKernel>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "CudaKernel(ptx): expected PTX text");
  std::string ptx = info[0].As<Napi::String>().Utf8Value();
  cuda::Driver& driver = DriverOrThrow(env);
  try {
    cuda::EnsureContext(driver, nullptr, nullptr, nullptr);
    cuda::CheckModuleLoad(driver, driver.cuModuleLoadData(&module_, ptx.c_str()), "cuModuleLoadData (loading the compiled kernel)");
    cuda::Check(driver, driver.cuModuleGetFunction(&function_, module_, "nos_update"),
                "cuModuleGetFunction(nos_update) (the kernel must export extern \"C\" nos_update)");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

CudaKernel::~CudaKernel() {
  if (module_) cuda::LoadDriver().cuModuleUnload(module_);
}

Napi::Value CudaKernel::Close(const Napi::CallbackInfo& info) {
  if (module_) cuda::LoadDriver().cuModuleUnload(module_);
  module_ = nullptr;
  function_ = nullptr;
  return info.Env().Undefined();
}

Napi::Function CudaTensors::Define(Napi::Env env) {
  return DefineClass(env, "CudaTensors",
                     {InstanceMethod("upload", &CudaTensors::Upload), InstanceMethod("download", &CudaTensors::Download),
                      InstanceMethod("uploadAll", &CudaTensors::UploadAll), InstanceMethod("downloadAll", &CudaTensors::DownloadAll),
                      InstanceMethod("step", &CudaTensors::Step), InstanceMethod("stepHost", &CudaTensors::StepHost),
                      InstanceMethod("free", &CudaTensors::Free)});
}

CudaTensors::CudaTensors(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CudaTensors>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[1].IsArray()) {
    throw Napi::TypeError::New(env, "CudaTensors(sizes: Float64Array, slots: number[], rngBases: Float64Array, chunk: number, hostStaging?: boolean)");
  }
  Napi::Float64Array sizes = RequireFloat64(env, info[0], "CudaTensors: sizes");
  Napi::Array slots = info[1].As<Napi::Array>();
  Napi::Float64Array bases = RequireFloat64(env, info[2], "CudaTensors: rngBases");
  // Tensors are launched as entries of `chunk` elements (render-cuda.ts cudaLaunchPlan): a multiple of four keeps each
  // entry at its tensor's alignment.
  const int64_t chunk = static_cast<int64_t>(RequireIndex(env, info[3], "CudaTensors: chunk", 1073741824.0));
  if (chunk < 4 || chunk % 4 != 0) throw Napi::RangeError::New(env, "CudaTensors: chunk must be a positive multiple of 4");
  const bool host_staging = info.Length() > 4 && info[4].IsBoolean() && info[4].As<Napi::Boolean>().Value();
  if (bases.ElementLength() != sizes.ElementLength()) throw Napi::RangeError::New(env, "CudaTensors: rngBases and sizes differ in length");
  if (sizes.ElementLength() > 65535) throw Napi::RangeError::New(env, "CudaTensors: at most 65535 tensors per list (grid y)");
  // Every tensor at a multiple of four floats in its field's allocation (16 bytes, the kernel's vector loads).
  double total = 0;
  for (size_t i = 0; i < sizes.ElementLength(); ++i) {
    const double n = sizes[i];
    const double base = bases[i];
    if (!(n >= 0 && n <= 9007199254740991.0 && std::floor(n) == n) || !(base >= 0 && base <= 9007199254740991.0 && std::floor(base) == base)) {
      throw Napi::RangeError::New(env, "CudaTensors: tensor " + std::to_string(i) + ": size and rngBase must be non-negative integers");
    }
    total += std::ceil(n / 4) * 4;
  }
  // 2^40 floats (4 TiB) per field: beyond any device, and far from overflowing the byte counts below.
  if (total > 1099511627776.0) {
    throw Napi::RangeError::New(env, "CudaTensors: " + std::to_string(static_cast<unsigned long long>(total)) + " elements are more than any device holds");
  }
  bool used[4] = {false, false, false, false};
  for (uint32_t i = 0; i < slots.Length(); ++i) {
    double s = RequireNumber(env, slots.Get(i), "CudaTensors: slot");
    if (!(s >= 0 && s < 4)) throw Napi::RangeError::New(env, "CudaTensors: state slots are 0..3");
    used[static_cast<int>(s)] = true;
  }
  cuda::Driver& driver = DriverOrThrow(env);
  try {
    cuda::EnsureContext(driver, nullptr, nullptr, nullptr);
    size_t at = 0;
    tensors_.reserve(sizes.ElementLength());
    for (size_t i = 0; i < sizes.ElementLength(); ++i) {
      const int64_t n = static_cast<int64_t>(sizes[i]);
      tensors_.push_back(Tensor{n, at});
      at += static_cast<size_t>((n + 3) / 4 * 4);
    }
    field_floats_ = at;
    // At least 16 bytes, so that an empty list (or one of empty tensors) still has buffers to point at.
    const size_t field_bytes = std::max<size_t>(field_floats_, 4) * sizeof(float);
    // State starts at zero like every optimizer's; w and g are uploaded before use (zeroed too: the padding).
    cuda::Check(driver, driver.cuMemAlloc(&wg_, 2 * field_bytes), "cuMemAlloc of w and g (" + std::to_string(2 * field_bytes) + " bytes)");
    cuda::Check(driver, driver.cuMemsetD32(wg_, 0, 2 * field_bytes / 4), "cuMemsetD32");
    for (int s = 0; s < 4; ++s) {
      if (!used[s]) continue;
      cuda::Check(driver, driver.cuMemAlloc(&state_[s], field_bytes), "cuMemAlloc of state slot " + std::to_string(s) + " (" + std::to_string(field_bytes) + " bytes)");
      cuda::Check(driver, driver.cuMemsetD32(state_[s], 0, field_bytes / 4), "cuMemsetD32");
    }
    std::vector<DeviceTensor> table;  // the launch's entries: each tensor cut into chunks
    for (size_t i = 0; i < tensors_.size(); ++i) {
      const Tensor& t = tensors_[i];
      for (int64_t at = 0; at < t.n; at += chunk) {
        const CUdeviceptr skip = (static_cast<CUdeviceptr>(t.offset) + static_cast<CUdeviceptr>(at)) * sizeof(float);
        auto offset = [&](CUdeviceptr p) { return p ? p + skip : 0; };
        table.push_back(DeviceTensor{offset(FieldBase(0)), offset(FieldBase(1)),
                                     {offset(state_[0]), offset(state_[1]), offset(state_[2]), offset(state_[3])},
                                     std::min(chunk, t.n - at), static_cast<unsigned long long>(bases[i]) + static_cast<unsigned long long>(at)});
      }
    }
    if (table.size() > 65535) throw std::runtime_error("CudaTensors: " + std::to_string(table.size()) + " chunks of " + std::to_string(chunk) + " elements: more than 65535 per launch (grid y)");
    entries_ = static_cast<int>(table.size());
    size_t table_bytes = std::max<size_t>(table.size(), 1) * sizeof(DeviceTensor);
    cuda::Check(driver, driver.cuMemAlloc(&table_, table_bytes), "cuMemAlloc for the tensor table");
    if (!table.empty()) cuda::Check(driver, driver.cuMemcpyHtoD(table_, table.data(), table.size() * sizeof(DeviceTensor)), "copying the tensor table");
    if (host_staging) AllocateStaging();
  } catch (const std::exception& e) {
    Release();
    throw Napi::Error::New(env, e.what());
  }
  views_.reserve(2 * tensors_.size());
}

CudaTensors::~CudaTensors() { Release(); }

CUdeviceptr CudaTensors::FieldBase(int field) const {
  if (field == 0) return wg_;
  if (field == 1) return wg_ ? wg_ + static_cast<CUdeviceptr>(std::max<size_t>(field_floats_, 4)) * sizeof(float) : 0;
  return state_[field - 2];
}

// The host side of stepHost's copies: page-locked where the driver offers it (the copies then go straight to the
// device), else ordinary memory aligned like the device buffers. Throws std::runtime_error when there is neither.
void CudaTensors::AllocateStaging() {
  if (staging_) return;
  const size_t bytes = 2 * std::max<size_t>(field_floats_, 4) * sizeof(float);
  cuda::Driver& driver = cuda::LoadDriver();
  void* p = nullptr;
  if (driver.cuMemAllocHost && driver.cuMemAllocHost(&p, bytes) == 0 && p) {
    staging_pinned_ = true;
  } else {
    p = nullptr;
    staging_pinned_ = false;
    if (posix_memalign(&p, 64, bytes) != 0 || !p) {
      throw std::runtime_error("CudaTensors: could not allocate " + std::to_string(bytes) + " bytes of host memory for the copies of w and g");
    }
  }
  staging_ = static_cast<float*>(p);
  std::fill(staging_, staging_ + bytes / sizeof(float), 0.0f);
}

void CudaTensors::Release() {
  const bool device = wg_ || table_ || state_[0] || state_[1] || state_[2] || state_[3];
  if (device) {
    cuda::Driver& driver = cuda::LoadDriver();
    if (wg_) driver.cuMemFree(wg_);
    for (auto& p : state_) {
      if (p) driver.cuMemFree(p);
      p = 0;
    }
    if (table_) driver.cuMemFree(table_);
  }
  wg_ = 0;
  table_ = 0;
  if (staging_) {
    if (staging_pinned_) cuda::LoadDriver().cuMemFreeHost(staging_);
    else std::free(staging_);
  }
  staging_ = nullptr;
  staging_pinned_ = false;
  tensors_.clear();
  field_floats_ = 0;
  entries_ = 0;  // a step after free() launches nothing
}

Napi::Value CudaTensors::Free(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

CUdeviceptr CudaTensors::FieldPointer(const Napi::Env& env, const Napi::Value& field_value, const Napi::Value& index_value, size_t* n) {
  double field = RequireNumber(env, field_value, "field");
  double index = RequireNumber(env, index_value, "tensor index");
  if (!(index >= 0 && index < static_cast<double>(tensors_.size()))) {
    throw Napi::RangeError::New(env, "tensor index " + (std::isfinite(index) ? std::to_string(static_cast<long long>(index)) : std::string("(not finite)")) +
                                         " out of range (" + std::to_string(tensors_.size()) + " tensors)");
  }
  if (!(field >= 0 && field < 6)) throw Napi::RangeError::New(env, "field must be 0 (w), 1 (g) or 2..5 (state slot)");
  const Tensor& t = tensors_[static_cast<size_t>(index)];
  const CUdeviceptr base = FieldBase(static_cast<int>(field));
  if (!base) throw Napi::Error::New(env, "state slot " + std::to_string(static_cast<int>(field) - 2) + " is not used by this rule");
  *n = static_cast<size_t>(t.n);
  return base + static_cast<CUdeviceptr>(t.offset) * sizeof(float);
}

Napi::Value CudaTensors::Upload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t n = 0;
  const CUdeviceptr p = FieldPointer(env, info[0], info[1], &n);
  FloatView host = RequireFloat32(env, info[2], "upload: array");
  if (host.length != n) throw Napi::RangeError::New(env, "upload: array has " + std::to_string(host.length) + " elements, device buffer " + std::to_string(n));
  if (n == 0) return env.Undefined();
  cuda::Driver& driver = DriverOrThrow(env);
  try {
    cuda::Check(driver, driver.cuMemcpyHtoD(p, host.data, n * sizeof(float)), "cuMemcpyHtoD");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  return env.Undefined();
}

Napi::Value CudaTensors::Download(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t n = 0;
  const CUdeviceptr p = FieldPointer(env, info[0], info[1], &n);
  FloatView host = RequireFloat32(env, info[2], "download: array");
  if (host.length != n) throw Napi::RangeError::New(env, "download: array has " + std::to_string(host.length) + " elements, device buffer " + std::to_string(n));
  if (n == 0) return env.Undefined();
  cuda::Driver& driver = DriverOrThrow(env);
  try {
    cuda::Check(driver, driver.cuMemcpyDtoH(host.data, p, n * sizeof(float)), "cuMemcpyDtoH");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  return env.Undefined();
}

void CudaTensors::AddViews(const Napi::Env& env, const Napi::Array& arrays, const std::string& what) {
  const size_t count = tensors_.size();
  if (arrays.Length() != count) {
    views_.clear();
    throw Napi::RangeError::New(env, what + " has " + std::to_string(arrays.Length()) + " arrays, but " + std::to_string(count) + " tensors are bound");
  }
  const std::string prefix = what + "[";
  for (size_t k = 0; k < count; ++k) {
    FloatView v;
    try {
      v = RequireFloat32(env, arrays.Get(static_cast<uint32_t>(k)), Where(prefix.c_str(), static_cast<long long>(k), "]"));
    } catch (...) {
      views_.clear();
      throw;
    }
    if (v.length != static_cast<size_t>(tensors_[k].n)) {
      views_.clear();
      throw Napi::RangeError::New(env, prefix + std::to_string(k) + "] has " + std::to_string(v.length) + " elements, but tensor " + std::to_string(k) +
                                           " was bound with " + std::to_string(tensors_[k].n));
    }
    views_.push_back(v);
  }
}

cuda::CUdeviceptr CudaTensors::FieldArrays(const Napi::Env& env, const Napi::CallbackInfo& info, const char* what) {
  const std::string name = what;
  if (info.Length() < 2 || !info[1].IsArray()) throw Napi::TypeError::New(env, name + "(field, values: Float32Array[])");
  const double field = RequireNumber(env, info[0], (name + ": field").c_str());
  if (!(field >= 0 && field < 6) || std::floor(field) != field) throw Napi::RangeError::New(env, name + ": field must be 0 (w), 1 (g) or 2..5 (state slot)");
  if (!wg_) throw Napi::Error::New(env, name + ": the tensors were freed");
  const CUdeviceptr base = FieldBase(static_cast<int>(field));
  if (!base) throw Napi::Error::New(env, name + ": state slot " + std::to_string(static_cast<int>(field) - 2) + " is not used by this rule");
  views_.clear();
  AddViews(env, info[1].As<Napi::Array>(), name + ": values");
  return base;
}

void CudaTensors::Gather(size_t first, float* into) const {
  for (size_t k = 0; k < tensors_.size(); ++k) {
    const size_t n = static_cast<size_t>(tensors_[k].n);
    if (n > 0) std::memcpy(into + tensors_[k].offset, views_[first + k].data, n * sizeof(float));
  }
}

void CudaTensors::Scatter(size_t first, const float* from) const {
  for (size_t k = 0; k < tensors_.size(); ++k) {
    const size_t n = static_cast<size_t>(tensors_[k].n);
    if (n > 0) std::memcpy(views_[first + k].data, from + tensors_[k].offset, n * sizeof(float));
  }
}

Napi::Value CudaTensors::Staged(const Napi::Env& env, const std::function<void(cuda::Driver&)>& copies) {
  cuda::Driver& driver = DriverOrThrow(env);
  try {
    AllocateStaging();
    cuda::EnsureContext(driver, nullptr, nullptr, nullptr);
    copies(driver);
  } catch (const std::exception& e) {
    views_.clear();
    throw Napi::Error::New(env, e.what());
  }
  views_.clear();
  return env.Undefined();
}

Napi::Value CudaTensors::TransferAll(const Napi::CallbackInfo& info, bool upload) {
  Napi::Env env = info.Env();
  const CUdeviceptr base = FieldArrays(env, info, upload ? "uploadAll" : "downloadAll");
  return Staged(env, [&](cuda::Driver& driver) {
    const size_t bytes = field_floats_ * sizeof(float);
    // The padding between tensors stays zero in the staging buffer (nothing writes it), as on the device.
    if (upload) {
      Gather(0, staging_);
      if (bytes > 0) cuda::Check(driver, driver.cuMemcpyHtoD(base, staging_, bytes), "uploadAll: cuMemcpyHtoD");
    } else {
      if (bytes > 0) cuda::Check(driver, driver.cuMemcpyDtoH(staging_, base, bytes), "downloadAll: cuMemcpyDtoH");
      Scatter(0, staging_);
    }
  });
}

Napi::Value CudaTensors::UploadAll(const Napi::CallbackInfo& info) { return TransferAll(info, true); }

Napi::Value CudaTensors::DownloadAll(const Napi::CallbackInfo& info) { return TransferAll(info, false); }

// The kernel at info[0], then scalars, seed, step, blocks and threadsPerBlock from info[rest] on (step: 1, stepHost:
// 3, after params and grads); the scalars are copied into *block.
CudaTensors::Launch CudaTensors::LaunchArgs(const Napi::CallbackInfo& info, size_t rest, const char* what, void* scalar_block) {
  Napi::Env env = info.Env();
  const std::string name = what;
  if (info.Length() < rest + 5 || !CudaKernel::IsInstance(env, info[0])) {
    throw Napi::TypeError::New(env, rest == 1 ? "step(kernel: CudaKernel, scalars: Float32Array, seed, step, blocks, threadsPerBlock)"
                                              : "stepHost(kernel: CudaKernel, params: Float32Array[], grads: Float32Array[], scalars: Float32Array, seed, step, blocks, threadsPerBlock)");
  }
  CudaKernel* kernel = CudaKernel::Unwrap(info[0].As<Napi::Object>());
  if (!kernel->function()) throw Napi::Error::New(env, name + ": the CUDA kernel was closed");
  FloatView scalars = RequireFloat32(env, info[rest], (name + ": scalars").c_str());
  if (scalars.length < kScalarCount) throw Napi::RangeError::New(env, name + ": scalars must hold at least 32 values");
  ScalarBlock* block = static_cast<ScalarBlock*>(scalar_block);
  std::copy(scalars.data, scalars.data + kScalarCount, block->v);
  Launch launch{};
  launch.function = kernel->function();
  launch.seed = static_cast<unsigned int>(RequireIndex(env, info[rest + 1], name + ": seed", 4294967295.0));
  launch.step = static_cast<unsigned int>(RequireIndex(env, info[rest + 2], name + ": step", 4294967295.0));
  // The launch's shape comes from the renderer (render-cuda.ts cudaLaunchPlan), which knows how the kernel spreads a
  // tensor over threads; any shape is correct, the plan's covers each entry in one pass.
  launch.grid_x = static_cast<unsigned int>(RequireIndex(env, info[rest + 3], name + ": blocks", 2147483647.0));
  launch.block_size = static_cast<unsigned int>(RequireIndex(env, info[rest + 4], name + ": threadsPerBlock", 1024.0));
  if (launch.grid_x == 0 || launch.block_size == 0 || static_cast<double>(launch.grid_x) * launch.block_size >= 2147483648.0) {
    throw Napi::RangeError::New(env, name + ": blocks and threadsPerBlock must be positive, with fewer than 2^31 threads in all");
  }
  return launch;
}

// The launch alone (asynchronous on a GPU); throws std::runtime_error.
void CudaTensors::LaunchAsync(cuda::Driver& driver, Launch& launch, void* scalar_block) {
  int count = entries_;
  void* params[] = {&table_, &count, scalar_block, &launch.seed, &launch.step};
  cuda::Check(driver, driver.cuLaunchKernel(launch.function, launch.grid_x, static_cast<unsigned int>(count), 1, launch.block_size, 1, 1, 0,
                                            nullptr, params, nullptr),
              "cuLaunchKernel(nos_update)");
}

Napi::Value CudaTensors::Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ScalarBlock block;
  Launch launch = LaunchArgs(info, 1, "step", &block);
  if (entries_ == 0) return env.Undefined();
  cuda::Driver& driver = DriverOrThrow(env);
  try {
    cuda::EnsureContext(driver, nullptr, nullptr, nullptr);
    LaunchAsync(driver, launch, &block);
    cuda::Check(driver, driver.cuCtxSynchronize(), "running nos_update");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  return env.Undefined();
}

Napi::Value CudaTensors::StepHost(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ScalarBlock block;
  if (info.Length() >= 3 && (!info[1].IsArray() || !info[2].IsArray())) {
    throw Napi::TypeError::New(env, std::string("stepHost: ") + (info[1].IsArray() ? "grads" : "params") + " must be an Array of Float32Array");
  }
  Launch launch = LaunchArgs(info, 3, "stepHost", &block);
  if (!wg_) throw Napi::Error::New(env, "stepHost: the tensors were freed");
  const size_t count = tensors_.size();
  // Every array checked (type, detached, length) before a byte moves; their memory stays put, as no JS runs until
  // the step returns.
  views_.clear();
  AddViews(env, info[1].As<Napi::Array>(), "stepHost: params");
  AddViews(env, info[2].As<Napi::Array>(), "stepHost: grads");
  return Staged(env, [&](cuda::Driver& driver) {
    const size_t field = std::max<size_t>(field_floats_, 4);
    Gather(0, staging_);              // every w
    Gather(count, staging_ + field);  // every g
    // The padding between tensors goes too: one copy of the whole range is cheaper than a copy per tensor.
    cuda::Check(driver, driver.cuMemcpyHtoD(wg_, staging_, 2 * field * sizeof(float)), "stepHost: copying w and g to the device (cuMemcpyHtoD)");
    if (entries_ > 0) LaunchAsync(driver, launch, &block);
    // The copy back waits for the launch (both on the legacy default stream), so a fault of the kernel shows here.
    cuda::Check(driver, driver.cuMemcpyDtoH(staging_, wg_, field * sizeof(float)), "stepHost: running nos_update and copying w back (cuMemcpyDtoH)");
    Scatter(0, staging_);
  });
}

}  // namespace nos
