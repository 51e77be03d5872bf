// Small operations on decoder outputs (docs/algorithm.md §2.7 box prompt, §2.8.1 target cells).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "geometry.hpp"

namespace p2sam::core {

// logits > 0 -> 1, else 0 (NaN counts as background: it is not > 0).
std::vector<std::uint8_t> threshold_logits(const float* logits, std::size_t count);

// Inclusive pixel bounds, as the authors pass them to the decoder's box prompt.
struct BoundingBox {
  int xmin = 0, ymin = 0, xmax = 0, ymax = 0;
};

// Bounds of the non-zero pixels of a width×height row-major mask; nullopt when empty.
std::optional<BoundingBox> bounding_box(const std::uint8_t* mask, int width, int height);

// Number of non-zero entries.
std::size_t mask_area(const std::uint8_t* mask, std::size_t count);

// A single-channel logit map (height×width, e.g. the decoder's 256² low-res logits)
// PyTorch-bilinear resized to grid×grid, then > 0: the target cells of docs/algorithm.md §2.8.1
// (grid*grid entries, row-major, 1 = inside).
std::vector<std::uint8_t> logits_to_cells(const float* logits, int height, int width, int grid = 64, int threads = 1);

// SAM's postprocess_masks for one 256×256 low-res logit map, thresholded: bilinear to
// 1024², crop to the resized image (info.new_h × info.new_w), bilinear to the original
// size, then > 0. Streams rows through the two resizes (only the kept crop is computed,
// nothing 1024² is stored) with exactly torch_resize_bilinear's arithmetic, so the
// result equals materialising both resizes. Returns orig_h × orig_w bytes of 0/1.
std::vector<std::uint8_t> upscale_low_res_mask(const float* low_res_256, const ResizeInfo& info, int threads = 1);

}  // namespace p2sam::core
