// A Device that times every launch by kernel name and launch shape (see device.h; the shape, as "nos_conv3x3 grid 13x4
// block 128", tells a network's layers apart; grid z is left out: it is the children).  Each launch runs alone
// (Device::TimedLaunch waits for the ones before it and for itself), so the times are each kernel's own (slower
// overall: for finding where a step's time goes and for one kernel's bandwidth, not for a round's throughput).  Also
// Device::TimedLaunch's host-clock default, which the CPU twin uses.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/device.h"

namespace nos {
namespace engine {

namespace {

struct Names {
  std::mutex mutex;
  std::map<void*, std::string> of;
};

class NamingModule : public Module {
 public:
  NamingModule(std::unique_ptr<Module> inner, std::shared_ptr<Names> names) : inner_(std::move(inner)), names_(std::move(names)) {}
  void* Function(const std::string& name) override {
    void* f = inner_->Function(name);
    std::lock_guard<std::mutex> lock(names_->mutex);
    names_->of[f] = name;
    return f;
  }

 private:
  std::unique_ptr<Module> inner_;
  std::shared_ptr<Names> names_;
};

class ProfilingDevice : public Device {
 public:
  explicit ProfilingDevice(std::unique_ptr<Device> inner) : inner_(std::move(inner)), names_(std::make_shared<Names>()) {}
  std::string Name() const override { return inner_->Name(); }
  bool IsGpu() const override { return inner_->IsGpu(); }
  void Bind() override { inner_->Bind(); }
  DevPtr Alloc(size_t bytes) override { return inner_->Alloc(bytes); }
  void Free(DevPtr p) noexcept override { inner_->Free(p); }
  void Upload(DevPtr dst, const void* src, size_t bytes) override { inner_->Upload(dst, src, bytes); }
  void Download(void* dst, DevPtr src, size_t bytes) override { inner_->Download(dst, src, bytes); }
  void Zero(DevPtr dst, size_t bytes) override { inner_->Zero(dst, bytes); }
  std::unique_ptr<Module> Load(const std::string& image) override {
    return std::unique_ptr<Module>(new NamingModule(inner_->Load(image), names_));
  }
  void Launch(void* function, Dim3 grid, Dim3 block, void** params) override {
    const double seconds = inner_->TimedLaunch(function, grid, block, params);
    std::string name;
    {
      std::lock_guard<std::mutex> lock(names_->mutex);
      auto it = names_->of.find(function);
      name = it == names_->of.end() ? "(unnamed)" : it->second;
    }
    name += " grid " + std::to_string(grid.x) + "x" + std::to_string(grid.y) + " block " + std::to_string(block.x * block.y);
    std::lock_guard<std::mutex> lock(times_mutex_);
    KernelTime& t = times_[name];
    t.launches += 1;
    t.seconds += seconds;
  }
  void Synchronize() override { inner_->Synchronize(); }
  void MemoryInfo(size_t* free_bytes, size_t* total_bytes) override { inner_->MemoryInfo(free_bytes, total_bytes); }
  std::vector<std::pair<std::string, KernelTime>> Profile() override {
    std::lock_guard<std::mutex> lock(times_mutex_);
    return std::vector<std::pair<std::string, KernelTime>>(times_.begin(), times_.end());
  }

 private:
  std::unique_ptr<Device> inner_;
  std::shared_ptr<Names> names_;
  std::mutex times_mutex_;
  std::map<std::string, KernelTime> times_;
};

}  // namespace

double Device::TimedLaunch(void* function, Dim3 grid, Dim3 block, void** params) {
  Synchronize();
  const auto start = std::chrono::steady_clock::now();
  Launch(function, grid, block, params);
  Synchronize();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::unique_ptr<Device> CreateProfilingDevice(std::unique_ptr<Device> inner) {
  return std::unique_ptr<Device>(new ProfilingDevice(std::move(inner)));
}

}  // namespace engine
}  // namespace nos
