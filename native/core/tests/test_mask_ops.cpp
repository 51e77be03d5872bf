// Mask operations, the reference-mask grid (docs/algorithm.md §2.2) and feature gathering (§2.3).
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "errors.hpp"
#include "harness.hpp"
#include "mask_ops.hpp"
#include "reference_grid.hpp"
#include "test_util.hpp"

using namespace p2sam::core;
using p2sam::testing::throws_mentioning;

namespace {

// A w×h mask with the rectangle [x0,x1) × [y0,y1) set to `value`.
std::vector<std::uint8_t> rect_mask(int w, int h, int x0, int y0, int x1, int y1, std::uint8_t value = 1) {
  std::vector<std::uint8_t> m(static_cast<std::size_t>(w) * h, 0);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) m[static_cast<std::size_t>(y) * w + x] = value;
  return m;
}

// Cells [cx0,cx1) × [cy0,cy1) of the 64×64 grid set, the rest clear.
std::vector<std::uint8_t> cell_block(int cx0, int cy0, int cx1, int cy1) {
  std::vector<std::uint8_t> c(kGridCells, 0);
  for (int y = cy0; y < cy1; ++y)
    for (int x = cx0; x < cx1; ++x) c[y * kGridSide + x] = 1;
  return c;
}

}  // namespace

TEST_CASE(threshold_logits_is_strictly_positive) {
  const float logits[6] = {-1.0f, 0.0f, -0.0f, 1e-30f, 3.0f, std::nanf("")};
  auto m = threshold_logits(logits, 6);
  CHECK((m == std::vector<std::uint8_t>{0, 0, 0, 1, 1, 0}));
  CHECK(threshold_logits(nullptr, 0).empty());
  CHECK(throws_mentioning([] { threshold_logits(nullptr, 3); }, "logits"));
}

TEST_CASE(bounding_box_is_inclusive_and_empty_aware) {
  auto m = rect_mask(20, 10, 3, 2, 8, 7);  // x 3..7, y 2..6
  auto box = bounding_box(m.data(), 20, 10);
  CHECK(box.has_value());
  CHECK(box->xmin == 3 && box->ymin == 2 && box->xmax == 7 && box->ymax == 6);
  // Two separate blobs: the box spans both.
  m[9 * 20 + 0] = 255;
  box = bounding_box(m.data(), 20, 10);
  CHECK(box->xmin == 0 && box->ymin == 2 && box->xmax == 7 && box->ymax == 9);
  // A single pixel in the last column.
  auto one = rect_mask(5, 4, 4, 1, 5, 2);
  box = bounding_box(one.data(), 5, 4);
  CHECK(box->xmin == 4 && box->xmax == 4 && box->ymin == 1 && box->ymax == 1);
  auto empty = rect_mask(5, 4, 0, 0, 0, 0);
  CHECK(!bounding_box(empty.data(), 5, 4).has_value());
  auto full = rect_mask(5, 4, 0, 0, 5, 4);
  box = bounding_box(full.data(), 5, 4);
  CHECK(box->xmin == 0 && box->ymin == 0 && box->xmax == 4 && box->ymax == 3);
  CHECK(throws_mentioning([&] { bounding_box(full.data(), 0, 4); }, "width and height"));
  CHECK(throws_mentioning([] { bounding_box(nullptr, 3, 4); }, "mask"));
}

TEST_CASE(mask_area_counts_nonzero) {
  auto m = rect_mask(20, 10, 3, 2, 8, 7, 200);
  CHECK(mask_area(m.data(), m.size()) == 25);
  CHECK(mask_area(nullptr, 0) == 0);
  CHECK(throws_mentioning([] { mask_area(nullptr, 2); }, "mask"));
}

