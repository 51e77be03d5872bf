#include "ort_api.hpp"

#include <memory>
#include <mutex>

namespace p2sam::runtime {

namespace {
std::once_flag g_init_once;
std::unique_ptr<Ort::Env> g_env;
std::string g_init_error;
}  // namespace

Ort::Env& ort_env() {
  std::call_once(g_init_once, [] {
    const OrtApiBase* base = OrtGetApiBase();
    const OrtApi* api = base ? base->GetApi(ORT_API_VERSION) : nullptr;
    if (!api) {
      g_init_error = std::string("the ONNX Runtime library (") + (base ? base->GetVersionString() : "unknown") +
                     ") does not provide C API version " + std::to_string(ORT_API_VERSION);
      return;
    }
    Ort::InitApi(api);
    try {
      g_env = std::make_unique<Ort::Env>(ORT_LOGGING_LEVEL_ERROR, "p2sam-native");
    } catch (const Ort::Exception& e) {
      g_init_error = std::string("ONNX Runtime environment could not be created: ") + e.what();
    }
  });
  if (!g_env) throw core::CoreError("ORT_UNAVAILABLE", g_init_error);
  return *g_env;
}

std::string ort_version() {
  const OrtApiBase* base = OrtGetApiBase();
  return base ? base->GetVersionString() : "unknown";
}

core::CoreError load_error(const Ort::Exception& e, const std::string& what) {
  switch (e.GetOrtErrorCode()) {
    case ORT_NO_SUCHFILE:
      return core::CoreError("MODEL_NOT_FOUND", what + ": file not found (" + e.what() + ")");
    case ORT_INVALID_PROTOBUF:
      return core::CoreError("MODEL_INVALID", what +
                                                  " is not a valid ONNX model (the protobuf could not be parsed; "
                                                  "is the file truncated or not an .onnx file?): " +
                                                  e.what());
    case ORT_INVALID_GRAPH:
      return core::CoreError("MODEL_INVALID", what + " has an invalid graph: " + e.what());
    default:
      return core::CoreError("MODEL_INVALID", what + " could not be loaded by ONNX Runtime: " + e.what());
  }
}

core::CoreError run_error(const Ort::Exception& e, const std::string& what) {
  return core::CoreError("INFERENCE_FAILED", what + " failed in ONNX Runtime: " + e.what());
}

}  // namespace p2sam::runtime
