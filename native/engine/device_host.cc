// The CPU twin of the GPU (see device.h): memory is host memory, a module is an emulation library (the kernels
// compiled as C++ through emu_shim.h), and a launch runs its blocks on the shared thread pool.
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include "common/library_check.h"
#include "cpu/thread_pool.h"
#include "engine/device.h"

namespace nos {
namespace engine {

namespace {

// Returns null, or what went wrong in the kernel (a barrier the twin cannot emulate); see emu_launch.h.
typedef const char* (*EmuLauncher)(const unsigned int* grid, const unsigned int* block, void** params,
                                   long long first, long long last);
struct EmuEntry {
  const char* name;
  EmuLauncher launch;
};

class HostModule : public Module {
 public:
  explicit HostModule(const std::string& path) : path_(path) {
    const std::string truncated = TruncatedElfReason(path);
    if (!truncated.empty()) throw std::runtime_error("could not load the emulation library " + path + ": " + truncated);
    dlerror();
    handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle_) {
      const char* why = dlerror();
      throw std::runtime_error("could not load the emulation library " + path + ": " + (why ? why : "dlopen failed"));
    }
    table_ = static_cast<const EmuEntry*>(dlsym(handle_, "nos_emu_kernels"));
    if (!table_) {
      dlclose(handle_);
      handle_ = nullptr;
      throw std::runtime_error("the emulation library " + path + " has no nos_emu_kernels table (not built from emu_launch.h)");
    }
  }
  ~HostModule() override {
    if (handle_) dlclose(handle_);
  }
  void* Function(const std::string& name) override {
    for (const EmuEntry* e = table_; e->name; ++e) {
      if (name == e->name) return reinterpret_cast<void*>(e->launch);
    }
    throw std::runtime_error("the emulation library " + path_ + " has no kernel " + name);
  }

 private:
  std::string path_;
  void* handle_ = nullptr;
  const EmuEntry* table_ = nullptr;
};

struct LaunchJob {
  EmuLauncher launch;
  unsigned int grid[3];
  unsigned int block[3];
  void** params;
  long long blocks;
  long long chunk;
  std::atomic<long long> next{0};
  std::atomic<const char*> error{nullptr};
};

void RunBlocks(void* context, int /*participant*/) {
  LaunchJob* job = static_cast<LaunchJob*>(context);
  for (;;) {
    const long long first = job->next.fetch_add(job->chunk, std::memory_order_relaxed);
    if (first >= job->blocks) return;
    const char* error = job->launch(job->grid, job->block, job->params, first, std::min(job->blocks, first + job->chunk));
    if (error) {
      const char* none = nullptr;
      job->error.compare_exchange_strong(none, error);
      job->next.store(job->blocks);  // the launch is wrong already: stop handing out blocks
      return;
    }
  }
}

class HostDevice : public Device {
 public:
  explicit HostDevice(int threads)
      : threads_(threads > 0 ? threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()))) {}
  std::string Name() const override {
    return "host CPU emulation (" + std::to_string(threads_) + (threads_ == 1 ? " thread)" : " threads)");
  }
  bool IsGpu() const override { return false; }
  void Bind() override {}
  DevPtr Alloc(size_t bytes) override {
    // Exactly the bytes asked for (aligned like cuMemAlloc's), so a sanitized twin (test/sanitize-twin.sh) catches
    // a kernel that reads or writes past a buffer, where the GPU's rounded allocation would hide it.
    void* p = nullptr;
    if (posix_memalign(&p, 256, std::max<size_t>(1, bytes)) != 0 || !p) {
      throw std::runtime_error("host emulation: out of memory allocating " + std::to_string(bytes) + " bytes");
    }
    std::memset(p, 0, bytes);
    return reinterpret_cast<DevPtr>(p);
  }
  void Free(DevPtr p) noexcept override { std::free(reinterpret_cast<void*>(p)); }
  void Upload(DevPtr dst, const void* src, size_t bytes) override { std::memcpy(reinterpret_cast<void*>(dst), src, bytes); }
  void Download(void* dst, DevPtr src, size_t bytes) override { std::memcpy(dst, reinterpret_cast<const void*>(src), bytes); }
  void Zero(DevPtr dst, size_t bytes) override { std::memset(reinterpret_cast<void*>(dst), 0, bytes); }
  std::unique_ptr<Module> Load(const std::string& image) override { return std::unique_ptr<Module>(new HostModule(image)); }
  void Launch(void* function, Dim3 grid, Dim3 block, void** params) override {
    LaunchJob job;
    job.launch = reinterpret_cast<EmuLauncher>(function);
    job.grid[0] = grid.x;
    job.grid[1] = grid.y;
    job.grid[2] = grid.z;
    job.block[0] = block.x;
    job.block[1] = block.y;
    job.block[2] = block.z;
    job.params = params;
    job.blocks = static_cast<long long>(grid.x) * grid.y * grid.z;
    if (job.blocks == 0) return;
    // About eight pieces per thread, so a thread slowed by other load does not hold the launch up.
    job.chunk = std::max<long long>(1, job.blocks / (static_cast<long long>(threads_) * 8));
    const int participants = static_cast<int>(std::min<long long>(threads_, (job.blocks + job.chunk - 1) / job.chunk));
    ThreadPool::Shared().Run(participants, RunBlocks, &job);
    if (const char* error = job.error.load()) throw std::runtime_error(std::string("host emulation: ") + error);
  }
  void Synchronize() override {}
  void MemoryInfo(size_t* free_bytes, size_t* total_bytes) override {
    *free_bytes = 0;
    *total_bytes = 0;
  }

 private:
  int threads_;
};

}  // namespace

std::unique_ptr<Device> CreateHostDevice(int threads) { return std::unique_ptr<Device>(new HostDevice(threads)); }

}  // namespace engine
}  // namespace nos
