// How p2sam_torch.node hands its runners to p2sam.node.
//
// The torch addon loads TorchScript modules on the libuv pool and returns a JS external
// that owns a RunnerHandoff; p2sam.node's loadModels({ runners }) copies the shared_ptrs
// out of it and from then on drives the runners through model_runner.hpp's virtual
// interface, exactly like its own ONNX Runtime sessions — one engine code path.
//
// Both .node files are built from the same tree by the same compiler, but they are
// separate shared objects: the type tag proves the external really is a hand-off (not
// some other addon's pointer), and the interface version and compiler string are read
// before anything else in it, so a stale p2sam_torch.node from an older build is refused
// instead of being called through a mismatched vtable.
#pragma once

#include <napi.h>

#include <memory>
#include <string>

#include "addon/async_task.hpp"
#include "runtime/model_runner.hpp"

namespace p2sam::addon {

struct RunnerHandoff {
  int interface_version = runtime::kRunnerInterfaceVersion;  // first: readable whatever follows
  std::string compiler = __VERSION__;
  std::shared_ptr<const runtime::EncoderRunner> encoder;  // null: the pair's encoder is ONNX
  std::shared_ptr<const runtime::DecoderRunner> decoder;  // null: the pair's decoder is ONNX
};

// Random, fixed: identifies a RunnerHandoff external across the two addons.
inline constexpr napi_type_tag kRunnerHandoffTag = {0x70327361'6d746f72ULL, 0x63687275'6e6e6572ULL};

inline Napi::Value WrapHandoff(Napi::Env env, std::unique_ptr<RunnerHandoff> handoff) {
  auto ext = Napi::External<RunnerHandoff>::New(env, handoff.release(), [](Napi::Env, RunnerHandoff* h) { delete h; });
  napi_status status = napi_type_tag_object(env, ext, &kRunnerHandoffTag);
  if (status != napi_ok) throw Napi::Error::New(env, "could not tag the runner hand-off");
  return ext;
}

// The hand-off inside `value`, or a TypeError / coded error when it is not one of ours
// or comes from an incompatible build.
inline const RunnerHandoff& UnwrapHandoff(const Napi::Value& value) {
  Napi::Env env = value.Env();
  bool tagged = false;
  if (value.IsExternal()) napi_check_object_type_tag(env, value, &kRunnerHandoffTag, &tagged);
  if (!tagged)
    throw Napi::TypeError::New(env, "runners must be the hand-off returned by p2sam_torch.node's loadRunners");
  const RunnerHandoff* h = value.As<Napi::External<RunnerHandoff>>().Data();
  if (h->interface_version != runtime::kRunnerInterfaceVersion || h->compiler != __VERSION__) {
    Napi::Error err = Napi::Error::New(env,
                                       "p2sam_torch.node was built from a different version of p2sam-native "
                                       "than p2sam.node; rebuild both (npm run build)");
    err.Value().Set("code", "BACKEND_UNAVAILABLE");
    throw err;
  }
  return *h;
}

}  // namespace p2sam::addon
