// ChildEngine (see engine_napi.h).  Arguments are checked here as far as memory safety needs (slot ranges, array
// lengths, distinct slots); src/runtime/engine/ checks them first with friendlier messages.  Device and driver
// failures come back as JS errors (rejected Promises for rounds and evaluations), never a crash.
#include "engine/engine_napi.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "common/buffers.h"

namespace nos {

namespace {

using engine::Engine;
using engine::ModelShape;

template <typename T>
std::vector<T> TypedVector(const Napi::Env& env, const Napi::Value& value, napi_typedarray_type type, const std::string& what) {
  static const char* names[] = {"Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array",
                                "Uint32Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array"};
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != type) {
    throw Napi::TypeError::New(env, what + " must be " + (type <= napi_biguint64_array ? names[type] : "a typed array"));
  }
  Napi::TypedArray array = value.As<Napi::TypedArray>();
  const T* data = reinterpret_cast<const T*>(static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset());
  return std::vector<T>(data, data + array.ElementLength());
}

int IntIn(const Napi::Env& env, const Napi::Value& value, const std::string& what, double low, double high) {
  const double x = RequireNumber(env, value, what.c_str());
  if (!(x >= low && x <= high && std::floor(x) == x)) {
    throw Napi::RangeError::New(env, what + " must be an integer in [" + std::to_string(static_cast<long long>(low)) + ", " +
                                         std::to_string(static_cast<long long>(high)) + "], received " + value.ToString().Utf8Value());
  }
  return static_cast<int>(x);
}

Napi::Value Get(const Napi::Env& env, const Napi::Object& o, const char* key) {
  if (!o.Has(key)) throw Napi::TypeError::New(env, std::string("ChildEngine: missing field '") + key + "'");
  return o.Get(key);
}

ModelShape ShapeOf(const Napi::Env& env, const Napi::Value& value) {
  if (!value.IsObject()) throw Napi::TypeError::New(env, "ChildEngine: model must be an object");
  Napi::Object m = value.As<Napi::Object>();
  ModelShape s;
  const std::string kind = Get(env, m, "kind").ToString().Utf8Value();
  if (kind == "mlp") s.kind = ModelShape::kMlp;
  else if (kind == "convnet") s.kind = ModelShape::kConvnet;
  else throw Napi::RangeError::New(env, "ChildEngine: model.kind must be 'mlp' or 'convnet', got '" + kind + "'");
  s.channels = IntIn(env, Get(env, m, "channels"), "model.channels", 1, 64);
  s.height = IntIn(env, Get(env, m, "height"), "model.height", 1, 4096);
  s.width = IntIn(env, Get(env, m, "width"), "model.width", 1, 4096);
  s.classes = IntIn(env, Get(env, m, "classes"), "model.classes", 2, 1024);
  if (s.kind == ModelShape::kMlp) s.hidden = IntIn(env, Get(env, m, "hidden"), "model.hidden", 1, 1 << 20);
  else s.filters = IntIn(env, Get(env, m, "filters"), "model.filters", 8, 32);
  s.bn_eps = RequireNumber(env, Get(env, m, "bnEps"), "model.bnEps");
  s.bn_momentum = RequireNumber(env, Get(env, m, "bnMomentum"), "model.bnMomentum");
  return s;
}

// Runs f, turning the engine's exceptions into JS errors (bad arguments as RangeError).
template <typename Fn>
auto Guard(const Napi::Env& env, Fn fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::invalid_argument& e) {
    throw Napi::RangeError::New(env, e.what());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

template <typename T, typename Array>
Array ToTyped(const Napi::Env& env, const std::vector<T>& v) {
  Array out = Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = v[i];
  return out;
}

// Runs work() off the JS thread; settles a Promise with finish(env) or the error (and clears busy, when given).
class EngineWorker : public Napi::AsyncWorker {
 public:
  EngineWorker(Napi::Env env, std::shared_ptr<std::atomic<bool>> busy, std::function<void()> work,
               std::function<Napi::Value(Napi::Env)> finish)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), busy_(std::move(busy)),
        work_(std::move(work)), finish_(std::move(finish)) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }
  void Execute() override {
    try {
      work_();
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override {
    if (busy_) busy_->store(false);
    Napi::Env env = Env();
    try {
      deferred_.Resolve(finish_(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override {
    if (busy_) busy_->store(false);
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<std::atomic<bool>> busy_;
  std::function<void()> work_;
  std::function<Napi::Value(Napi::Env)> finish_;
};

}  // namespace

Napi::Function ChildEngine::Define(Napi::Env env) {
  return DefineClass(env, "ChildEngine",
                     {InstanceMethod("layout", &ChildEngine::Layout), InstanceAccessor("deviceName", &ChildEngine::DeviceName, nullptr),
                      InstanceMethod("setData", &ChildEngine::SetData), InstanceMethod("addRule", &ChildEngine::AddRule),
                      InstanceMethod("loadRule", &ChildEngine::LoadRule), InstanceMethod("dropRule", &ChildEngine::DropRule), InstanceMethod("start", &ChildEngine::Start),
                      InstanceMethod("runRound", &ChildEngine::RunRound), InstanceMethod("evaluate", &ChildEngine::Evaluate),
                      InstanceMethod("read", &ChildEngine::Read), InstanceMethod("write", &ChildEngine::Write),
                      InstanceMethod("cancel", &ChildEngine::Cancel), InstanceMethod("close", &ChildEngine::Close),
                      InstanceMethod("profile", &ChildEngine::Profile),
                      InstanceMethod("setKernels", &ChildEngine::SetKernels)});
}

// { convTiled, wgradTiled }: a boolean per convolution layer each (binding.ts checks them; anything else reads false).
static engine::ConvKernels KernelsOf(const Napi::Object& o) {
  engine::ConvKernels kernels;
  const auto layers = [&](const char* name, bool* out) {
    if (!o.Has(name) || !o.Get(name).IsArray()) return;
    const Napi::Array a = o.Get(name).As<Napi::Array>();
    const uint32_t n = std::min(a.Length(), static_cast<uint32_t>(engine::kConvLayers));
    for (uint32_t i = 0; i < n; ++i) out[i] = a.Get(i).ToBoolean().Value();
  };
  layers("convTiled", kernels.tiled_conv);
  layers("wgradTiled", kernels.tiled_wgrad);
  return kernels;
}

ChildEngine::ChildEngine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ChildEngine>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "ChildEngine(options): expected an object");
  Napi::Object o = info[0].As<Napi::Object>();
  const std::string device = Get(env, o, "device").ToString().Utf8Value();
  if (device != "cuda" && device != "host") throw Napi::RangeError::New(env, "ChildEngine: device must be 'cuda' or 'host'");
  Napi::Value image = Get(env, o, "image");
  if (!image.IsString()) throw Napi::TypeError::New(env, "ChildEngine: image must be a string (PTX text or a library path)");
  const ModelShape shape = ShapeOf(env, Get(env, o, "model"));
  const int capacity = IntIn(env, Get(env, o, "capacity"), "capacity", 1, 65535);
  const int batch = IntIn(env, Get(env, o, "batch"), "batch", 1, 4096);
  const int steps = IntIn(env, Get(env, o, "stepsPerRound"), "stepsPerRound", 1, 1 << 24);
  const int threads = o.Has("threads") ? IntIn(env, o.Get("threads"), "threads", 0, 1024) : 0;
  const bool profile = o.Has("profile") && o.Get("profile").ToBoolean().Value();
  const engine::ConvKernels kernels = o.Has("kernels") && o.Get("kernels").IsObject() ? KernelsOf(o.Get("kernels").As<Napi::Object>())
                                                                                      : engine::ConvKernels();
  Guard(env, [&] {
    engine::CheckShape(shape, batch);
    std::unique_ptr<engine::Device> dev = device == "cuda" ? engine::CreateCudaDevice() : engine::CreateHostDevice(threads);
    if (profile) dev = engine::CreateProfilingDevice(std::move(dev));
    engine_ = std::make_shared<Engine>(std::move(dev), image.As<Napi::String>().Utf8Value(), shape, capacity, batch, steps,
                                       kernels);
  });
}

Engine& ChildEngine::Idle(const Napi::Env& env, const char* what) {
  if (!engine_) throw Napi::Error::New(env, std::string(what) + ": the engine was closed");
  if (busy_->load()) throw Napi::Error::New(env, std::string(what) + ": the engine is busy (a round or an evaluation is running)");
  return *engine_;
}

int ChildEngine::Slot(const Napi::Env& env, const Napi::Value& value, const char* what) {
  return IntIn(env, value, what, 0, engine_->capacity() - 1);
}

Napi::Value ChildEngine::Layout(const Napi::CallbackInfo& info) {
  Engine& e = Idle(info.Env(), "layout");
  const auto& offsets = e.layout().offsets;
  Napi::Float64Array out = Napi::Float64Array::New(info.Env(), offsets.size());
  for (size_t i = 0; i < offsets.size(); ++i) out[i] = static_cast<double>(offsets[i]);
  return out;
}

Napi::Value ChildEngine::DeviceName(const Napi::CallbackInfo& info) {
  if (!engine_) return info.Env().Undefined();
  return Napi::String::New(info.Env(), engine_->device().Name());
}

Napi::Value ChildEngine::SetData(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Engine& e = Idle(env, "setData");
  if (info.Length() < 4) throw Napi::TypeError::New(env, "setData(train, trainLabels, validation, validationLabels)");
  FloatView train = RequireFloat32(env, info[0], "setData: train");
  std::vector<int> train_labels = TypedVector<int>(env, info[1], napi_int32_array, "setData: trainLabels");
  FloatView validation = RequireFloat32(env, info[2], "setData: validation");
  std::vector<int> validation_labels = TypedVector<int>(env, info[3], napi_int32_array, "setData: validationLabels");
  const size_t d = static_cast<size_t>(e.shape().features());
  if (train.length != train_labels.size() * d || validation.length != validation_labels.size() * d) {
    throw Napi::RangeError::New(env, "setData: each image must have " + std::to_string(d) + " values (one label per image)");
  }
  if (train_labels.empty() || validation_labels.empty()) throw Napi::RangeError::New(env, "setData: no images");
  for (const auto* labels : {&train_labels, &validation_labels}) {
    for (int y : *labels) {
      if (y < 0 || y >= e.shape().classes) throw Napi::RangeError::New(env, "setData: label " + std::to_string(y) + " out of range");
    }
  }
  Guard(env, [&] {
    e.SetData(train.data, train_labels.data(), static_cast<int>(train_labels.size()), validation.data, validation_labels.data(),
              static_cast<int>(validation_labels.size()));
  });
  return env.Undefined();
}

Napi::Value ChildEngine::AddRule(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Engine& e = Idle(env, "addRule");
  if (info.Length() < 3 || !info[0].IsString()) throw Napi::TypeError::New(env, "addRule(image, groups, block): expected PTX text or a library path");
  const int groups = IntIn(env, info[1], "addRule: groups", 1, 2), block = IntIn(env, info[2], "addRule: block", 32, 1024);
  return Napi::Number::New(env, Guard(env, [&] { return e.AddRule(info[0].As<Napi::String>().Utf8Value(), groups, block); }));
}

Napi::Value ChildEngine::LoadRule(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!engine_) throw Napi::Error::New(env, "loadRule: the engine was closed");
  if (info.Length() < 3 || !info[0].IsString()) throw Napi::TypeError::New(env, "loadRule(image, groups, block): expected PTX text or a library path");
  const int groups = IntIn(env, info[1], "loadRule: groups", 1, 2), block = IntIn(env, info[2], "loadRule: block", 32, 1024);
  auto engine = engine_;
  auto image = std::make_shared<std::string>(info[0].As<Napi::String>().Utf8Value());
  auto kernel = std::make_shared<std::unique_ptr<Engine::RuleKernel>>();
  // Off the JS thread, and allowed while a round runs: the module loads (the driver compiles the PTX) meanwhile.
  auto* worker = new EngineWorker(
      env, nullptr, [engine, image, kernel, groups, block] { *kernel = engine->LoadRule(*image, groups, block); },
      [engine, kernel](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, engine->AddRule(std::move(*kernel))); });
  worker->Queue();
  return worker->Promise();
}

Napi::Value ChildEngine::DropRule(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Engine& e = Idle(env, "dropRule");
  Guard(env, [&] {
    e.DropRule(IntIn(env, info[0], "dropRule: handle", 0, 1 << 30));
  });
  return env.Undefined();
}

Napi::Value ChildEngine::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Engine& e = Idle(env, "start");
  if (info.Length() < 2) throw Napi::TypeError::New(env, "start(slots: Int32Array, params: Float32Array)");
  std::vector<int> slots = TypedVector<int>(env, info[0], napi_int32_array, "start: slots");
  FloatView params = RequireFloat32(env, info[1], "start: params");
  std::set<int> seen;
  for (int s : slots) {
    if (s < 0 || s >= e.capacity() || !seen.insert(s).second) {
      throw Napi::RangeError::New(env, "start: slot " + std::to_string(s) + " is out of range or listed twice");
    }
  }
  if (params.length != slots.size() * static_cast<size_t>(e.layout().total)) {
    throw Napi::RangeError::New(env, "start: params must hold " + std::to_string(e.layout().total) + " values per slot");
  }
  Guard(env, [&] {
    e.Start(slots, params.data);
  });
  return env.Undefined();
}

Napi::Value ChildEngine::RunRound(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Engine& e = Idle(env, "runRound");
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "runRound(input): expected an object");
  Napi::Object o = info[0].As<Napi::Object>();
  auto in = std::make_shared<engine::RoundInput>();
  in->kids = TypedVector<int>(env, Get(env, o, "kids"), napi_int32_array, "runRound: kids");
  in->orders = TypedVector<unsigned int>(env, Get(env, o, "orders"), napi_uint32_array, "runRound: orders");
  in->order_len = IntIn(env, Get(env, o, "orderLength"), "runRound: orderLength", 1, 1 << 30);
  in->order_of = TypedVector<int>(env, Get(env, o, "orderOf"), napi_int32_array, "runRound: orderOf");
  in->t0 = TypedVector<unsigned int>(env, Get(env, o, "t0"), napi_uint32_array, "runRound: t0");
  in->seeds = TypedVector<unsigned int>(env, Get(env, o, "seeds"), napi_uint32_array, "runRound: seeds");
  in->scalars = TypedVector<float>(env, Get(env, o, "scalars"), napi_float32_array, "runRound: scalars");
  in->steps = IntIn(env, Get(env, o, "steps"), "runRound: steps", 0, e.steps_per_round());
  in->update = Get(env, o, "update").ToBoolean().Value();
  in->update_only = o.Has("updateOnly") && o.Get("updateOnly").ToBoolean().Value();
  in->divergence_factor = RequireNumber(env, Get(env, o, "divergenceFactor"), "runRound: divergenceFactor");
  const size_t nk = in->kids.size();
  std::set<int> seen;
  for (int s : in->kids) {
    if (s < 0 || s >= e.capacity() || !seen.insert(s).second) {
      throw Napi::RangeError::New(env, "runRound: kid slot " + std::to_string(s) + " is out of range or listed twice");
    }
  }
  if (in->order_of.size() != nk || in->t0.size() != nk || in->seeds.size() != nk) {
    throw Napi::RangeError::New(env, "runRound: orderOf, t0 and seeds need one entry per kid");
  }
  if (in->scalars.size() != nk * static_cast<size_t>(in->steps) * 32) {
    throw Napi::RangeError::New(env, "runRound: scalars must hold steps x 32 values per kid");
  }
  if (!in->update_only) {  // a training step reads batches through the orders
    if (e.train_count() == 0) throw Napi::Error::New(env, "runRound: no data (call setData first)");
    if (in->orders.size() % static_cast<size_t>(in->order_len) != 0 ||
        static_cast<long long>(in->steps) * e.batch() > in->order_len) {
      throw Napi::RangeError::New(env, "runRound: orders must hold whole orders of orderLength >= steps x batch examples");
    }
    const size_t order_count = in->orders.size() / in->order_len;
    for (int k : in->order_of) {
      if (k < 0 || static_cast<size_t>(k) >= order_count) throw Napi::RangeError::New(env, "runRound: orderOf out of range");
    }
    for (unsigned int x : in->orders) {
      if (x >= static_cast<unsigned int>(e.train_count())) throw Napi::RangeError::New(env, "runRound: an order names an example past the data");
    }
  }
  Napi::Value groups = Get(env, o, "groups");
  if (!groups.IsArray()) throw Napi::TypeError::New(env, "runRound: groups must be an array of { rule, members }");
  std::vector<bool> grouped(nk, false);
  Napi::Array ga = groups.As<Napi::Array>();
  for (uint32_t g = 0; g < ga.Length(); ++g) {
    Napi::Value gv = ga.Get(g);
    if (!gv.IsObject()) throw Napi::TypeError::New(env, "runRound: each group must be { rule, members }");
    engine::RoundInput::Group group;
    group.rule = IntIn(env, Get(env, gv.As<Napi::Object>(), "rule"), "runRound: group rule", 0, 1 << 30);
    group.members = TypedVector<int>(env, Get(env, gv.As<Napi::Object>(), "members"), napi_int32_array, "runRound: group members");
    for (int m : group.members) {
      if (m < 0 || static_cast<size_t>(m) >= nk || grouped[m]) {
        throw Napi::RangeError::New(env, "runRound: a group member is out of range or in two groups");
      }
      grouped[m] = true;
    }
    in->groups.push_back(std::move(group));
  }
  busy_->store(true);
  cancel_->store(false);
  auto engine = engine_;
  auto cancel = cancel_;
  auto out = std::make_shared<engine::RoundOutput>();
  auto* worker = new EngineWorker(
      env, busy_, [engine, in, cancel, out] { *out = engine->RunRound(*in, *cancel); },
      [out, cancel](Napi::Env env) -> Napi::Value {
        Napi::Object r = Napi::Object::New(env);
        r.Set("dead", ToTyped<int, Napi::Int32Array>(env, out->dead));
        r.Set("firstLoss", ToTyped<float, Napi::Float32Array>(env, out->first_loss));
        r.Set("lastLoss", ToTyped<float, Napi::Float32Array>(env, out->last_loss));
        r.Set("steps", ToTyped<unsigned int, Napi::Uint32Array>(env, out->steps));
        r.Set("cancelled", Napi::Boolean::New(env, cancel->load()));
        return r;
      });
  worker->Queue();
  return worker->Promise();
}

