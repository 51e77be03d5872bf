// Similarity maps and point selection (docs/algorithm.md §2.3, §2.5, §2.6).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "errors.hpp"
#include "geometry.hpp"
#include "harness.hpp"
#include "reference_grid.hpp"
#include "similarity.hpp"
#include "test_util.hpp"

using namespace p2sam::core;
using p2sam::testing::Rng;
using p2sam::testing::throws_mentioning;

namespace {

std::vector<float> random_embedding(std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> e(static_cast<std::size_t>(kEmbedDim) * kGridCells);
  for (auto& v : e) v = rng.normal();
  return e;
}

std::vector<float> unit_prototypes(int count, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> p(static_cast<std::size_t>(count) * kEmbedDim);
  for (int i = 0; i < count; ++i) {
    double n = 0;
    for (int c = 0; c < kEmbedDim; ++c) {
      p[i * kEmbedDim + c] = rng.normal();
      n += double(p[i * kEmbedDim + c]) * p[i * kEmbedDim + c];
    }
    for (int c = 0; c < kEmbedDim; ++c) p[i * kEmbedDim + c] = static_cast<float>(p[i * kEmbedDim + c] / std::sqrt(n));
  }
  return p;
}

// Sets cell (x, y) of a channel-major embedding to `value` times basis vector `axis`.
void set_cell(std::vector<float>& emb, int x, int y, int axis, float value) {
  const int cell = y * kGridSide + x;
  for (int c = 0; c < kEmbedDim; ++c) emb[static_cast<std::size_t>(c) * kGridCells + cell] = c == axis ? value : 0.0f;
}

std::vector<float> basis(int axis) {
  std::vector<float> p(kEmbedDim, 0.0f);
  p[axis] = 1.0f;
  return p;
}

// Brute force over fully materialised maps: first maximum / first minimum, row-major.
struct Brute {
  std::vector<MapPoint> argmax;
  MapPoint mean_argmin;
};
Brute brute_force(const float* tn, const ResizeInfo& info, const float* protos, int count) {
  Brute out;
  const auto maps = similarity_maps64(tn, protos, count, 1);
  const int W = info.orig_w;
  std::vector<float> sum;
  for (int p = 0; p < count; ++p) {
    const auto full = upsample_similarity(maps.data() + static_cast<std::size_t>(p) * kGridCells, info, 1);
    std::size_t best = 0;
    for (std::size_t i = 1; i < full.size(); ++i)
      if (full[i] > full[best]) best = i;
    out.argmax.push_back({static_cast<int>(best % W), static_cast<int>(best / W), full[best]});
    if (p == 0) {
      sum = full;
    } else {
      for (std::size_t i = 0; i < full.size(); ++i) sum[i] += full[i];
    }
  }
  std::size_t low = 0;
  std::vector<float> mean(sum.size());
  for (std::size_t i = 0; i < sum.size(); ++i) mean[i] = sum[i] / static_cast<float>(count);
  for (std::size_t i = 1; i < mean.size(); ++i)
    if (mean[i] < mean[low]) low = i;
  out.mean_argmin = {static_cast<int>(low % W), static_cast<int>(low / W), mean[low]};
  return out;
}

bool same_point(const MapPoint& a, const MapPoint& b) { return a.x == b.x && a.y == b.y && a.value == b.value; }

}  // namespace

TEST_CASE(normalize_target_features_unit_norm_and_zero_cells) {
  auto emb = random_embedding(1);
  for (int c = 0; c < kEmbedDim; ++c) emb[static_cast<std::size_t>(c) * kGridCells + 77] = 0.0f;  // dead cell
  auto tn = normalize_target_features(emb.data(), 2);
  CHECK(tn.size() == emb.size());
  double worst = 0;
  bool finite = true;
  for (int i = 0; i < kGridCells; ++i) {
    double n = 0;
    for (int c = 0; c < kEmbedDim; ++c) {
      const float v = tn[static_cast<std::size_t>(c) * kGridCells + i];
      finite = finite && std::isfinite(v);
      n += double(v) * v;
    }
    if (i == 77) {
      CHECK_NEAR(n, 0.0, 0);
    } else {
      worst = std::max(worst, std::fabs(std::sqrt(n) - 1.0));
    }
  }
  CHECK(finite);
  CHECK(worst < 1e-5);
  // Direction preserved: ratio of two channels unchanged.
  CHECK_NEAR(tn[5] / tn[kGridCells + 5], emb[5] / emb[kGridCells + 5],
             1e-4 * std::fabs(emb[5] / emb[kGridCells + 5]) + 1e-6);

  emb[3 * kGridCells + 100] = std::nanf("");
  CHECK(throws_mentioning([&] { normalize_target_features(emb.data()); }, "cell 100"));
  CHECK(throws_mentioning([] { normalize_target_features(nullptr); }, "embedding"));
}

