// The seam between the engine and whatever runs the networks.
//
// The P2SAM engine (encoder input preparation, the three-pass candidate cascade,
// scoring) is written once against EncoderRunner / DecoderRunner. ONNX Runtime sessions
// (sam_models.hpp) and TorchScript modules (torch_models.hpp, built into the separate
// p2sam_torch.node) implement them. A torch runner reaches the main addon as a pointer
// to this interface (addon/runner_handle.hpp), so both binaries must be compiled from
// the same copy of this header: kRunnerInterfaceVersion is checked at the hand-over.
//
// Thread safety: a loaded runner is immutable and shared by every call; run() may be
// called from several pool threads at once and must keep all per-call state local.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model_signature.hpp"

namespace p2sam::runtime {

// Bump whenever a class or struct in this header changes layout or gains a virtual.
constexpr int kRunnerInterfaceVersion = 1;

struct ModelSource {
  std::string path;            // load from a file (external data next to it works)
  std::vector<uint8_t> bytes;  // or from memory when path is empty
  std::string label;           // "encoder" / "decoder", for messages
};

// A runner's own copy of an embedding in its device memory (a CUDA tensor), made by the
// encoder that produced the embedding so that the decoder passes of a target do not
// upload the same 4 MiB again. Opaque to the engine; only the runner that made it reads it.
class DeviceEmbedding {
 public:
  virtual ~DeviceEmbedding() = default;
};

// The 256×64×64 embedding (channel-major, as the encoder emits it) plus the geometry of
// the image it came from — everything later stages need to map points back.
struct Embedding {
  std::vector<float> data;  // 256*64*64, always on the host: scoring reads it
  int orig_w = 0, orig_h = 0;
  int input_w = 0, input_h = 0;                   // size after resize-longest-side (new_w/new_h)
  std::shared_ptr<const DeviceEmbedding> device;  // null for host runners / restored embeddings
};

struct EncoderOutput {
  std::vector<float> data;  // 256*64*64, checked finite
  std::shared_ptr<const DeviceEmbedding> device;
};

struct DecoderPrompt {
  std::vector<float> coords;          // N×2, 1024 frame, padding point/box corners included
  std::vector<float> labels;          // N
  const float* mask_input = nullptr;  // 256×256 logits, or null = zeros / has_mask_input 0
  int orig_h = 0, orig_w = 0;
};

struct DecoderResult {
  int channels = 0;
  std::vector<float> iou;      // channels
  std::vector<float> low_res;  // channels × 256 × 256
  std::vector<float> masks;    // channels × H × W (only when asked for)
};

class ModelRunner {
 public:
  virtual ~ModelRunner() = default;
  virtual const GraphInfo& graph() const = 0;
  virtual const Classification& classification() const = 0;
  virtual const std::string& label() const = 0;
  // Where the network runs: "cpu" / "cuda".
  virtual std::string execution_provider() const = 0;
  // What runs it: "onnxruntime" / "libtorch".
  virtual std::string runtime_name() const = 0;
};

class EncoderRunner : public ModelRunner {
 public:
  ModelKind form() const { return classification().kind; }
  // HWC float 0..255 of size [h,w,3] for SamEncoderImage, or [1,3,1024,1024] CHW for
  // SamEncoderPreprocessed. Returns the 256*4096 embedding after checking its shape and
  // that every value is finite.
  virtual EncoderOutput run(const float* input, int h, int w) const = 0;
};

class DecoderRunner : public ModelRunner {
 public:
  // 4, 1, or 0 until the first run when the model does not declare it.
  virtual int mask_outputs() const = 0;
  virtual DecoderResult run(const Embedding& embedding, const DecoderPrompt& prompt, bool want_full_masks) const = 0;
};

}  // namespace p2sam::runtime
