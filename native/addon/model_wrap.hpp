// JS-visible wrappers: NativeModel (an encoder+decoder pair) and NativeEmbedding.
//
// Ownership: both hold shared_ptrs to immutable C++ objects. Every queued task copies
// the shared_ptr it needs, so `dispose()` on the JS side (which drops the wrapper's
// reference) can never free a session or an embedding that a worker is still using:
// the last task to finish releases it.
#pragma once

#include <napi.h>

#include <memory>

#include "runtime/sam_models.hpp"

namespace p2sam::addon {

// The runners are ONNX Runtime sessions, or TorchScript modules handed over by
// p2sam_torch.node (addon/runner_handle.hpp); the engine does not know which.
struct ModelPair {
  std::shared_ptr<const runtime::EncoderRunner> encoder;
  std::shared_ptr<const runtime::DecoderRunner> decoder;
  // The runner the P2SAM cascade uses: the decoder with its unused full-resolution
  // branch pruned away when that was possible (else the same object as `decoder`).
  std::shared_ptr<const runtime::DecoderRunner> cascade;
  std::string cascade_note;
  runtime::SessionConfig config;
};

class EmbeddingWrap : public Napi::ObjectWrap<EmbeddingWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object Create(Napi::Env env, std::shared_ptr<const runtime::Embedding> embedding);
  static std::shared_ptr<const runtime::Embedding> Get(const Napi::Value& value);
  explicit EmbeddingWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Meta(const Napi::CallbackInfo& info);
  Napi::Value Data(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
  std::shared_ptr<const runtime::Embedding> embedding_;
};

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object Create(Napi::Env env, std::shared_ptr<ModelPair> pair);
  explicit ModelWrap(const Napi::CallbackInfo& info);

 private:
  std::shared_ptr<ModelPair> pair(const Napi::Env& env) const;
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Encode(const Napi::CallbackInfo& info);
  Napi::Value Decode(const Napi::CallbackInfo& info);
  Napi::Value RunCandidates(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
  std::shared_ptr<ModelPair> pair_;
};

// loadModels({ encoder: {path}|{bytes}, decoder: ..., threads, graphOptimization,
//              memoryPattern, cpuArena, device }) → Promise<NativeModel>
Napi::Value LoadModels(const Napi::CallbackInfo& info);

// inspectModel({path}|{bytes}) → Promise<{ kind, maskOutputs, reason, inputs, outputs, producer }>
Napi::Value InspectModel(const Napi::CallbackInfo& info);

Napi::Object GraphToJs(Napi::Env env, const runtime::GraphInfo& g);

}  // namespace p2sam::addon