TEST_CASE(similarity_maps64_are_dot_products) {
  auto tn = normalize_target_features(random_embedding(2).data(), 2);
  auto protos = unit_prototypes(3, 9);
  auto maps = similarity_maps64(tn.data(), protos.data(), 3, 2);
  CHECK(maps.size() == 3u * kGridCells);
  double worst = 0;
  for (int p = 0; p < 3; ++p)
    for (int i = 0; i < kGridCells; i += 37) {
      double want = 0;
      for (int c = 0; c < kEmbedDim; ++c)
        want += double(protos[p * kEmbedDim + c]) * tn[static_cast<std::size_t>(c) * kGridCells + i];
      worst = std::max(worst, std::fabs(maps[p * kGridCells + i] - want));
    }
  CHECK(worst < 1e-5);
}

TEST_CASE(upsample_similarity_equals_explicit_torch_chain) {
  // The fused/cropped chain must be bit-identical to running the four resizes one after
  // the other on full tensors, as the reference implementation does.
  Rng rng(4);
  std::vector<float> map64(kGridCells);
  for (auto& v : map64) v = rng.normal();
  const std::pair<int, int> sizes[] = {{1280, 960}, {500, 333}, {40, 30}, {1024, 1024}, {300, 1100}, {2000, 97}};
  for (auto sz : sizes) {
    const ResizeInfo info = longest_side(sz.first, sz.second);
    auto got = upsample_similarity(map64.data(), info, 2);
    auto s256 = torch_resize_bilinear(map64.data(), 1, 64, 64, 256, 256, 1);
    auto s1024 = torch_resize_bilinear(s256.data(), 1, 256, 256, 1024, 1024, 1);
    std::vector<float> crop(static_cast<std::size_t>(info.new_h) * info.new_w);
    for (int y = 0; y < info.new_h; ++y)
      std::copy(s1024.begin() + static_cast<std::size_t>(y) * 1024,
                s1024.begin() + static_cast<std::size_t>(y) * 1024 + info.new_w,
                crop.begin() + static_cast<std::size_t>(y) * info.new_w);
    auto want = torch_resize_bilinear(crop.data(), 1, info.new_h, info.new_w, info.orig_h, info.orig_w, 1);
    CHECK(got.size() == want.size());
    CHECK(got == want);
  }
}

TEST_CASE(argmax_lands_in_the_matching_cells_footprint) {
  // Every cell points along axis 1 except cell (20, 30), which points along axis 0; the
  // prototype is axis 0, so the 64x64 map is a single 1 in a field of 0s.
  std::vector<float> emb(static_cast<std::size_t>(kEmbedDim) * kGridCells, 0.0f);
  for (int y = 0; y < kGridSide; ++y)
    for (int x = 0; x < kGridSide; ++x) set_cell(emb, x, y, 1, 3.0f);
  set_cell(emb, 20, 30, 0, 5.0f);
  auto tn = normalize_target_features(emb.data(), 2);
  const auto proto = basis(0);
  const ResizeInfo info = longest_side(1280, 960);  // 1024x768, 1.25 px per frame px
  auto sets = select_points(tn.data(), info, {{proto.data(), 1, false}}, 2);
  CHECK(sets.size() == 1 && sets[0].argmax.size() == 1);
  const MapPoint p = sets[0].argmax[0];
  // Cell (20,30) covers frame pixels [320,336) x [480,496) -> original [400,420) x [600,620).
  CHECK(p.x >= 400 && p.x < 420);
  CHECK(p.y >= 600 && p.y < 620);
  CHECK(p.value > 0.5f && p.value <= 1.0f);
  CHECK(!sets[0].has_mean_argmin);

  // Same cell on a portrait image with letterbox crop on the right.
  const ResizeInfo tall = longest_side(333, 500);  // 682x1024, scale 500/1024
  auto t = select_points(tn.data(), tall, {{proto.data(), 1, false}}, 1);
  const double sx = 333.0 / 682.0, sy = 500.0 / 1024.0;
  CHECK(t[0].argmax[0].x >= std::floor(320 * sx) - 1 && t[0].argmax[0].x <= std::ceil(336 * sx));
  CHECK(t[0].argmax[0].y >= std::floor(480 * sy) - 1 && t[0].argmax[0].y <= std::ceil(496 * sy));
}

TEST_CASE(mean_argmin_finds_the_least_similar_cell) {
  // Cells mostly along (e0+e1)/sqrt2: both part maps ~0.707. Cell A along e0 (part 0
  // peak), cell B along e1 (part 1 peak), cell C along e2 (both 0: mean minimum).
  std::vector<float> emb(static_cast<std::size_t>(kEmbedDim) * kGridCells, 0.0f);
  for (int i = 0; i < kGridCells; ++i) {
    emb[i] = 1.0f;
    emb[kGridCells + i] = 1.0f;
  }
  set_cell(emb, 10, 10, 0, 1.0f);
  set_cell(emb, 50, 40, 1, 1.0f);
  set_cell(emb, 33, 5, 2, 1.0f);
  auto tn = normalize_target_features(emb.data(), 1);
  std::vector<float> protos = basis(0);
  const auto p1 = basis(1);
  protos.insert(protos.end(), p1.begin(), p1.end());
  const ResizeInfo info = longest_side(640, 640);  // 1 original px = 1.6 frame px
  auto sets = select_points(tn.data(), info, {{protos.data(), 2, true}}, 2);
  CHECK(sets[0].argmax.size() == 2);
  CHECK(sets[0].has_mean_argmin);
  auto in_cell = [](const MapPoint& p, int cx, int cy) {
    const double s = 640.0 / 1024.0;
    return p.x >= std::floor(16 * cx * s) - 1 && p.x <= std::ceil(16 * (cx + 1) * s) &&
           p.y >= std::floor(16 * cy * s) - 1 && p.y <= std::ceil(16 * (cy + 1) * s);
  };
  CHECK(in_cell(sets[0].argmax[0], 10, 10));
  CHECK(in_cell(sets[0].argmax[1], 50, 40));
  CHECK(in_cell(sets[0].mean_argmin, 33, 5));
  CHECK(sets[0].mean_argmin.value < 0.5f);
}

