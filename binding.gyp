# Builds the nos N-API addon (build/Release/nos.node): CPU JIT runner, the run-time CUDA loader and the child engine. Needs no CUDA toolkit.
{
  "targets": [
    {
      "target_name": "nos",
      "sources": [
        "native/addon.cc",
        "native/common/buffers.cc",
        "native/cpu/thread_pool.cc",
        "native/cpu/cpu_kernel.cc",
        "native/cuda/cuda_api.cc",
        "native/cuda/cuda_kernel.cc",
        "native/common/library_check.cc",
        "native/engine/device_cuda.cc",
        "native/engine/device_host.cc",
        "native/engine/device_profile.cc",
        "native/engine/engine.cc",
        "native/engine/engine_napi.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native"
      ],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"],
      "libraries": ["-ldl", "-lpthread"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17"
      }
    }
  ]
}