Napi::Value ChildEngine::Evaluate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Engine& e = Idle(env, "evaluate");
  if (e.validation_count() == 0) throw Napi::Error::New(env, "evaluate: no data (call setData first)");
  auto kids = std::make_shared<std::vector<int>>(TypedVector<int>(env, info[0], napi_int32_array, "evaluate: kids"));
  std::set<int> seen;
  for (int s : *kids) {
    if (s < 0 || s >= e.capacity() || !seen.insert(s).second) {
      throw Napi::RangeError::New(env, "evaluate: kid slot " + std::to_string(s) + " is out of range or listed twice");
    }
  }
  busy_->store(true);
  cancel_->store(false);
  auto engine = engine_;
  auto cancel = cancel_;
  auto out = std::make_shared<engine::EvalOutput>();
  auto* worker = new EngineWorker(
      env, busy_, [engine, kids, cancel, out] { *out = engine->Evaluate(*kids, *cancel); },
      [out, cancel](Napi::Env env) -> Napi::Value {
        Napi::Object r = Napi::Object::New(env);
        r.Set("correct", ToTyped<unsigned int, Napi::Uint32Array>(env, out->correct));
        r.Set("lossSum", ToTyped<double, Napi::Float64Array>(env, out->loss_sum));
        r.Set("nonfinite", ToTyped<int, Napi::Int32Array>(env, out->nonfinite));
        r.Set("cancelled", Napi::Boolean::New(env, cancel->load()));
        return r;
      });
  worker->Queue();
  return worker->Promise();
}