TEST_CASE(select_points_matches_brute_force_and_is_thread_independent) {
  auto tn = normalize_target_features(random_embedding(8).data(), 2);
  auto fg = unit_prototypes(5, 21);
  auto many = unit_prototypes(11, 22);  // > one batch, no mean
  auto wide = unit_prototypes(10, 23);  // mean group larger than a batch
  const ResizeInfo infos[] = {longest_side(300, 200), longest_side(45, 60)};
  for (const ResizeInfo& info : infos) {
    const std::vector<PointRequest> reqs = {{fg.data(), 5, true},
                                            {many.data(), 11, false},
                                            {nullptr, 0, false},
                                            {wide.data(), 10, true},
                                            {fg.data(), 1, true}};
    auto one = select_points(tn.data(), info, reqs, 1);
    auto two = select_points(tn.data(), info, reqs, 2);
    auto three = select_points(tn.data(), info, reqs, 3);
    CHECK(one.size() == reqs.size());
    CHECK(one[2].argmax.empty() && !one[2].has_mean_argmin);
    for (std::size_t r = 0; r < reqs.size(); ++r) {
      if (reqs[r].count == 0) continue;
      const Brute b = brute_force(tn.data(), info, reqs[r].prototypes, reqs[r].count);
      for (int p = 0; p < reqs[r].count; ++p) {
        CHECK(same_point(one[r].argmax[p], b.argmax[p]));
        CHECK(same_point(two[r].argmax[p], b.argmax[p]));
        CHECK(same_point(three[r].argmax[p], b.argmax[p]));
      }
      if (reqs[r].want_mean_argmin) {
        CHECK(same_point(one[r].mean_argmin, b.mean_argmin));
        CHECK(same_point(two[r].mean_argmin, b.mean_argmin));
      }
    }
  }
}

TEST_CASE(ties_resolve_to_first_row_major_index) {
  // All-zero target features: every map value is 0, so argmax and argmin are (0,0).
  std::vector<float> emb(static_cast<std::size_t>(kEmbedDim) * kGridCells, 0.0f);
  auto tn = normalize_target_features(emb.data(), 2);
  bool zeros = true;
  for (float v : tn) zeros = zeros && v == 0.0f;
  CHECK(zeros);
  auto protos = unit_prototypes(3, 5);
  auto sets = select_points(tn.data(), longest_side(123, 77), {{protos.data(), 3, true}}, 2);
  for (const MapPoint& p : sets[0].argmax) CHECK(p.x == 0 && p.y == 0 && p.value == 0.0f);
  CHECK(sets[0].mean_argmin.x == 0 && sets[0].mean_argmin.y == 0 && sets[0].mean_argmin.value == 0.0f);
}

TEST_CASE(select_points_rejects_bad_arguments) {
  auto tn = normalize_target_features(random_embedding(3).data(), 1);
  auto protos = unit_prototypes(2, 1);
  const ResizeInfo info = longest_side(100, 80);
  CHECK(throws_mentioning([&] { select_points(nullptr, info, {{protos.data(), 2, false}}); }, "target_normalized"));
  CHECK(throws_mentioning([&] { select_points(tn.data(), info, {{nullptr, 2, false}}); }, "requests[0].prototypes"));
  CHECK(throws_mentioning(
      [&] {
        select_points(tn.data(), info, {{protos.data(), 1, false}, {protos.data(), -1, false}});
      },
      "requests[1].count must be >= 0, got -1"));
  CHECK(throws_mentioning([&] { select_points(tn.data(), info, {{protos.data(), 0, true}}); }, "want_mean_argmin"));
  ResizeInfo bad = info;
  bad.new_w = 2048;
  CHECK(throws_mentioning(
      [&] {
        select_points(tn.data(), bad, {{protos.data(), 2, false}});
      },
      "new_w/new_h must be in 1..1024"));
  bad = info;
  bad.orig_h = 0;
  CHECK(throws_mentioning([&] { upsample_similarity(protos.data(), bad); }, "orig_w/orig_h"));
  std::vector<float> nanp = protos;
  nanp[7] = std::nanf("");
  CHECK(throws_mentioning([&] { select_points(tn.data(), info, {{nanp.data(), 2, false}}); }, "finite"));
  CHECK(throws_mentioning([&] { similarity_maps64(tn.data(), nullptr, 2); }, "prototypes"));
}
