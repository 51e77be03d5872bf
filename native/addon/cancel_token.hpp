// NativeCancelToken: the JS face of a core::CancelToken. lib/cancellable.ts makes one per
// call that has an AbortSignal, arms it right before starting the native call (the task
// queued next takes it, see instance_data.hpp) and cancels it when the signal aborts.
#pragma once

#include <napi.h>

#include <memory>

#include "cancel.hpp"

namespace p2sam::addon {

class CancelTokenWrap : public Napi::ObjectWrap<CancelTokenWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit CancelTokenWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Arm(const Napi::CallbackInfo& info);
  Napi::Value Disarm(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  std::shared_ptr<core::CancelToken> token_;
};

}  // namespace p2sam::addon
