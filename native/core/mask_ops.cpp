#include "mask_ops.hpp"

#include <string>

#include "errors.hpp"
#include "geometry.hpp"
#include "parallel.hpp"

namespace p2sam::core {

std::vector<std::uint8_t> threshold_logits(const float* logits, std::size_t count) {
  if (logits == nullptr && count > 0) throw invalid_argument("threshold_logits: logits must not be null");
  std::vector<std::uint8_t> out(count);
  for (std::size_t i = 0; i < count; ++i) out[i] = logits[i] > 0.0f ? 1 : 0;
  return out;
}

std::optional<BoundingBox> bounding_box(const std::uint8_t* mask, int width, int height) {
  if (mask == nullptr) throw invalid_argument("bounding_box: mask must not be null");
  if (width < 1 || height < 1) {
    throw invalid_argument("bounding_box: width and height must be >= 1, got " + std::to_string(width) + "x" +
                           std::to_string(height));
  }
  BoundingBox box{width, height, -1, -1};
  for (int y = 0; y < height; ++y) {
    const std::uint8_t* row = mask + static_cast<std::size_t>(y) * width;
    int first = -1, last = -1;
    for (int x = 0; x < width; ++x) {
      if (row[x]) {
        if (first < 0) first = x;
        last = x;
      }
    }
    if (first < 0) continue;
    if (box.ymax < 0) box.ymin = y;
    box.ymax = y;
    if (first < box.xmin) box.xmin = first;
    if (last > box.xmax) box.xmax = last;
  }
  if (box.ymax < 0) return std::nullopt;
  return box;
}

std::size_t mask_area(const std::uint8_t* mask, std::size_t count) {
  if (mask == nullptr && count > 0) throw invalid_argument("mask_area: mask must not be null");
  std::size_t n = 0;
  for (std::size_t i = 0; i < count; ++i) n += mask[i] != 0;
  return n;
}

std::vector<std::uint8_t> logits_to_cells(const float* logits, int height, int width, int grid, int threads) {
  if (logits == nullptr) throw invalid_argument("logits_to_cells: logits must not be null");
  if (grid < 1 || grid > kSamFrame) {
    throw invalid_argument("logits_to_cells: grid must be in 1..1024, got " + std::to_string(grid));
  }
  if (height < 1 || width < 1 || height > kMaxImageSide || width > kMaxImageSide) {
    throw invalid_argument("logits_to_cells: height and width must be in 1.." + std::to_string(kMaxImageSide) +
                           ", got " + std::to_string(height) + "x" + std::to_string(width));
  }
  const std::vector<float> small = torch_resize_bilinear(logits, 1, height, width, grid, grid, threads);
  return threshold_logits(small.data(), small.size());
}

std::vector<std::uint8_t> upscale_low_res_mask(const float* low_res_256, const ResizeInfo& info, int threads) {
  if (low_res_256 == nullptr) throw invalid_argument("upscale_low_res_mask: low_res_256 must not be null");
  if (info.orig_w < 1 || info.orig_h < 1 || info.new_w < 1 || info.new_h < 1 || info.new_w > kSamFrame ||
      info.new_h > kSamFrame)
    throw invalid_argument("upscale_low_res_mask: info must hold positive sizes with new_w/new_h <= 1024, got orig " +
                           std::to_string(info.orig_w) + "x" + std::to_string(info.orig_h) + ", new " +
                           std::to_string(info.new_w) + "x" + std::to_string(info.new_h));
  constexpr int kLowRes = 256;
  const LinearAxis crop_y = torch_linear_axis(kLowRes, kSamFrame, info.new_h);
  const LinearAxis crop_x = torch_linear_axis(kLowRes, kSamFrame, info.new_w);
  const LinearAxis out_y = torch_linear_axis(info.new_h, info.orig_h);
  const LinearAxis out_x = torch_linear_axis(info.new_w, info.orig_w);
  const int W = info.orig_w;
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(info.orig_h) * W);
  parallel_for(
      0, static_cast<std::size_t>(info.orig_h), threads,
      [&](std::size_t b, std::size_t e, std::size_t) {
        TorchRowResampler crop(low_res_256, kLowRes, &crop_y, &crop_x);
        TorchRowResampler out(&crop, &out_y, &out_x);
        std::vector<float> row(static_cast<std::size_t>(W));
        for (std::size_t y = b; y < e; ++y) {
          out.row(static_cast<int>(y), row.data());
          std::uint8_t* dst = mask.data() + y * W;
          for (int x = 0; x < W; ++x) dst[x] = row[x] > 0.0f ? 1 : 0;
        }
      },
      16);
  return mask;
}

}  // namespace p2sam::core
