#include "model_signature.hpp"

#include <algorithm>
#include <set>
#include <sstream>

namespace p2sam::runtime {

namespace {

const TensorInfo* find(const std::vector<TensorInfo>& list, const std::string& name) {
  for (const auto& t : list)
    if (t.name == name) return &t;
  return nullptr;
}

bool has(const std::vector<TensorInfo>& list, const std::string& name) { return find(list, name) != nullptr; }

// A static dim must equal `want`; a dynamic one (-1 or 0 for symbolic) is accepted.
bool dim_ok(const TensorInfo& t, size_t i, int64_t want) {
  return t.dims.size() > i && (t.dims[i] <= 0 || t.dims[i] == want);
}

std::string join_missing(const std::vector<TensorInfo>& present, const std::vector<std::string>& wanted) {
  std::string out;
  for (const auto& w : wanted)
    if (!has(present, w)) out += (out.empty() ? "" : ", ") + w;
  return out;
}

std::string join_unexpected(const std::vector<TensorInfo>& present, const std::vector<std::string>& wanted) {
  std::set<std::string> w(wanted.begin(), wanted.end());
  std::string out;
  for (const auto& p : present)
    if (!w.count(p.name)) out += (out.empty() ? "" : ", ") + p.name;
  return out;
}

const std::vector<std::string> kSamDecoderInputs = {"image_embeddings", "point_coords",   "point_labels",
                                                    "mask_input",       "has_mask_input", "orig_im_size"};
// `masks` (full-resolution logits) is optional: P2SAM computes the full-resolution mask of
// the one channel it keeps from low_res_masks, and a decoder pruned of that branch
// (lib/onnx/prune.ts) runs faster.
const std::vector<std::string> kSamDecoderOutputs = {"iou_predictions", "low_res_masks"};

}  // namespace

const std::vector<std::string>& sam_decoder_input_names() { return kSamDecoderInputs; }

Classification classify(const GraphInfo& g) {
  Classification c;
  // SAM 2 first: its decoder also has point_coords/mask_input, so names that only SAM 2
  // has decide.
  if (has(g.outputs, "high_res_feats_0") || has(g.outputs, "image_embed")) {
    c.kind = ModelKind::Sam2Encoder;
    return c;
  }
  if (has(g.inputs, "high_res_feats_0") || has(g.inputs, "image_embed")) {
    c.kind = ModelKind::Sam2Decoder;
    return c;
  }
  // SAM v1 decoder: recognised when most of its inputs are there, so that a near miss
  // (a renamed input) is reported as "decoder with a missing input" rather than "unknown".
  int decoder_hits = 0;
  for (const auto& n : kSamDecoderInputs) decoder_hits += has(g.inputs, n) ? 1 : 0;
  if (decoder_hits >= 3) {
    std::string missing = join_missing(g.inputs, kSamDecoderInputs);
    std::string missing_out = join_missing(g.outputs, kSamDecoderOutputs);
    if (!missing.empty() || !missing_out.empty()) {
      std::string unexpected = join_unexpected(g.inputs, kSamDecoderInputs);
      c.reason = "looks like a SAM decoder but ";
      if (!missing.empty()) c.reason += "lacks input(s) " + missing;
      if (!unexpected.empty()) c.reason += " (unexpected input(s): " + unexpected + ")";
      if (!missing_out.empty()) c.reason += std::string(missing.empty() ? "" : "; ") + "lacks output(s) " + missing_out;
      return c;
    }
    const TensorInfo* emb = find(g.inputs, "image_embeddings");
    if (!(dim_ok(*emb, 1, 256) && dim_ok(*emb, 2, 64) && dim_ok(*emb, 3, 64)) || emb->dims.size() != 4) {
      c.reason = "decoder input image_embeddings must be [1,256,64,64], the graph declares " + describe_signature(g);
      return c;
    }
    c.kind = ModelKind::SamDecoder;
    c.has_full_masks = has(g.outputs, "masks");
    const TensorInfo* iou = find(g.outputs, "iou_predictions");
    const TensorInfo* low = find(g.outputs, "low_res_masks");
    int64_t channels = -1;
    if (iou->dims.size() == 2 && iou->dims[1] > 0)
      channels = iou->dims[1];
    else if (low->dims.size() == 4 && low->dims[1] > 0)
      channels = low->dims[1];
    c.mask_outputs = channels > 0 ? static_cast<int>(channels) : 0;
    if (c.mask_outputs != 0 && c.mask_outputs != 1 && c.mask_outputs != 4) {
      c.kind = ModelKind::Unknown;
      c.reason = "a SAM decoder must have 4 or 1 mask outputs, this one has " + std::to_string(c.mask_outputs);
    }
    return c;
  }
  // SAM v1 encoder: one float image input, an image_embeddings output.
  if (g.inputs.size() == 1 && (has(g.outputs, "image_embeddings") || g.outputs.size() == 1)) {
    const TensorInfo& in = g.inputs[0];
    const TensorInfo& out = has(g.outputs, "image_embeddings") ? *find(g.outputs, "image_embeddings") : g.outputs[0];
    if (in.type != "float32") {
      c.reason = "encoder input " + in.name + " must be float32, the graph declares " + in.type;
      return c;
    }
    bool out_ok =
        out.dims.empty() || (out.dims.size() == 4 && dim_ok(out, 1, 256) && dim_ok(out, 2, 64) && dim_ok(out, 3, 64));
    if (!out_ok) {
      c.reason = "encoder output " + out.name + " must be [1,256,64,64], the graph declares " + describe_signature(g);
      return c;
    }
    if (in.dims.size() == 3 && dim_ok(in, 2, 3)) {
      c.kind = ModelKind::SamEncoderImage;
      return c;
    }
    if (in.dims.size() == 4 && dim_ok(in, 0, 1) && dim_ok(in, 1, 3) && dim_ok(in, 2, 1024) && dim_ok(in, 3, 1024)) {
      c.kind = ModelKind::SamEncoderPreprocessed;
      return c;
    }
    c.reason = "encoder input " + in.name +
               " must be f32[H,W,3] (input_image) or f32[1,3,1024,1024], the graph declares " + describe_signature(g);
    return c;
  }
  c.reason =
      "neither a SAM encoder (one image input → image_embeddings) nor a SAM decoder (inputs image_embeddings, "
      "point_coords, point_labels, mask_input, has_mask_input, orig_im_size); the graph has " +
      describe_signature(g);
  return c;
}

const char* kind_name(ModelKind kind) {
  switch (kind) {
    case ModelKind::SamEncoderImage:
      return "sam-encoder-image";
    case ModelKind::SamEncoderPreprocessed:
      return "sam-encoder-preprocessed";
    case ModelKind::SamDecoder:
      return "sam-decoder";
    case ModelKind::Sam2Encoder:
      return "sam2-encoder";
    case ModelKind::Sam2Decoder:
      return "sam2-decoder";
    default:
      return "unknown";
  }
}

std::string describe_signature(const GraphInfo& g) {
  std::ostringstream os;
  auto list = [&](const std::vector<TensorInfo>& ts) {
    for (size_t i = 0; i < ts.size(); ++i) {
      os << (i ? ", " : "") << ts[i].name << ' ' << ts[i].type << '[';
      for (size_t d = 0; d < ts[i].dims.size(); ++d) {
        os << (d ? "," : "");
        if (ts[i].dims[d] < 0)
          os << '?';
        else
          os << ts[i].dims[d];
      }
      os << ']';
    }
  };
  os << "inputs ";
  list(g.inputs);
  os << "; outputs ";
  list(g.outputs);
  return os.str();
}

}  // namespace p2sam::runtime
