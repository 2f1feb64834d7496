// CUDA side of the addon: device info, NVRTC compilation, a loaded kernel, and device-resident tensor lists.
#pragma once
#include <napi.h>

#include <functional>
#include <vector>

#include "common/buffers.h"
#include "cuda/cuda_api.h"

namespace nos {

// cudaDeviceInfo() -> { name, major, minor, driverVersion, driverPath }; throws a JS error naming what is missing.
// GPUs the driver can see (CUDA_VISIBLE_DEVICES applies), without creating a context; throws without a driver.
Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info);
Napi::Value CudaDeviceInfo(const Napi::CallbackInfo& info);
// nvrtcCompile(source, arch, name) -> { ptx, log, nvrtcVersion, nvrtcPath }; works without a GPU.
Napi::Value NvrtcCompile(const Napi::CallbackInfo& info);
// nvrtcCompileAsync(source, arch, name) -> Promise of the same, compiled on the libuv thread pool.
Napi::Value NvrtcCompileAsync(const Napi::CallbackInfo& info);
// cudaCopyBandwidth(bytes, reps) -> GB/s of device-to-device copies (bytes read + written), the device's memory peer.
Napi::Value CudaCopyBandwidth(const Napi::CallbackInfo& info);

class CudaKernel : public Napi::ObjectWrap<CudaKernel> {
 public:
  // Defines the class and keeps its constructor in the environment's instance data (one per worker thread).
  static Napi::Function Define(Napi::Env env);
  static bool IsInstance(Napi::Env env, const Napi::Value& value);
  explicit CudaKernel(const Napi::CallbackInfo& info);  // new CudaKernel(ptx)
  ~CudaKernel() override;
  cuda::CUfunction function() const { return function_; }

 private:
  Napi::Value Close(const Napi::CallbackInfo& info);
  cuda::CUmodule module_ = nullptr;
  cuda::CUfunction function_ = nullptr;
};

// Device buffers for a list of tensors: w, g and the used state slots, plus the nos_tensor table on the device.
// Each field of every tensor lies in one allocation, tensor k at the same offset in each (a multiple of four floats,
// so every tensor starts 16-byte aligned when the allocation does): w and g of all tensors share one allocation (w
// of every tensor, then g of every tensor), each used state slot has its own.  stepHost() moves host arrays through
// one host staging buffer, so a step costs the same few driver calls whatever the number of tensors.
class CudaTensors : public Napi::ObjectWrap<CudaTensors> {
 public:
  static Napi::Function Define(Napi::Env env);
  // new CudaTensors(sizes: Float64Array, slots: number[], rngBases: Float64Array, chunk: number, hostStaging?: boolean)
  // hostStaging: allocate stepHost's staging buffer now (else on the first stepHost), so a list too large for the
  // host fails here.
  explicit CudaTensors(const Napi::CallbackInfo& info);
  ~CudaTensors() override;

 private:
  // upload(field, index, array) / download(field, index, array): field 0 = w, 1 = g, 2 + s = state slot s.
  Napi::Value Upload(const Napi::CallbackInfo& info);
  Napi::Value Download(const Napi::CallbackInfo& info);
  // uploadAll(field, values) / downloadAll(field, values): one Float32Array per bound tensor, through the staging
  // buffer in one copy of the whole field (a state dict of a long list: two driver calls per slot, not one per tensor).
  Napi::Value UploadAll(const Napi::CallbackInfo& info);
  Napi::Value DownloadAll(const Napi::CallbackInfo& info);
  Napi::Value TransferAll(const Napi::CallbackInfo& info, bool upload);
  // Runs `copies` (driver calls over the checked views_) with the staging buffer and the context ready, then forgets
  // the views; a driver error becomes a JS error.
  Napi::Value Staged(const Napi::Env& env, const std::function<void(cuda::Driver&)>& copies);
  // views_[first + k] copied into `into` at tensor k's offset in a field (the gather), or back from `from` (the scatter).
  void Gather(size_t first, float* into) const;
  void Scatter(size_t first, const float* from) const;
  // Appends to views_ one view per bound tensor from `arrays`, each checked (a Float32Array of the tensor's bound
  // length); on a bad one, clears views_ and throws a JS error naming `what`[k].
  void AddViews(const Napi::Env& env, const Napi::Array& arrays, const std::string& what);
  // The field's device base for uploadAll/downloadAll, with `arrays` checked into views_ (one per tensor, as bound).
  cuda::CUdeviceptr FieldArrays(const Napi::Env& env, const Napi::CallbackInfo& info, const char* what);
  // step(kernel, scalars, seed, step, blocks, threadsPerBlock): one launch over every entry, then a synchronize.
  Napi::Value Step(const Napi::CallbackInfo& info);
  // stepHost(kernel, params, grads, scalars, seed, step, blocks, threadsPerBlock): params and grads (one Float32Array
  // per bound tensor) gathered into the staging buffer, one copy to the device, the launch, one copy of w back, w
  // scattered into params.  Every argument is checked before anything is copied.
  Napi::Value StepHost(const Napi::CallbackInfo& info);
  Napi::Value Free(const Napi::CallbackInfo& info);
  void Release();
  void AllocateStaging();
  // The device address of a tensor's field; throws a JS error for a bad field or index or an unused slot.
  cuda::CUdeviceptr FieldPointer(const Napi::Env& env, const Napi::Value& field, const Napi::Value& index, size_t* n);
  cuda::CUdeviceptr FieldBase(int field) const;
  struct Launch {
    cuda::CUfunction function;
    unsigned int seed, step, grid_x, block_size;
  };
  // Checks step's (or stepHost's) kernel (info[0]), scalars, seed, step and shape (info[rest] on); copies the scalars.
  Launch LaunchArgs(const Napi::CallbackInfo& info, size_t rest, const char* what, void* scalar_block);
  void LaunchAsync(cuda::Driver& driver, Launch& launch, void* scalar_block);

  struct Tensor {
    int64_t n;
    size_t offset;  // in floats, into each field's allocation
  };
  std::vector<Tensor> tensors_;
  size_t field_floats_ = 0;        // floats per field: every tensor rounded up to a multiple of four
  cuda::CUdeviceptr wg_ = 0;       // w of every tensor, then g of every tensor (2 * field_floats_)
  cuda::CUdeviceptr state_[4] = {0, 0, 0, 0};  // per used state slot (field_floats_ each)
  float* staging_ = nullptr;       // host copy of w then g, laid out like wg_
  bool staging_pinned_ = false;    // from cuMemAllocHost (else aligned malloc)
  cuda::CUdeviceptr table_ = 0;  // the launch's entries: tensors cut into chunks (render-cuda.ts cudaLaunchPlan)
  int entries_ = 0;
  std::vector<FloatView> views_;  // stepHost's params then grads, reused between steps
};

}  // namespace nos
