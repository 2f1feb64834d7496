// Run-time loading of libcuda and libnvrtc (see cuda_api.h); missing pieces become clear errors, not link failures.
#include "cuda/cuda_api.h"

#include <dlfcn.h>
#include <glob.h>

#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace nos {
namespace cuda {

namespace {

template <typename Fn>
void Bind(void* handle, const std::string& lib, const char* name, Fn* out) {
  void* sym = dlsym(handle, name);
  if (!sym) throw std::runtime_error(lib + " has no symbol " + name + " (too old a version?)");
  *out = reinterpret_cast<Fn>(sym);
}

// The event entry points, all or none (a driver without one of them times kernels by the host clock instead).
void BindOptionalEvents(void* handle, Driver* driver) {
  void* create = dlsym(handle, "cuEventCreate");
  void* record = dlsym(handle, "cuEventRecord");
  void* elapsed = dlsym(handle, "cuEventElapsedTime");
  void* destroy = dlsym(handle, "cuEventDestroy_v2");
  if (!create || !record || !elapsed || !destroy) return;
  driver->cuEventCreate = reinterpret_cast<CUresult (*)(CUevent*, unsigned int)>(create);
  driver->cuEventRecord = reinterpret_cast<CUresult (*)(CUevent, CUstream)>(record);
  driver->cuEventElapsedTime = reinterpret_cast<CUresult (*)(float*, CUevent, CUevent)>(elapsed);
  driver->cuEventDestroy = reinterpret_cast<CUresult (*)(CUevent)>(destroy);
}

void* OpenFirst(const std::vector<std::string>& candidates, std::string* opened, std::string* errors) {
  for (const auto& c : candidates) {
    dlerror();
    void* h = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h) {
      *opened = c;
      return h;
    }
    const char* why = dlerror();
    if (errors->size() < 600) *errors += "\n  " + c + ": " + (why ? why : "not found");
  }
  return nullptr;
}

std::vector<std::string> GlobPaths(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g;
  if (glob(pattern.c_str(), 0, nullptr, &g) == 0) {
    // Newest version last in lexical order; try it first.
    for (size_t i = g.gl_pathc; i > 0; --i) out.push_back(g.gl_pathv[i - 1]);
  }
  globfree(&g);
  return out;
}

std::mutex load_mutex;

}  // namespace

Driver& LoadDriver() {
  static Driver driver;
  static std::string failure;
  std::lock_guard<std::mutex> lock(load_mutex);
  if (driver.handle) return driver;
  if (!failure.empty()) throw std::runtime_error(failure);
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("NOS_LIBCUDA")) candidates.push_back(env);
  candidates.push_back("libcuda.so.1");
  candidates.push_back("libcuda.so");
  std::string errors;
  void* h = OpenFirst(candidates, &driver.path, &errors);
  if (!h) {
    failure = "CUDA driver not found: could not load libcuda.so.1 (is an NVIDIA driver installed and a GPU present?). "
              "Set NOS_LIBCUDA to its path if it is installed elsewhere. Tried:" + errors;
    throw std::runtime_error(failure);
  }
  try {
    const std::string lib = driver.path;
    Bind(h, lib, "cuInit", &driver.cuInit);
    Bind(h, lib, "cuDriverGetVersion", &driver.cuDriverGetVersion);
    Bind(h, lib, "cuDeviceGetCount", &driver.cuDeviceGetCount);
    Bind(h, lib, "cuDeviceGet", &driver.cuDeviceGet);
    Bind(h, lib, "cuDeviceGetName", &driver.cuDeviceGetName);
    Bind(h, lib, "cuDeviceGetAttribute", &driver.cuDeviceGetAttribute);
    Bind(h, lib, "cuDevicePrimaryCtxRetain", &driver.cuDevicePrimaryCtxRetain);
    Bind(h, lib, "cuCtxSetCurrent", &driver.cuCtxSetCurrent);
    Bind(h, lib, "cuCtxSynchronize", &driver.cuCtxSynchronize);
    Bind(h, lib, "cuModuleLoadData", &driver.cuModuleLoadData);
    Bind(h, lib, "cuModuleUnload", &driver.cuModuleUnload);
    Bind(h, lib, "cuModuleGetFunction", &driver.cuModuleGetFunction);
    Bind(h, lib, "cuMemAlloc_v2", &driver.cuMemAlloc);
    Bind(h, lib, "cuMemFree_v2", &driver.cuMemFree);
    Bind(h, lib, "cuMemcpyHtoD_v2", &driver.cuMemcpyHtoD);
    Bind(h, lib, "cuMemcpyDtoH_v2", &driver.cuMemcpyDtoH);
    Bind(h, lib, "cuMemcpyDtoD_v2", &driver.cuMemcpyDtoD);
    Bind(h, lib, "cuMemsetD32_v2", &driver.cuMemsetD32);
    Bind(h, lib, "cuLaunchKernel", &driver.cuLaunchKernel);
    Bind(h, lib, "cuGetErrorString", &driver.cuGetErrorString);
    driver.cuMemGetInfo = reinterpret_cast<CUresult (*)(size_t*, size_t*)>(dlsym(h, "cuMemGetInfo_v2"));
    BindOptionalEvents(h, &driver);
    void* alloc_host = dlsym(h, "cuMemAllocHost_v2");
    void* free_host = dlsym(h, "cuMemFreeHost");
    if (alloc_host && free_host) {
      driver.cuMemAllocHost = reinterpret_cast<CUresult (*)(void**, size_t)>(alloc_host);
      driver.cuMemFreeHost = reinterpret_cast<CUresult (*)(void*)>(free_host);
    }
  } catch (const std::exception& e) {
    dlclose(h);
    failure = e.what();
    throw;
  }
  CUresult r = driver.cuInit(0);
  if (r != 0) {
    const char* s = nullptr;
    driver.cuGetErrorString(r, &s);
    dlclose(h);
    failure = std::string("CUDA driver found (") + driver.path + ") but cuInit failed: " + (s ? s : "unknown error") +
              " (no GPU visible?)";
    throw std::runtime_error(failure);
  }
  driver.handle = h;
  return driver;
}