TEST_CASE(logits_to_cells_from_low_res_logits) {
  // 256 -> 64 samples rows/cols 4i+1 and 4i+2 (source 4i+1.5). A positive block over
  // rows [40,60) and cols [100,128) of the low-res map covers exactly cells y 10..14,
  // x 25..31.
  std::vector<float> logits(256 * 256, -4.0f);
  for (int y = 40; y < 60; ++y)
    for (int x = 100; x < 128; ++x) logits[y * 256 + x] = 6.0f;
  auto cells = logits_to_cells(logits.data(), 256, 256);
  CHECK(cells == cell_block(25, 10, 32, 15));
  // Half-covered cell: one of its two sampled rows positive -> mean of 6 and -4 > 0.
  std::vector<float> half(256 * 256, -4.0f);
  for (int x = 0; x < 256; ++x) half[2 * 256 + x] = 6.0f;  // row 2 only (cell row 0 samples 1 and 2)
  auto hc = logits_to_cells(half.data(), 256, 256);
  CHECK(hc == cell_block(0, 0, 64, 1));
  // Rows averaging to exactly 0 are background (> 0 is strict).
  std::vector<float> zero(256 * 256, -4.0f);
  for (int x = 0; x < 256; ++x) zero[2 * 256 + x] = 4.0f;
  CHECK(mask_area(logits_to_cells(zero.data(), 256, 256).data(), kGridCells) == 0);
  // Other grid sizes and input sizes go through the same resize.
  std::vector<float> pos(10 * 12, 1.0f);
  CHECK(mask_area(logits_to_cells(pos.data(), 10, 12, 8).data(), 64) == 64);
  CHECK(throws_mentioning([&] { logits_to_cells(pos.data(), 10, 12, 0); }, "grid"));
  CHECK(throws_mentioning([&] { logits_to_cells(pos.data(), 0, 12); }, "height and width"));
  CHECK(throws_mentioning([] { logits_to_cells(nullptr, 256, 256); }, "logits"));
}

TEST_CASE(reference_grid_selects_exact_cells_on_1024_square) {
  // A 1024² mask needs no resize and no padding; blocks aligned to 16-pixel cells select
  // exactly those cells (each cell samples pixels 16i+7 and 16i+8).
  auto m = rect_mask(1024, 1024, 16 * 5, 16 * 9, 16 * 12, 16 * 20, 1);
  auto g = reference_grid(m.data(), 1024, 1024, 2);
  CHECK(g.cells == cell_block(5, 9, 12, 20));
  CHECK(g.fg_count == 7 * 11);
  CHECK(g.bg_count == kGridCells - 77);
  // Any non-zero byte counts as foreground.
  auto m2 = rect_mask(1024, 1024, 16 * 5, 16 * 9, 16 * 12, 16 * 20, 17);
  CHECK(reference_grid(m2.data(), 1024, 1024, 1).cells == g.cells);
}

TEST_CASE(reference_grid_with_downscale_and_padding) {
  // 2048x1024 -> 1024x512 (PIL antialias shrink), padded below to 1024². Blocks aligned to
  // 32 original pixels map onto 16-pixel cells; the antialiased edge only touches the
  // pixels next to the block border, not the sampled 16i+7/16i+8 pixels.
  auto m = rect_mask(2048, 1024, 32 * 10, 32 * 3, 32 * 40, 32 * 30, 255);
  auto g = reference_grid(m.data(), 2048, 1024, 2);
  CHECK(g.cells == cell_block(10, 3, 40, 30));
  // A full mask on a non-square image: every cell of the image area, none of the padding.
  auto full = rect_mask(2048, 1024, 0, 0, 2048, 1024, 1);
  auto gf = reference_grid(full.data(), 2048, 1024, 2);
  CHECK(gf.cells == cell_block(0, 0, 64, 32));
  // A portrait image pads on the right.
  auto tall = rect_mask(500, 1000, 0, 0, 500, 1000, 1);
  auto gt = reference_grid(tall.data(), 500, 1000, 1);
  CHECK(gt.cells == cell_block(0, 0, 32, 64));
}

