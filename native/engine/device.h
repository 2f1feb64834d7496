// Where the child engine's kernels run: a CUDA GPU (driver API, PTX from NVRTC) or the host CPU (the same kernels
// compiled as C++ through emu_shim.h, blocks split over the thread pool).  The engine codes against this interface.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace nos {
namespace engine {

// A device address: a CUdeviceptr on the GPU, a host pointer on the CPU twin.
typedef unsigned long long DevPtr;

struct Dim3 {
  unsigned int x = 1, y = 1, z = 1;
};

struct KernelTime {
  long long launches = 0;
  double seconds = 0;
};

// A loaded module (PTX or an emulation library); functions are looked up by their extern "C" name.
class Module {
 public:
  virtual ~Module() = default;
  // Throws std::runtime_error naming the kernel when the module lacks it.
  virtual void* Function(const std::string& name) = 0;
};

class Device {
 public:
  virtual ~Device() = default;
  // e.g. "NVIDIA H200 (sm_90)" or "host CPU emulation (2 threads)".
  virtual std::string Name() const = 0;
  virtual bool IsGpu() const = 0;
  // Makes the device usable from the calling thread (the CUDA context); cheap when it already is.
  virtual void Bind() = 0;
  // Zero-filled; throws std::runtime_error (out of memory names the size).
  virtual DevPtr Alloc(size_t bytes) = 0;
  virtual void Free(DevPtr p) noexcept = 0;
  virtual void Upload(DevPtr dst, const void* src, size_t bytes) = 0;
  virtual void Download(void* dst, DevPtr src, size_t bytes) = 0;
  virtual void Zero(DevPtr dst, size_t bytes) = 0;
  // PTX text on the GPU, the path of an emulation library on the CPU.
  virtual std::unique_ptr<Module> Load(const std::string& image) = 0;
  // Enqueues (GPU) or runs (CPU) a launch; params[k] points at the k-th kernel argument.
  virtual void Launch(void* function, Dim3 grid, Dim3 block, void** params) = 0;
  // Runs one launch alone (after every earlier one has finished) and returns its seconds: on a GPU by the device's
  // own clock (events around the launch, as PyTorch times a kernel), otherwise by the host clock around a
  // synchronized launch (which then includes the launch latency).
  virtual double TimedLaunch(void* function, Dim3 grid, Dim3 block, void** params);
  // Waits for every launch; a kernel fault surfaces here as std::runtime_error.
  virtual void Synchronize() = 0;
  // Free and total device memory in bytes (the host twin reports 0, 0: no device limit).
  virtual void MemoryInfo(size_t* free_bytes, size_t* total_bytes) = 0;
  // Time per kernel name so far (only a profiling device keeps it).
  virtual std::vector<std::pair<std::string, KernelTime>> Profile() { return {}; }
};

// Throws std::runtime_error saying what is missing (driver, GPU) as the CUDA optimizer does.
std::unique_ptr<Device> CreateCudaDevice();
// threads: 0 uses every hardware thread.
std::unique_ptr<Device> CreateHostDevice(int threads);
// Wraps a device to time each launch alone (synchronizing around it), by kernel name.
std::unique_ptr<Device> CreateProfilingDevice(std::unique_ptr<Device> inner);

// Enqueues a launch whose arguments are given by value; each must have exactly the kernel parameter's type
// (DevPtr for pointers, int, long long, float, double).
template <typename... Args>
void Launch(Device& device, void* function, Dim3 grid, Dim3 block, Args... args) {
  void* params[] = {static_cast<void*>(&args)...};
  device.Launch(function, grid, block, params);
}

}  // namespace engine
}  // namespace nos
