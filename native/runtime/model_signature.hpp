// What a loaded model is, told from its inputs and outputs (docs/algorithm.md §3) — independent of
// the runtime that loaded it, so ONNX Runtime graphs and TorchScript modules are
// described and classified in the same words.
//
// Exports differ in how much shape information they keep (dynamic dims appear as -1),
// so the rules use names first and only the static dims that are present; real output
// shapes are checked again after the first run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace p2sam::runtime {

struct TensorInfo {
  std::string name;
  std::string type;           // "float32", "int64", ... ("tensor" when the runtime does not say)
  std::vector<int64_t> dims;  // -1 for a dynamic dimension; empty when the rank is unknown
};

struct GraphInfo {
  std::vector<TensorInfo> inputs;
  std::vector<TensorInfo> outputs;
  std::string producer;
  std::string graph_name;
  int64_t model_version = 0;
};

enum class ModelKind {
  SamEncoderImage,         // input_image f32[H,W,3], RGB 0..255, preprocessing in the graph
  SamEncoderPreprocessed,  // f32[1,3,1024,1024], normalised and padded outside
  SamDecoder,              // SAM v1 prompt decoder (4 or 1 mask outputs)
  Sam2Encoder,
  Sam2Decoder,
  Unknown,
};

struct Classification {
  ModelKind kind = ModelKind::Unknown;
  int mask_outputs = 0;         // decoders: 4, 1, or 0 when the graph leaves it dynamic
  bool has_full_masks = false;  // decoders: the graph exports `masks` at the original size
  std::string reason;           // for Unknown: what is missing or unexpected
};

// The SAM v1 ONNX decoder's inputs, in the order Meta's export declares them.
const std::vector<std::string>& sam_decoder_input_names();

Classification classify(const GraphInfo& graph);
const char* kind_name(ModelKind kind);
std::string describe_signature(const GraphInfo& graph);  // "inputs a f32[1,3], ...; outputs ..."

}  // namespace p2sam::runtime