Napi::Value ChildEngine::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Engine& e = Idle(env, "read");
  const int slot = Slot(env, info[0], "read: slot");
  const int field = IntIn(env, info[1], "read: field", 0, 6);
  Napi::Float32Array out = Napi::Float32Array::New(env, e.FieldSize(field));
  Guard(env, [&] {
    e.Read(slot, field, out.Data());
  });
  return out;
}

Napi::Value ChildEngine::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Engine& e = Idle(env, "write");
  const int slot = Slot(env, info[0], "write: slot");
  const int field = IntIn(env, info[1], "write: field", 0, 6);
  FloatView in = RequireFloat32(env, info[2], "write: values");
  if (in.length != e.FieldSize(field)) {
    throw Napi::RangeError::New(env, "write: expected " + std::to_string(e.FieldSize(field)) + " values, got " + std::to_string(in.length));
  }
  Guard(env, [&] {
    e.Write(slot, field, in.data);
  });
  return env.Undefined();
}

// setKernels({ convTiled, wgradTiled }): each convolution layer's kernels in later rounds (the same bits either way).
void ChildEngine::SetKernels(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Engine& e = Idle(env, "setKernels");
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "setKernels({ convTiled, wgradTiled }): expected an object");
  Guard(env, [&] { e.SetKernels(KernelsOf(info[0].As<Napi::Object>())); });
}