TEST_CASE(reference_grid_edge_cases) {
  // Empty mask: max = min = 0, nothing is > 0.
  auto empty = rect_mask(300, 200, 0, 0, 0, 0);
  auto ge = reference_grid(empty.data(), 300, 200, 1);
  CHECK(ge.fg_count == 0 && ge.bg_count == kGridCells);
  // A mask filling a square image has no padding and no background: max = min = 255,
  // so centring zeroes everything and no cell is foreground (the authors' behaviour).
  auto full = rect_mask(640, 640, 0, 0, 640, 640, 1);
  CHECK(reference_grid(full.data(), 640, 640, 1).fg_count == 0);
  // Upscaled small mask: 64x64 image, one pixel per cell -> 16x16 blocks in the frame.
  auto small = rect_mask(64, 64, 3, 4, 6, 9, 1);
  CHECK(reference_grid(small.data(), 64, 64, 2).cells == cell_block(3, 4, 6, 9));
  // A tiny blob in a big image is smoothed below the centre and may vanish, but counts
  // stay consistent and nothing throws.
  auto speck = rect_mask(3000, 2000, 1500, 1000, 1501, 1001, 1);
  auto gs = reference_grid(speck.data(), 3000, 2000, 2);
  CHECK(gs.fg_count + gs.bg_count == kGridCells);
  CHECK(throws_mentioning([] { reference_grid(nullptr, 3, 3); }, "mask"));
  CHECK(throws_mentioning([&] { reference_grid(empty.data(), 0, 3); }, "mask size"));
}

TEST_CASE(gather_features_rows_in_cell_order) {
  std::vector<float> emb(static_cast<std::size_t>(kEmbedDim) * kGridCells);
  for (int c = 0; c < kEmbedDim; ++c)
    for (int i = 0; i < kGridCells; ++i)
      emb[static_cast<std::size_t>(c) * kGridCells + i] = static_cast<float>(c * 10000 + i);
  std::vector<std::uint8_t> cells(kGridCells, 0);
  cells[4095] = 1;
  cells[7] = 1;
  cells[64 * 3 + 2] = 1;
  auto fg = gather_features(emb.data(), cells.data());
  CHECK(fg.size() == 3u * kEmbedDim);
  const int order[3] = {7, 64 * 3 + 2, 4095};
  bool ok = true;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < kEmbedDim; ++c) ok = ok && fg[r * kEmbedDim + c] == static_cast<float>(c * 10000 + order[r]);
  CHECK(ok);
  auto bg = gather_features(emb.data(), cells.data(), false);
  CHECK(bg.size() == static_cast<std::size_t>(kGridCells - 3) * kEmbedDim);
  CHECK(bg[0] == 0.0f && bg[kEmbedDim * 7 + 1] == static_cast<float>(10000 + 8));  // row 7 is cell 8
  std::vector<std::uint8_t> none(kGridCells, 0);
  CHECK(gather_features(emb.data(), none.data()).empty());
  CHECK(throws_mentioning([&] { gather_features(nullptr, cells.data()); }, "embedding"));
  CHECK(throws_mentioning([&] { gather_features(emb.data(), nullptr); }, "cells"));
}

// The streamed SAM post-processing equals materialising 256→1024, cropping, and
// resizing to the original size with torch_resize_bilinear, then thresholding.
TEST_CASE(upscale_low_res_mask_equals_materialised_postprocess) {
  using namespace p2sam::core;
  std::vector<float> low(256 * 256);
  std::uint32_t s = 12345;
  for (auto& v : low) {
    s = s * 1664525u + 1013904223u;
    v = static_cast<float>(static_cast<int>(s >> 8) % 2001 - 1000) / 100.0f;  // mixed signs, zeros
  }
  for (auto [w, h] : {std::pair{640, 480}, {480, 640}, {1280, 960}, {300, 200}, {1024, 1024}, {77, 1500}}) {
    ResizeInfo info = longest_side(w, h);
    std::vector<std::uint8_t> fast = upscale_low_res_mask(low.data(), info, 2);
    std::vector<float> full = torch_resize_bilinear(low.data(), 1, 256, 256, 1024, 1024, 1);
    std::vector<float> crop(static_cast<std::size_t>(info.new_w) * info.new_h);
    for (int y = 0; y < info.new_h; ++y)
      for (int x = 0; x < info.new_w; ++x)
        crop[static_cast<std::size_t>(y) * info.new_w + x] = full[static_cast<std::size_t>(y) * 1024 + x];
    std::vector<float> orig = torch_resize_bilinear(crop.data(), 1, info.new_h, info.new_w, h, w, 1);
    std::vector<std::uint8_t> slow = threshold_logits(orig.data(), orig.size());
    CHECK(fast == slow);
  }
  CHECK_THROWS(upscale_low_res_mask(nullptr, longest_side(10, 10), 1));
}