namespace {

// Where NVRTC may be, in order: the loader's path, the toolkit's folders, then Python's CUDA wheels
// (nvidia-cuda-nvrtc-cu12: nvidia/cuda_nvrtc/lib; CUDA 13's nvidia-cuda-nvrtc: nvidia/cu13/lib) and conda, which
// PyTorch users often have without a toolkit.
std::vector<std::string> NvrtcCandidates() {
  std::vector<std::string> out = {"libnvrtc.so"};
  for (const char* v : {"13", "12", "11.2"}) out.push_back(std::string("libnvrtc.so.") + v);
  std::vector<std::string> patterns;
  for (const char* var : {"CUDA_HOME", "CUDA_PATH"}) {
    if (const char* home = std::getenv(var)) patterns.push_back(std::string(home) + "/lib64/libnvrtc.so*");
  }
  for (const char* p : {"/usr/local/cuda/lib64/libnvrtc.so*", "/usr/local/cuda-*/lib64/libnvrtc.so*",
                        "/usr/local/cuda-*/targets/x86_64-linux/lib/libnvrtc.so*", "/usr/lib/x86_64-linux-gnu/libnvrtc.so*"}) {
    patterns.push_back(p);
  }
  std::vector<std::string> prefixes;
  for (const char* var : {"VIRTUAL_ENV", "CONDA_PREFIX"}) {
    if (const char* prefix = std::getenv(var)) prefixes.push_back(prefix);
  }
  if (const char* conda = std::getenv("CONDA_PREFIX")) patterns.push_back(std::string(conda) + "/lib/libnvrtc.so*");
  if (const char* home = std::getenv("HOME")) prefixes.push_back(std::string(home) + "/.local");
  prefixes.push_back("/usr/local");
  prefixes.push_back("/usr");
  for (const auto& prefix : prefixes) {
    for (const char* packages : {"site-packages", "dist-packages"}) {
      for (const char* wheel : {"cu13", "cuda_nvrtc"}) {
        patterns.push_back(prefix + "/lib/python3*/" + packages + "/nvidia/" + wheel + "/lib/libnvrtc.so*");
      }
    }
  }
  for (const auto& pattern : patterns) {
    for (const auto& p : GlobPaths(pattern)) out.push_back(p);
  }
  return out;
}

// The driver's CUDA version (12040 for 12.4), or 0 without a usable driver.
int DriverCudaVersion() {
  try {
    Driver& driver = LoadDriver();
    int version = 0;
    return driver.cuDriverGetVersion(&version) == 0 ? version : 0;
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

Nvrtc& LoadNvrtc() {
  static Nvrtc nvrtc;
  {
    std::lock_guard<std::mutex> lock(load_mutex);
    if (nvrtc.handle) return nvrtc;
  }
  // A driver cannot load PTX from a later CUDA: of several NVRTCs take the first no newer than the driver (the first
  // that loads if none is), unless NOS_LIBNVRTC names one.
  const int driver_version = DriverCudaVersion();
  std::lock_guard<std::mutex> lock(load_mutex);
  if (nvrtc.handle) return nvrtc;
  const char* chosen_by_user = std::getenv("NOS_LIBNVRTC");
  std::vector<std::string> candidates;
  if (chosen_by_user) candidates.push_back(chosen_by_user);
  for (auto& c : NvrtcCandidates()) candidates.push_back(std::move(c));
  std::string errors;
  void* h = nullptr;
  void* fallback = nullptr;
  std::string fallback_path;
  for (size_t i = 0; i < candidates.size() && !h; ++i) {
    std::string opened;
    void* one = OpenFirst({candidates[i]}, &opened, &errors);
    if (!one) continue;
    auto version_of = reinterpret_cast<nvrtcResult (*)(int*, int*)>(dlsym(one, "nvrtcVersion"));
    int major = 0, minor = 0;
    const bool known = version_of && version_of(&major, &minor) == 0;
    const bool fits = driver_version == 0 || (chosen_by_user && i == 0) || (known && major * 1000 + minor * 10 <= driver_version);
    if (fits) {
      h = one;
      nvrtc.path = opened;
    } else if (!fallback) {
      fallback = one;
      fallback_path = opened;
    } else {
      dlclose(one);
    }
  }
  if (h && fallback) dlclose(fallback);
  if (!h && fallback) {
    h = fallback;  // only NVRTCs newer than the driver: loading a module then says so (CheckModuleLoad)
    nvrtc.path = fallback_path;
  }
  if (!h) {
    throw std::runtime_error("NVRTC not found: could not load libnvrtc.so (install the CUDA toolkit's NVRTC or the "
                             "nvidia-cuda-nvrtc wheel, or set NOS_LIBNVRTC to its path). Tried:" + errors);
  }
  try {
    const std::string lib = nvrtc.path;
    Bind(h, lib, "nvrtcVersion", &nvrtc.nvrtcVersion);
    Bind(h, lib, "nvrtcCreateProgram", &nvrtc.nvrtcCreateProgram);
    Bind(h, lib, "nvrtcDestroyProgram", &nvrtc.nvrtcDestroyProgram);
    Bind(h, lib, "nvrtcCompileProgram", &nvrtc.nvrtcCompileProgram);
    Bind(h, lib, "nvrtcGetProgramLogSize", &nvrtc.nvrtcGetProgramLogSize);
    Bind(h, lib, "nvrtcGetProgramLog", &nvrtc.nvrtcGetProgramLog);
    Bind(h, lib, "nvrtcGetPTXSize", &nvrtc.nvrtcGetPTXSize);
    Bind(h, lib, "nvrtcGetPTX", &nvrtc.nvrtcGetPTX);
    Bind(h, lib, "nvrtcGetErrorString", &nvrtc.nvrtcGetErrorString);
  } catch (...) {
    dlclose(h);
    throw;
  }
  nvrtc.handle = h;
  return nvrtc;
}

void Check(Driver& driver, CUresult result, const std::string& what) {
  if (result == 0) return;
  const char* s = nullptr;
  driver.cuGetErrorString(result, &s);
  throw std::runtime_error(what + ": " + (s ? s : "CUDA error " + std::to_string(result)));
}

void CheckModuleLoad(Driver& driver, CUresult result, const std::string& what) {
  if (result == 0) return;
  const char* s = nullptr;
  driver.cuGetErrorString(result, &s);
  std::string message = what + ": " + (s ? s : "CUDA error " + std::to_string(result));
  // CUDA_ERROR_UNSUPPORTED_PTX_VERSION: NVRTC is newer than the driver; say which two, and what to change.
  if (result == 222) {
    int version = 0;
    const bool known = driver.cuDriverGetVersion(&version) == 0;
    std::string nvrtc_text = "NVRTC";
    try {
      Nvrtc& nvrtc = LoadNvrtc();
      int major = 0, minor = 0;
      nvrtc.nvrtcVersion(&major, &minor);
      nvrtc_text += " " + std::to_string(major) + "." + std::to_string(minor) + " (" + nvrtc.path + ")";
    } catch (const std::exception&) {
      // The PTX came from the kernel cache, made by an NVRTC no longer found.
    }
    const std::string cuda = known ? std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10) : "?";
    message += ". This driver runs CUDA " + cuda + ", older than the " + nvrtc_text + " that made the PTX: update the "
               "driver, or set NOS_LIBNVRTC to an NVRTC of CUDA " + cuda + " or older (nos compiles the kernels again)";
  }
  throw std::runtime_error(message);
}

CUcontext EnsureContext(Driver& driver, int* major, int* minor, std::string* name) {
  static CUcontext context = nullptr;
  static CUdevice device = 0;
  if (!context) {
    int count = 0;
    Check(driver, driver.cuDeviceGetCount(&count), "cuDeviceGetCount");
    if (count < 1) throw std::runtime_error("CUDA driver loaded but no GPU is visible (cuDeviceGetCount = 0)");
    Check(driver, driver.cuDeviceGet(&device, 0), "cuDeviceGet(0)");
    Check(driver, driver.cuDevicePrimaryCtxRetain(&context, device), "cuDevicePrimaryCtxRetain");
  }
  Check(driver, driver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
  if (major) Check(driver, driver.cuDeviceGetAttribute(major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device), "compute capability");
  if (minor) Check(driver, driver.cuDeviceGetAttribute(minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device), "compute capability");
  if (name) {
    char buf[256] = {0};
    Check(driver, driver.cuDeviceGetName(buf, sizeof(buf) - 1, device), "cuDeviceGetName");
    *name = buf;
  }
  return context;
}

}  // namespace cuda
}  // namespace nos
