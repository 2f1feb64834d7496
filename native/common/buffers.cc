// Checked access to JS typed arrays (see buffers.h).
#include "common/buffers.h"

#include <cstdint>

namespace nos {

static const char* TypedArrayTypeName(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
  }
  return "typed array";
}

FloatView RequireFloat32(const Napi::Env& env, const Napi::Value& value, const Where& where) {
  if (!value.IsTypedArray()) {
    throw Napi::TypeError::New(env, where.str() + ": expected a Float32Array, received " +
                                        (value.IsNull() ? std::string("null")
                                         : value.IsUndefined() ? std::string("undefined")
                                         : value.IsArrayBuffer() ? std::string("an ArrayBuffer")
                                         : std::string("a non-typed-array value")));
  }
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  // No ArrayBuffer handle unless needed: a view with elements is attached (detaching empties every view).
  napi_status status = napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr);
  if (status != napi_ok) throw Napi::TypeError::New(env, where.str() + ": could not read the typed array");
  if (type != napi_float32_array) {
    std::string name = TypedArrayTypeName(type);
    const char* article = (name[0] == 'I' || name[0] == 'U') ? "an " : "a ";
    throw Napi::TypeError::New(env, where.str() + ": expected a Float32Array, received " + article + name);
  }
  if (length == 0) {
    napi_value arraybuffer;
    bool detached = false;
    if (napi_get_typedarray_info(env, value, &type, &length, &data, &arraybuffer, nullptr) == napi_ok &&
        napi_is_detached_arraybuffer(env, arraybuffer, &detached) == napi_ok && detached) {
      throw Napi::TypeError::New(env, where.str() + ": its ArrayBuffer is detached (transferred or freed)");
    }
  }
  if (length > 0 && data == nullptr) throw Napi::TypeError::New(env, where.str() + ": the array has no memory");
  return FloatView{static_cast<float*>(data), length};
}

bool IsDetachedArrayBuffer(const Napi::Env& env, const Napi::Value& value) {
  if (!value.IsArrayBuffer()) return false;
  bool detached = false;
  return napi_is_detached_arraybuffer(env, value, &detached) == napi_ok && detached;
}

double RequireNumber(const Napi::Env& env, const Napi::Value& value, const Where& where) {
  if (!value.IsNumber()) throw Napi::TypeError::New(env, where.str() + ": expected a number");
  return value.As<Napi::Number>().DoubleValue();
}

Napi::Value IsDetached(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) {
    throw Napi::TypeError::New(env, "isDetached(buffer): expected an ArrayBuffer");
  }
  return Napi::Boolean::New(env, IsDetachedArrayBuffer(env, info[0]));
}

Napi::Value ViewAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) throw Napi::TypeError::New(env, "viewAddress(view): expected a typed array");
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, info[0], &type, &length, &data, nullptr, nullptr) != napi_ok) {
    throw Napi::TypeError::New(env, "viewAddress(view): could not read the typed array");
  }
  const auto address = static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(data));
  if (address >= (1ull << 53)) throw Napi::RangeError::New(env, "viewAddress(view): the address does not fit a double exactly");
  return Napi::Number::New(env, static_cast<double>(address));
}

}  // namespace nos
