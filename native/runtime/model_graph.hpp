// Reads the signature of a loaded ONNX Runtime session (model_signature.hpp classifies it).
#pragma once

#include <onnxruntime_cxx_api.h>

#include "model_signature.hpp"

namespace p2sam::runtime {

GraphInfo inspect_session(Ort::Session& session);

}  // namespace p2sam::runtime
