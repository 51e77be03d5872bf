// Reference mask -> 64x64 feature-grid cells (docs/algorithm.md §2.2) and feature gathering (§2.3).
#pragma once

#include <cstdint>
#include <vector>

namespace p2sam::core {

inline constexpr int kGridSide = 64;
inline constexpr int kGridCells = kGridSide * kGridSide;  // 4096
inline constexpr int kEmbedDim = 256;

struct ReferenceGrid {
  // kGridCells entries, row-major (cell y*64+x): 1 = foreground, 0 = background
  // (background includes the padding beyond the resized image).
  std::vector<std::uint8_t> cells;
  int fg_count = 0;
  int bg_count = 0;
};

// mask: h rows of w bytes, any non-zero byte is foreground. The steps follow the
// authors' pipeline exactly: the mask as a 0/255 image, PIL-bilinear resized like the
// image to the longest-side-1024 size (edges get intermediate values), zero-padded to
// 1024², centred by (max+min)/2 over the padded plane, PyTorch-bilinear 1024 -> 64,
// foreground = value > 0. An all-zero mask (and, because of the centring, a mask that
// fills a square image completely) yields fg_count == 0; the caller decides the error.
ReferenceGrid reference_grid(const std::uint8_t* mask, int w, int h, int threads = 0);

// embedding: channel-major [256, 64, 64] as the encoder outputs it. Returns the rows
// [N, 256] (row-major, float32, unnormalised) of the cells whose (cells[i] != 0) equals
// `foreground`, in increasing cell index order.
std::vector<float> gather_features(const float* embedding, const std::uint8_t* cells, bool foreground = true);

}  // namespace p2sam::core
