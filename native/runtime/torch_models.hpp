// SAM encoder and decoder runners over TorchScript modules (libtorch), behind the same
// interface as the ONNX Runtime sessions (model_runner.hpp). Built only into
// p2sam_torch.node: requiring libtorch costs ~1 s and ~290 shared libraries, which the
// ONNX path must not pay.
//
// Model contract (docs/torchscript.md):
//   encoder  forward(Tensor) -> Tensor: [H,W,3] RGB 0..255 (image form) or
//            [1,3,1024,1024] preprocessed, → [1,256,64,64]. The form comes from the
//            archive's extra file p2sam.json ({"kind": "sam-encoder-image"}); without
//            it the encoder is taken as preprocessed — what tracing SAM's image_encoder
//            gives.
//   decoder  forward(image_embeddings, point_coords, point_labels, mask_input,
//            has_mask_input, orig_im_size) -> (masks, iou_predictions, low_res_masks):
//            exactly the inputs and outputs of SAM's ONNX decoder export.
//
// libtorch types stay out of this header (pimpl): the N-API glue that includes it then
// compiles in a second instead of the ~25 s a <torch/torch.h> translation unit costs.
#pragma once

#include <memory>
#include <string>

#include "model_runner.hpp"

namespace p2sam::runtime {

struct TorchConfig {
  std::string device = "cpu";  // "cpu" or "cuda" (device 0)
  int threads = 0;             // libtorch intra-op threads; 0 = one per core
};

// Process-wide libtorch settings, applied by the first load only: at::set_num_threads
// changes a global pool (and defaults to 1 in this libtorch unless set), and the inter-op
// pool can be sized only before its first use.
void configure_torch_threads(int threads);

struct TorchStatus {
  std::string version;         // libtorch's TORCH_VERSION, e.g. "1.13.1"
  bool cuda_compiled = false;  // this libtorch was built with CUDA
  bool cuda_available = false;
  int cuda_devices = 0;
  std::string reason;  // why CUDA is not usable, when it is not
};
TorchStatus torch_status();

// What a TorchScript file is, without building a runner (p2sam inspect). Throws the same
// coded errors as loading for files that are not TorchScript at all.
struct TorchModelReport {
  GraphInfo graph;
  Classification classification;
};
TorchModelReport inspect_torch_model(const ModelSource& source);

class TorchEncoder : public EncoderRunner {
 public:
  TorchEncoder(const ModelSource& source, const TorchConfig& config);
  ~TorchEncoder() override;
  const GraphInfo& graph() const override;
  const Classification& classification() const override;
  const std::string& label() const override;
  std::string execution_provider() const override;
  std::string runtime_name() const override { return "libtorch"; }
  EncoderOutput run(const float* input, int h, int w) const override;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

class TorchDecoder : public DecoderRunner {
 public:
  TorchDecoder(const ModelSource& source, const TorchConfig& config);
  ~TorchDecoder() override;
  const GraphInfo& graph() const override;
  const Classification& classification() const override;
  const std::string& label() const override;
  std::string execution_provider() const override;
  std::string runtime_name() const override { return "libtorch"; }
  int mask_outputs() const override;
  DecoderResult run(const Embedding& embedding, const DecoderPrompt& prompt, bool want_full_masks) const override;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace p2sam::runtime
