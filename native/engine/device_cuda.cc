// The GPU behind the child engine (see device.h): the CUDA driver found at run time (cuda_api.h), PTX modules from
// NVRTC, launches on the default stream.  Every driver failure becomes std::runtime_error with its context.
#include <memory>
#include <stdexcept>
#include <string>

#include "cuda/cuda_api.h"
#include "engine/device.h"

namespace nos {
namespace engine {

namespace {

class CudaModule : public Module {
 public:
  CudaModule(cuda::Driver& driver, const std::string& ptx) : driver_(driver) {
    cuda::CheckModuleLoad(driver_, driver_.cuModuleLoadData(&module_, ptx.c_str()), "cuModuleLoadData (loading the engine's PTX)");
  }
  ~CudaModule() override {
    if (module_) driver_.cuModuleUnload(module_);
  }
  void* Function(const std::string& name) override {
    cuda::CUfunction f = nullptr;
    cuda::Check(driver_, driver_.cuModuleGetFunction(&f, module_, name.c_str()), "cuModuleGetFunction(" + name + ")");
    return f;
  }

 private:
  cuda::Driver& driver_;
  cuda::CUmodule module_ = nullptr;
};

class CudaDevice : public Device {
 public:
  CudaDevice() : driver_(cuda::LoadDriver()) {
    int major = 0, minor = 0;
    std::string name;
    cuda::EnsureContext(driver_, &major, &minor, &name);
    name_ = name + " (sm_" + std::to_string(major) + std::to_string(minor) + ")";
  }
  std::string Name() const override { return name_; }
  bool IsGpu() const override { return true; }
  void Bind() override { cuda::EnsureContext(driver_, nullptr, nullptr, nullptr); }
  DevPtr Alloc(size_t bytes) override {
    const size_t rounded = (bytes + 255) / 256 * 256;
    cuda::CUdeviceptr p = 0;
    const cuda::CUresult r = driver_.cuMemAlloc(&p, rounded == 0 ? 256 : rounded);
    if (r != 0) {
      size_t free_bytes = 0, total_bytes = 0;
      MemoryInfo(&free_bytes, &total_bytes);
      cuda::Check(driver_, r, "cuMemAlloc of " + std::to_string(bytes) + " bytes (" + std::to_string(free_bytes >> 20) +
                                  " MiB free of " + std::to_string(total_bytes >> 20) + ")");
    }
    try {
      cuda::Check(driver_, driver_.cuMemsetD32(p, 0, (rounded == 0 ? 256 : rounded) / 4), "cuMemsetD32");
    } catch (...) {
      driver_.cuMemFree(p);
      throw;
    }
    return p;
  }
  void Free(DevPtr p) noexcept override {
    if (p) driver_.cuMemFree(p);
  }
  void Upload(DevPtr dst, const void* src, size_t bytes) override {
    if (bytes) cuda::Check(driver_, driver_.cuMemcpyHtoD(dst, src, bytes), "cuMemcpyHtoD");
  }
  void Download(void* dst, DevPtr src, size_t bytes) override {
    if (bytes) cuda::Check(driver_, driver_.cuMemcpyDtoH(dst, src, bytes), "cuMemcpyDtoH");
  }
  void Zero(DevPtr dst, size_t bytes) override {
    if (bytes) cuda::Check(driver_, driver_.cuMemsetD32(dst, 0, bytes / 4), "cuMemsetD32");
  }
  std::unique_ptr<Module> Load(const std::string& image) override {
    return std::unique_ptr<Module>(new CudaModule(driver_, image));
  }
  void Launch(void* function, Dim3 grid, Dim3 block, void** params) override {
    if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;
    cuda::Check(driver_, driver_.cuLaunchKernel(static_cast<cuda::CUfunction>(function), grid.x, grid.y, grid.z, block.x,
                                                block.y, block.z, 0, nullptr, params, nullptr),
                "cuLaunchKernel");
  }
  double TimedLaunch(void* function, Dim3 grid, Dim3 block, void** params) override {
    if (!driver_.cuEventCreate) return Device::TimedLaunch(function, grid, block, params);
    Synchronize();
    cuda::CUevent start = nullptr, stop = nullptr;
    cuda::Check(driver_, driver_.cuEventCreate(&start, 0), "cuEventCreate");
    const cuda::CUresult made = driver_.cuEventCreate(&stop, 0);
    if (made != 0) driver_.cuEventDestroy(start);
    cuda::Check(driver_, made, "cuEventCreate");
    float ms = 0;
    try {
      cuda::Check(driver_, driver_.cuEventRecord(start, nullptr), "cuEventRecord");
      Launch(function, grid, block, params);
      cuda::Check(driver_, driver_.cuEventRecord(stop, nullptr), "cuEventRecord");
      Synchronize();
      cuda::Check(driver_, driver_.cuEventElapsedTime(&ms, start, stop), "cuEventElapsedTime");
    } catch (...) {
      driver_.cuEventDestroy(start);
      driver_.cuEventDestroy(stop);
      throw;
    }
    driver_.cuEventDestroy(start);
    driver_.cuEventDestroy(stop);
    return ms / 1e3;
  }
  void Synchronize() override { cuda::Check(driver_, driver_.cuCtxSynchronize(), "running the engine's kernels"); }
  void MemoryInfo(size_t* free_bytes, size_t* total_bytes) override {
    *free_bytes = 0;
    *total_bytes = 0;
    if (driver_.cuMemGetInfo) driver_.cuMemGetInfo(free_bytes, total_bytes);
  }

 private:
  cuda::Driver& driver_;
  std::string name_;
};

}  // namespace

std::unique_ptr<Device> CreateCudaDevice() { return std::unique_ptr<Device>(new CudaDevice()); }

}  // namespace engine
}  // namespace nos
