// SAM encoder and decoder runners over ONNX Runtime sessions.
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

namespace p2sam::runtime {

struct ModelSource {
  std::string path;            // load from a file (external data next to it works)
  std::vector<uint8_t> bytes;  // or from memory when path is empty
  std::string label;           // "encoder" / "decoder", for messages
  // For bytes: the folder external-data locations are resolved in. ONNX Runtime would
  // otherwise resolve them against the process's working directory, so lib/ refuses
  // in-memory models with external data unless the caller names one (or, for a pruned
  // decoder, passes the original file's folder).
  std::string external_data_folder;
};

struct SessionConfig {
  int intra_op_threads = 0;        // 0 = ONNX Runtime's default (one per core)
  int graph_optimization = 99;     // 0 none, 1 basic, 2 extended, 99 all
  bool memory_pattern = false;     // off: measured ≈45% lower peak RSS on SAM ViT-B at equal speed
  bool cpu_arena = true;           // off: lower RSS, but ≈2.4× slower encoder on ViT-B
  bool use_cuda = false;           // append the CUDA execution provider
};

// The 256×64×64 embedding (channel-major, as the encoder emits it) plus the geometry of
// the image it came from — everything later stages need to map points back.
struct Embedding {
  std::vector<float> data;  // 256*64*64
  int orig_w = 0, orig_h = 0;
  int input_w = 0, input_h = 0;  // size after resize-longest-side (new_w/new_h)
};

class OrtModel {
 public:
  OrtModel(const ModelSource& source, const SessionConfig& config);
  const GraphInfo& graph() const { return graph_; }
  const Classification& classification() const { return class_; }
  Ort::Session& session() const { return *session_; }
  const std::string& label() const { return label_; }
  std::string execution_provider() const { return provider_; }

 protected:
  std::unique_ptr<Ort::Session> session_;
  GraphInfo graph_;
  Classification class_;
  std::string label_;
  std::string provider_ = "cpu";
};

class SamEncoder : public OrtModel {
 public:
  SamEncoder(const ModelSource& source, const SessionConfig& config);
  ModelKind form() const { return class_.kind; }
  // HWC float 0..255 of size [h,w,3] for SamEncoderImage, or [1,3,1024,1024] CHW for
  // SamEncoderPreprocessed. Returns the 256*4096 embedding after checking its shape and
  // that every value is finite.
  std::vector<float> run(const float* input, int h, int w) const;

 private:
  std::string input_name_, output_name_;
};

struct DecoderPrompt {
  std::vector<float> coords;  // N×2, 1024 frame, padding point/box corners included
  std::vector<float> labels;  // N
  const float* mask_input = nullptr;  // 256×256 logits, or null = zeros / has_mask_input 0
  int orig_h = 0, orig_w = 0;
};

struct DecoderResult {
  int channels = 0;
  std::vector<float> iou;      // channels
  std::vector<float> low_res;  // channels × 256 × 256
  std::vector<float> masks;    // channels × H × W (only when asked for)
};

class SamDecoder : public OrtModel {
 public:
  SamDecoder(const ModelSource& source, const SessionConfig& config);
  // 4, 1, or 0 until the first run when the graph does not declare it.
  int mask_outputs() const { return mask_outputs_.load(); }
  DecoderResult run(const float* embedding, const DecoderPrompt& prompt, bool want_full_masks) const;

 private:
  mutable std::atomic<int> mask_outputs_{0};
};

}  // namespace p2sam::runtime