Napi::Value ChildEngine::Profile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Engine& e = Idle(env, "profile");
  Napi::Array out = Napi::Array::New(env);
  uint32_t k = 0;
  for (const auto& entry : e.device().Profile()) {
    Napi::Object row = Napi::Object::New(env);
    row.Set("kernel", entry.first);
    row.Set("launches", static_cast<double>(entry.second.launches));
    row.Set("seconds", entry.second.seconds);
    out.Set(k++, row);
  }
  return out;
}

Napi::Value ChildEngine::Cancel(const Napi::CallbackInfo& info) {
  cancel_->store(true);
  return info.Env().Undefined();
}

Napi::Value ChildEngine::Close(const Napi::CallbackInfo& info) {
  if (busy_->load()) throw Napi::Error::New(info.Env(), "close: the engine is busy (cancel() and await the round first)");
  engine_.reset();
  return info.Env().Undefined();
}

Napi::Value ChildEngineBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ModelShape shape = ShapeOf(env, info[0]);
  const int batch = IntIn(env, info[1], "batch", 1, 4096);
  const int steps = IntIn(env, info[2], "stepsPerRound", 1, 1 << 24);
  Guard(env, [&] {
    engine::CheckShape(shape, batch);
  });
  return Napi::Number::New(env, static_cast<double>(Engine::BytesPerChild(shape, batch, steps)));
}

Napi::Value CudaMemoryInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t free_bytes = 0, total_bytes = 0;
  Guard(env, [&] {
    engine::CreateCudaDevice()->MemoryInfo(&free_bytes, &total_bytes);
  });
  Napi::Object out = Napi::Object::New(env);
  out.Set("free", static_cast<double>(free_bytes));
  out.Set("total", static_cast<double>(total_bytes));
  return out;
}

}  // namespace nos
