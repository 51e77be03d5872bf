// Per-environment state (constructors). Stored with napi_set_instance_data so the addon
// works in worker_threads and Electron renderers, each of which is its own env.
#pragma once

#include <napi.h>

namespace p2sam::addon {

struct InstanceData {
  Napi::FunctionReference model_ctor;
  Napi::FunctionReference embedding_ctor;
};

inline InstanceData& instance_data(Napi::Env env) { return *env.GetInstanceData<InstanceData>(); }

}  // namespace p2sam::addon
