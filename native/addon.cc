// The nos addon's entry point: registers the exports of native/cpu, native/cuda, native/engine and native/common, nothing more.
#include <napi.h>

#include <thread>

#include "common/buffers.h"
#include "cpu/cpu_kernel.h"
#include "cuda/cuda_kernel.h"
#include "engine/engine_napi.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("CpuKernel", nos::CpuKernel::Define(env));
  exports.Set("CudaKernel", nos::CudaKernel::Define(env));
  exports.Set("CudaTensors", nos::CudaTensors::Define(env));
  exports.Set("cudaDeviceCount", Napi::Function::New(env, nos::CudaDeviceCount, "cudaDeviceCount"));
  exports.Set("cudaDeviceInfo", Napi::Function::New(env, nos::CudaDeviceInfo, "cudaDeviceInfo"));
  exports.Set("nvrtcCompile", Napi::Function::New(env, nos::NvrtcCompile, "nvrtcCompile"));
  exports.Set("nvrtcCompileAsync", Napi::Function::New(env, nos::NvrtcCompileAsync, "nvrtcCompileAsync"));
  exports.Set("cudaCopyBandwidth", Napi::Function::New(env, nos::CudaCopyBandwidth, "cudaCopyBandwidth"));
  exports.Set("ChildEngine", nos::ChildEngine::Define(env));
  exports.Set("childEngineBytes", Napi::Function::New(env, nos::ChildEngineBytes, "childEngineBytes"));
  exports.Set("cudaMemoryInfo", Napi::Function::New(env, nos::CudaMemoryInfo, "cudaMemoryInfo"));
  exports.Set("isDetached", Napi::Function::New(env, nos::IsDetached, "isDetached"));
  exports.Set("viewAddress", Napi::Function::New(env, nos::ViewAddress, "viewAddress"));
  exports.Set("hardwareConcurrency", Napi::Number::New(env, std::thread::hardware_concurrency()));
  return exports;
}

NODE_API_MODULE(nos, Init)
