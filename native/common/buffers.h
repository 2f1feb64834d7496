// Checked access to JS typed arrays: every failure is a JS TypeError/RangeError naming the argument, never a crash.
#pragma once
#include <napi.h>
#include <string>

namespace nos {

// Names an argument in error messages ("update: tensor " 3 " w"); the text is built only when an error is thrown.
struct Where {
  Where(const char* text) : prefix(text) {}  // NOLINT: implicit by design
  Where(const char* before, long long number, const char* after) : prefix(before), index(number), suffix(after) {}
  std::string str() const { return index < 0 ? std::string(prefix) : prefix + std::to_string(index) + suffix; }
  const char* prefix;
  long long index = -1;
  const char* suffix = "";
};

struct FloatView {
  float* data = nullptr;
  size_t length = 0;
};

// Returns the Float32Array's memory in place (no copy); throws a JS error naming `what` if it is not a live Float32Array.
FloatView RequireFloat32(const Napi::Env& env, const Napi::Value& value, const Where& where);
bool IsDetachedArrayBuffer(const Napi::Env& env, const Napi::Value& value);
double RequireNumber(const Napi::Env& env, const Napi::Value& value, const Where& where);

// JS-visible: isDetached(arrayBuffer) -> boolean, so the JS validators can name detached buffers exactly.
Napi::Value IsDetached(const Napi::CallbackInfo& info);
// JS-visible: viewAddress(typedArray) -> number, the address of its first byte (its buffer's memory plus byteOffset),
// exact as a double (user-space addresses are below 2^53). Views whose memory is the same give the same address
// even through distinct (Shared)ArrayBuffer objects, which the JS overlap check cannot tell apart otherwise.
Napi::Value ViewAddress(const Napi::CallbackInfo& info);

}  // namespace nos
