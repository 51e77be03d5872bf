// Module entry: registers the classes and free functions. Each export is thin glue; the
// TypeScript layer (lib/native.ts) is the only caller and validates every argument first.
#include <napi.h>

#include "addon/core_bindings.hpp"
#include "addon/gpu_bindings.hpp"
#include "addon/instance_data.hpp"
#include "addon/model_wrap.hpp"
#include "addon/reference_wrap.hpp"
#include "cuda/cuda_backend.hpp"
#include "runtime/ort_api.hpp"

namespace p2sam::addon {

namespace {

Napi::Value Backends(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("ortVersion", runtime::ort_version());
  const cuda::DeviceStatus& s = cuda::device_status();
  Napi::Object c = Napi::Object::New(env);
  c.Set("compiled", s.compiled);
  c.Set("available", s.available);
  c.Set("deviceCount", s.device_count);
  c.Set("deviceName", s.device_name);
  c.Set("computeCapability", std::to_string(s.compute_major) + "." + std::to_string(s.compute_minor));
  c.Set("reason", s.reason);
  o.Set("cuda", c);
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new InstanceData();
  Napi::Function model = ModelWrap::Define(env);
  Napi::Function embedding = EmbeddingWrap::Define(env);
  data->model_ctor = Napi::Persistent(model);
  data->embedding_ctor = Napi::Persistent(embedding);
  env.SetInstanceData<InstanceData>(data);
  exports.Set("NativeModel", model);
  exports.Set("NativeEmbedding", embedding);
  exports.Set("loadModels", Napi::Function::New(env, LoadModels, "loadModels"));
  exports.Set("inspectModel", Napi::Function::New(env, InspectModel, "inspectModel"));
  exports.Set("backends", Napi::Function::New(env, Backends, "backends"));
  RegisterReferenceBindings(env, exports);
  RegisterCoreBindings(env, exports);
  RegisterGpuBindings(env, exports);
  return exports;
}

}  // namespace

}  // namespace p2sam::addon

static Napi::Object InitP2Sam(Napi::Env env, Napi::Object exports) { return p2sam::addon::Init(env, exports); }

NODE_API_MODULE(p2sam, InitP2Sam)
