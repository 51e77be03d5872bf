// The GPU maths exposed to JS as `gpu.kmeans / gpu.selectPoints / gpu.costMatrix /
// gpu.sinkhorn`: the same arguments and result shapes as the CPU bindings in
// core_bindings.cpp, so tests and benchmarks can run both on identical inputs. Each is a
// promise-returning background task; without a usable device the promise rejects with
// code BACKEND_UNAVAILABLE and the reason (the functions exist in every build).
#pragma once

#include <napi.h>

namespace p2sam::addon {

void RegisterGpuBindings(Napi::Env env, Napi::Object exports);

}  // namespace p2sam::addon
