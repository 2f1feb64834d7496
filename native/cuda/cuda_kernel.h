// CUDA side of the addon: device info, NVRTC compilation, a loaded kernel, and device-resident tensor lists.
#pragma once
#include <napi.h>

#include <vector>

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
class CudaTensors : public Napi::ObjectWrap<CudaTensors> {
 public:
  static Napi::Function Define(Napi::Env env);
  // new CudaTensors(sizes: Float64Array, slots: number[], rngBases: Float64Array, chunk: number)
  explicit CudaTensors(const Napi::CallbackInfo& info);
  ~CudaTensors() override;

 private:
  // upload(field, index, array) / download(field, index, array): field 0 = w, 1 = g, 2 + s = state slot s.
  Napi::Value Upload(const Napi::CallbackInfo& info);
  Napi::Value Download(const Napi::CallbackInfo& info);
  // step(kernel, scalars, seed, step, blocks, threadsPerBlock): one launch over every entry, then a synchronize.
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value Free(const Napi::CallbackInfo& info);
  void Release();
  cuda::CUdeviceptr& FieldPointer(const Napi::Env& env, const Napi::Value& field, const Napi::Value& index, size_t* n);

  struct Tensor {
    int64_t n;
    cuda::CUdeviceptr fields[6];
  };
  std::vector<Tensor> tensors_;
  cuda::CUdeviceptr table_ = 0;  // the launch's entries: tensors cut into chunks (render-cuda.ts cudaLaunchPlan)
  int entries_ = 0;
};

}  // namespace nos
