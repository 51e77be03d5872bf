// The core maths exposed to JS: reference features, prototypes / k-means, point
// selection and Wasserstein distances — each a promise-returning background task.
#pragma once

#include <napi.h>

namespace p2sam::addon {

void RegisterCoreBindings(Napi::Env env, Napi::Object exports);

}  // namespace p2sam::addon
