// NativeReference: the JS handle of a runtime::Reference, and the calls that make one.
//
// Ownership mirrors EmbeddingWrap: the wrapper holds a shared_ptr<const Reference>,
// every queued task copies it, release() drops only the wrapper's share. The features
// and prototypes stay in C++; JS sees the summary, the saved bytes, and (for tests and
// benchmarks) copies of the arrays on request.
#pragma once

#include <napi.h>

#include <memory>

#include "runtime/reference.hpp"

namespace p2sam::addon {

class ReferenceWrap : public Napi::ObjectWrap<ReferenceWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object Create(Napi::Env env, std::shared_ptr<const runtime::Reference> reference);
  // The reference behind a NativeReference; TypeError for anything else, DISPOSED once released.
  static std::shared_ptr<const runtime::Reference> Get(const Napi::Value& value);
  // new NativeReference(bytes: Uint8Array) restores saved data; encode paths pass nothing.
  explicit ReferenceWrap(const Napi::CallbackInfo& info);

 private:
  const runtime::Reference& get(const Napi::Env& env) const;
  Napi::Value Summary(const Napi::CallbackInfo& info);
  Napi::Value ToData(const Napi::CallbackInfo& info);
  Napi::Value Contents(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
  std::shared_ptr<const runtime::Reference> reference_;
};

void RegisterReferenceBindings(Napi::Env env, Napi::Object exports);

}  // namespace p2sam::addon
