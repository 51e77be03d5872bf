// Per-environment state (constructors). Stored with napi_set_instance_data so the addon
// works in worker_threads and Electron renderers, each of which is its own env.
#pragma once

#include <napi.h>

#include <cstdint>

namespace p2sam::addon {

struct InstanceData {
  Napi::FunctionReference model_ctor;
  Napi::FunctionReference embedding_ctor;
  Napi::FunctionReference reference_ctor;
  // Bytes copy_in has copied out of JS buffers in this env: a diagnostic that lets the
  // tests show a segment() call ships handles, not the reference's features.
  std::uint64_t copied_in_bytes = 0;
};

inline InstanceData& instance_data(Napi::Env env) { return *env.GetInstanceData<InstanceData>(); }

}  // namespace p2sam::addon
