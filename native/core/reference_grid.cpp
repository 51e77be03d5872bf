#include "reference_grid.hpp"

#include <algorithm>
#include <string>

#include "errors.hpp"
#include "geometry.hpp"

namespace p2sam::core {

ReferenceGrid reference_grid(const std::uint8_t* mask, int w, int h, int threads) {
  if (mask == nullptr) throw invalid_argument("reference_grid: mask must not be null");
  if (w < 1 || h < 1 || w > kMaxImageSide || h > kMaxImageSide) {
    throw invalid_argument("reference_grid: mask size must be within 1.." + std::to_string(kMaxImageSide) +
                           " on each side, got " + std::to_string(w) + "x" + std::to_string(h));
  }
  const ResizeInfo info = longest_side(w, h);
  const std::size_t n = static_cast<std::size_t>(w) * h;
  // The authors load the mask as a 3-channel 0/255 image; its channels are identical
  // and PIL resamples channels independently, so one channel gives the same values.
  std::vector<std::uint8_t> binary(n);
  for (std::size_t i = 0; i < n; ++i) binary[i] = mask[i] ? 255 : 0;
  const std::vector<std::uint8_t> resized =
      pil_resize_bilinear(binary.data(), w, h, 1, info.new_w, info.new_h, threads);

  const std::size_t side = kSamFrame;
  std::vector<float> plane(side * side, 0.0f);
  for (int y = 0; y < info.new_h; ++y) {
    const std::uint8_t* src = resized.data() + static_cast<std::size_t>(y) * info.new_w;
    std::copy(src, src + info.new_w, plane.begin() + static_cast<std::size_t>(y) * side);
  }
  // Centring uses max and min of the padded plane (padding zeros included), in float32
  // as the tensor maths does: a 0/255 mask becomes -127.5 / +127.5.
  const auto mm = std::minmax_element(plane.begin(), plane.end());
  const float centre = (*mm.second + *mm.first) / 2.0f;
  for (float& v : plane) v -= centre;

  const std::vector<float> grid =
      torch_resize_bilinear(plane.data(), 1, kSamFrame, kSamFrame, kGridSide, kGridSide, threads);
  ReferenceGrid out;
  out.cells.resize(kGridCells);
  for (int i = 0; i < kGridCells; ++i) {
    out.cells[i] = grid[i] > 0.0f ? 1 : 0;
    out.fg_count += out.cells[i];
  }
  out.bg_count = kGridCells - out.fg_count;
  return out;
}

std::vector<float> gather_features(const float* embedding, const std::uint8_t* cells, bool foreground) {
  if (embedding == nullptr) throw invalid_argument("gather_features: embedding must not be null");
  if (cells == nullptr) throw invalid_argument("gather_features: cells must not be null");
  std::vector<int> picked;
  picked.reserve(kGridCells);
  for (int i = 0; i < kGridCells; ++i)
    if ((cells[i] != 0) == foreground) picked.push_back(i);
  std::vector<float> rows(picked.size() * kEmbedDim);
  // Transpose channel-major [256, 4096] into one contiguous row per selected cell;
  // walking channels in the outer loop keeps the embedding reads sequential.
  for (int c = 0; c < kEmbedDim; ++c) {
    const float* plane = embedding + static_cast<std::size_t>(c) * kGridCells;
    for (std::size_t r = 0; r < picked.size(); ++r) rows[r * kEmbedDim + c] = plane[picked[r]];
  }
  return rows;
}

}  // namespace p2sam::core
