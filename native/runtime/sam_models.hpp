// SAM encoder and decoder runners over ONNX Runtime sessions (model_runner.hpp's
// interface).
//
// Thread safety (whisper.h style): a loaded SamEncoder / SamDecoder is immutable after
// load and shared by every call; Ort::Session::Run is safe to call concurrently, and
// every run uses its own input/output buffers. Nothing here touches V8.
#pragma once

#include <onnxruntime_cxx_api.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model_graph.hpp"
#include "model_runner.hpp"

namespace p2sam::runtime {

struct SessionConfig {
  int intra_op_threads = 0;     // 0 = ONNX Runtime's default (one per core)
  int graph_optimization = 99;  // 0 none, 1 basic, 2 extended, 99 all
  bool memory_pattern = false;  // off: measured ≈45% lower peak RSS on SAM ViT-B at equal speed
  bool cpu_arena = true;        // off: lower RSS, but ≈2.4× slower encoder on ViT-B
  bool use_cuda = false;        // append the CUDA execution provider
};

// One ONNX Runtime session and what its graph is.
class OrtModel {
 public:
  OrtModel(const ModelSource& source, const SessionConfig& config);
  const GraphInfo& graph() const { return graph_; }
  const Classification& classification() const { return class_; }
  Ort::Session& session() const { return *session_; }
  const std::string& label() const { return label_; }
  const std::string& execution_provider() const { return provider_; }

 private:
  std::unique_ptr<Ort::Session> session_;
  GraphInfo graph_;
  Classification class_;
  std::string label_;
  std::string provider_ = "cpu";
};

// The ModelRunner part every ONNX Runtime runner shares.
template <typename Interface>
class OrtRunner : public Interface {
 public:
  OrtRunner(const ModelSource& source, const SessionConfig& config) : model_(source, config) {}
  const GraphInfo& graph() const override { return model_.graph(); }
  const Classification& classification() const override { return model_.classification(); }
  const std::string& label() const override { return model_.label(); }
  std::string execution_provider() const override { return model_.execution_provider(); }
  std::string runtime_name() const override { return "onnxruntime"; }

 protected:
  OrtModel model_;
};

class SamEncoder : public OrtRunner<EncoderRunner> {
 public:
  SamEncoder(const ModelSource& source, const SessionConfig& config);
  EncoderOutput run(const float* input, int h, int w) const override;

 private:
  std::string input_name_, output_name_;
};

class SamDecoder : public OrtRunner<DecoderRunner> {
 public:
  SamDecoder(const ModelSource& source, const SessionConfig& config);
  int mask_outputs() const override { return mask_outputs_.load(); }
  DecoderResult run(const Embedding& embedding, const DecoderPrompt& prompt, bool want_full_masks) const override;

 private:
  mutable std::atomic<int> mask_outputs_{0};
};

}  // namespace p2sam::runtime
