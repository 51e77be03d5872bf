// Turns a user's 8-bit image into the tensor a given SAM encoder form expects (docs/algorithm.md §2.1).
#pragma once

#include <cstdint>
#include <vector>

#include "geometry.hpp"
#include "model_signature.hpp"

namespace p2sam::runtime {

enum class Normalization { Sam, MedSam };

struct PreparedInput {
  std::vector<float> tensor;     // [input_h,input_w,3] HWC or [1,3,1024,1024] CHW
  int input_w = 0, input_h = 0;  // size after resize-longest-side
};

// Throws CoreError MODEL_UNSUPPORTED when MedSAM normalisation is asked of an encoder
// that normalises inside its graph (input_image form): the graph would apply SAM's
// ImageNet statistics regardless, so the request cannot be honoured.
PreparedInput prepare_encoder_input(const std::uint8_t* pixels, int width, int height, int channels, ModelKind form,
                                    Normalization norm, int threads);

}  // namespace p2sam::runtime
