// ChildEngine, the JS face of the child engine (engine.h): construction on a device, data, rules, children, and
// rounds and evaluations that run off the JS thread and resolve Promises.
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>

#include "engine/engine.h"

namespace nos {

class ChildEngine : public Napi::ObjectWrap<ChildEngine> {
 public:
  static Napi::Function Define(Napi::Env env);
  // new ChildEngine({ device: 'cuda' | 'host', image, model, capacity, batch, stepsPerRound, threads, profile })
  explicit ChildEngine(const Napi::CallbackInfo& info);

 private:
  Napi::Value Layout(const Napi::CallbackInfo& info);
  Napi::Value DeviceName(const Napi::CallbackInfo& info);
  Napi::Value SetData(const Napi::CallbackInfo& info);
  Napi::Value AddRule(const Napi::CallbackInfo& info);
  // loadRule(image) -> Promise<handle>: loads off the JS thread, allowed while a round runs.
  Napi::Value LoadRule(const Napi::CallbackInfo& info);
  Napi::Value DropRule(const Napi::CallbackInfo& info);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value RunRound(const Napi::CallbackInfo& info);
  Napi::Value Evaluate(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  // profile() -> [{ kernel, launches, seconds }] when made with { profile: true } (each launch timed alone).
  Napi::Value Profile(const Napi::CallbackInfo& info);
  void SetKernels(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  // Throws a JS error when the engine is closed or a round or evaluation is running.
  engine::Engine& Idle(const Napi::Env& env, const char* what);
  int Slot(const Napi::Env& env, const Napi::Value& value, const char* what);

  std::shared_ptr<engine::Engine> engine_;
  std::shared_ptr<std::atomic<bool>> busy_ = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<std::atomic<bool>> cancel_ = std::make_shared<std::atomic<bool>>(false);
};

// childEngineBytes(model, batch, stepsPerRound) -> device bytes of one child slot.
Napi::Value ChildEngineBytes(const Napi::CallbackInfo& info);
// cudaMemoryInfo() -> { free, total } bytes of the current GPU (0, 0 where the driver cannot say).
Napi::Value CudaMemoryInfo(const Napi::CallbackInfo& info);

}  // namespace nos
