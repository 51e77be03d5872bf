// One process-wide ONNX Runtime environment, created on first use.
//
// Why manual API init (ORT_API_MANUAL_INIT): the headers are API version 21 while the
// shipped runtime is 1.30. We ask the runtime for exactly the version we were compiled
// against and fail with a readable error — not a null-pointer crash — if it is older.
#pragma once

#include <onnxruntime_cxx_api.h>

#include <string>

#include "errors.hpp"

namespace p2sam::runtime {

// Throws CoreError("ORT_UNAVAILABLE") when the runtime library cannot serve our API.
Ort::Env& ort_env();

// ONNX Runtime's version string, e.g. "1.30.0".
std::string ort_version();

// Maps an ONNX Runtime exception raised while loading a model to our stable codes:
// missing file → MODEL_NOT_FOUND, bad protobuf/graph → MODEL_INVALID, else
// MODEL_INVALID with ORT's own message attached.
core::CoreError load_error(const Ort::Exception& e, const std::string& what);

// Maps an exception raised by Session::Run → INFERENCE_FAILED.
core::CoreError run_error(const Ort::Exception& e, const std::string& what);

}  // namespace p2sam::runtime
