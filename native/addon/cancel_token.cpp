#include "addon/cancel_token.hpp"

#include "addon/instance_data.hpp"

namespace p2sam::addon {

Napi::Function CancelTokenWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeCancelToken",
                     {InstanceMethod("arm", &CancelTokenWrap::Arm), InstanceMethod("disarm", &CancelTokenWrap::Disarm),
                      InstanceMethod("cancel", &CancelTokenWrap::Cancel)});
}

CancelTokenWrap::CancelTokenWrap(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<CancelTokenWrap>(info), token_(std::make_shared<core::CancelToken>()) {}

// The next task queued in this environment takes the token.
Napi::Value CancelTokenWrap::Arm(const Napi::CallbackInfo& info) {
  instance_data(info.Env()).pending_cancel = token_;
  return info.Env().Undefined();
}

// Clears the armed token if no task took it (the call threw before queueing).
Napi::Value CancelTokenWrap::Disarm(const Napi::CallbackInfo& info) {
  auto& pending = instance_data(info.Env()).pending_cancel;
  if (pending == token_) pending.reset();
  return info.Env().Undefined();
}

// Safe at any time, from the JS thread: the task's loops see the flag, its ONNX Runtime
// Run is told to terminate.
Napi::Value CancelTokenWrap::Cancel(const Napi::CallbackInfo& info) {
  token_->cancel();
  return info.Env().Undefined();
}

}  // namespace p2sam::addon
