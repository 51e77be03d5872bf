// The GPU kernels' arithmetic (native/cuda/hd_math.hpp: taps, similarity maps, points,
// transport), run on the host against the CPU core. These tests are what guards GPU/CPU
// parity on machines without a GPU: the kernels call exactly these functions, so a host
// result that differs from the core here would differ on the device too. The k-means
// restart is tested in test_hd_kmeans.cpp.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "cost_matrix.hpp"
#include "cuda_backend.hpp"
#include "errors.hpp"
#include "geometry.hpp"
#include "harness.hpp"
#include "hd_math.hpp"
#include "hd_test_util.hpp"
#include "kernels.hpp"
#include "kmeans.hpp"
#include "prototypes.hpp"
#include "reference_grid.hpp"
#include "similarity.hpp"
#include "test_util.hpp"
#include "wasserstein.hpp"

using namespace p2sam::core;
namespace hd = p2sam::cuda::hd;

namespace {
namespace hdt {

using p2sam::testing::Rng;

std::vector<float> random_embedding(std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> e(static_cast<std::size_t>(kEmbedDim) * kGridCells);
  for (auto& v : e) v = rng.normal();
  return e;
}

std::vector<float> unit_rows(int count, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> p(static_cast<std::size_t>(count) * kEmbedDim);
  for (int i = 0; i < count; ++i) {
    for (int c = 0; c < kEmbedDim; ++c) p[static_cast<std::size_t>(i) * kEmbedDim + c] = rng.normal();
    normalise_in_place(p.data() + static_cast<std::size_t>(i) * kEmbedDim, kEmbedDim);
  }
  return p;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// The ×4 stage materialised with hd::resize_value (what upsample4_kernel writes).
std::vector<float> hd_stage256(const float* map64) {
  std::vector<float> s(256 * 256);
  for (int y = 0; y < 256; ++y)
    for (int x = 0; x < 256; ++x) s[y * 256 + x] = hd::resize_value(map64, 64, 64, 64, 256, 256, y, x);
  return s;
}

}  // namespace hdt
}  // namespace

// ---------------------------------------------------------------- bilinear taps
TEST_CASE(hd_torch_tap_matches_core_axis) {
  const int sizes[][2] = {{64, 256}, {256, 1024}, {1024, 768}, {683, 512},   {1024, 37}, {5, 5},
                          {1, 9},    {9, 1},      {300, 1024}, {1024, 1000}, {2, 3},     {256, 256}};
  for (const auto& s : sizes) {
    const LinearAxis ax = torch_linear_axis(s[0], s[1]);
    bool ok = true;
    for (int d = 0; d < s[1]; ++d) {
      const hd::Tap t = hd::torch_tap(s[0], s[1], d);
      ok = ok && t.i0 == ax.i0[d] && t.i1 == ax.i1[d] && hdt::same_bits(t.w0, ax.w0[d]) &&
           hdt::same_bits(t.w1, ax.w1[d]);
    }
    CHECK(ok);
  }
}

// The fused per-pixel chain (what argmax_kernel evaluates) equals the core's streamed
// upsampling bit for bit, for the combined-weight kernel (small outputs) and the generic
// one, portrait and landscape.
TEST_CASE(hd_chain_value_matches_core_upsampling) {
  std::vector<float> map(kGridCells);
  hdt::Rng rng(11);
  for (auto& v : map) v = rng.normal();
  const std::vector<float> s256 = hdt::hd_stage256(map.data());
  const int shapes[][2] = {{40, 30}, {60, 64}, {97, 61}, {333, 500}, {640, 480}, {1024, 1024}, {1500, 20}};
  for (const auto& wh : shapes) {
    const ResizeInfo info = longest_side(wh[0], wh[1]);
    const std::vector<float> ref = upsample_similarity(map.data(), info, 2);
    std::size_t mismatches = 0;
    for (int y = 0; y < info.orig_h; ++y)
      for (int x = 0; x < info.orig_w; ++x) {
        const float v = hd::chain_value(s256.data(), info.new_w, info.new_h, info.orig_w, info.orig_h, y, x);
        mismatches += !hdt::same_bits(v, ref[static_cast<std::size_t>(y) * info.orig_w + x]);
      }
    CHECK(mismatches == 0);
  }
}

// ---------------------------------------------------------------- similarity maps
TEST_CASE(hd_normalisation_and_similarity_match_core) {
  std::vector<float> emb = hdt::random_embedding(3);
  // A zero cell must stay zero (no NaN), as in the core.
  for (int c = 0; c < kEmbedDim; ++c) emb[static_cast<std::size_t>(c) * kGridCells + 17] = 0.0f;
  const std::vector<float> ref = normalize_target_features(emb.data(), 2);
  std::vector<float> mine(ref.size());
  for (int cell = 0; cell < kGridCells; ++cell) {
    const double sq = hd::cell_norm_sq(emb.data(), cell, kEmbedDim, kGridCells);
    CHECK(hd::d_isfinite(sq));
    const float norm = hd::cell_norm_from_sq(sq);
    for (int c = 0; c < kEmbedDim; ++c) {
      const std::size_t q = static_cast<std::size_t>(c) * kGridCells + cell;
      mine[q] = hd::normalised_value(emb[q], norm);
    }
  }
  CHECK(std::memcmp(mine.data(), ref.data(), ref.size() * sizeof(float)) == 0);
  CHECK(mine[17] == 0.0f);

  const std::vector<float> protos = hdt::unit_rows(3, 5);
  const std::vector<float> maps = similarity_maps64(ref.data(), protos.data(), 3, 2);
  std::size_t mismatches = 0;
  for (int p = 0; p < 3; ++p)
    for (int cell = 0; cell < kGridCells; ++cell) {
      const float v = hd::similarity_cell(ref.data(), protos.data() + p * kEmbedDim, cell, kEmbedDim, kGridCells);
      mismatches += !hdt::same_bits(v, maps[static_cast<std::size_t>(p) * kGridCells + cell]);
    }
  CHECK(mismatches == 0);

  // Non-finite sums are flagged exactly where the core rejects them.
  CHECK(!hd::d_isfinite(std::numeric_limits<double>::infinity()));
  CHECK(!hd::d_isfinite(std::nan("")));
}

// The whole point selection emulated with the kernels' functions and reduction rule
// (per-pixel chain values, first-index extreme, mean in prototype order) gives the
// core's points and values, including the natural-mode mean argmin.
TEST_CASE(hd_point_selection_matches_core) {
  const std::vector<float> t = normalize_target_features(hdt::random_embedding(21).data(), 2);
  const std::vector<float> fg = hdt::unit_rows(3, 8), bg = hdt::unit_rows(2, 9);
  const int shapes[][2] = {{50, 40}, {211, 150}};
  for (const auto& wh : shapes) {
    const ResizeInfo info = longest_side(wh[0], wh[1]);
    const std::vector<PointRequest> reqs = {{fg.data(), 3, true}, {bg.data(), 2, false}};
    const std::vector<PointSet> ref = select_points(t.data(), info, reqs, 2);
    for (std::size_t r = 0; r < reqs.size(); ++r) {
      std::vector<std::vector<float>> s256;
      for (int p = 0; p < reqs[r].count; ++p) {
        std::vector<float> m64(kGridCells);
        for (int cell = 0; cell < kGridCells; ++cell)
          m64[cell] = hd::similarity_cell(t.data(), reqs[r].prototypes + p * kEmbedDim, cell, kEmbedDim, kGridCells);
        s256.push_back(hdt::hd_stage256(m64.data()));
      }
      std::vector<float> best(reqs[r].count, 0.0f);
      std::vector<long long> best_i(reqs[r].count, -1);
      float low = 0.0f;
      long long low_i = -1;
      // Visit pixels in a scrambled order: the tie rule must not depend on the order a
      // parallel reduction happens to see them in.
      const long long total = static_cast<long long>(info.orig_w) * info.orig_h;
      for (long long k = 0; k < total; ++k) {
        const long long pix = (k * 7919) % total;
        const int y = static_cast<int>(pix / info.orig_w), x = static_cast<int>(pix % info.orig_w);
        float sum = 0.0f;
        for (int p = 0; p < reqs[r].count; ++p) {
          const float v = hd::chain_value(s256[p].data(), info.new_w, info.new_h, info.orig_w, info.orig_h, y, x);
          if (hd::better_max(v, pix, best[p], best_i[p])) {
            best[p] = v;
            best_i[p] = pix;
          }
          sum = p == 0 ? v : hd::f_add(sum, v);
        }
        const float mean = sum / static_cast<float>(reqs[r].count);
        if (hd::better_min(mean, pix, low, low_i)) {
          low = mean;
          low_i = pix;
        }
      }
      for (int p = 0; p < reqs[r].count; ++p) {
        CHECK(ref[r].argmax[p].x == static_cast<int>(best_i[p] % info.orig_w));
        CHECK(ref[r].argmax[p].y == static_cast<int>(best_i[p] / info.orig_w));
        CHECK(hdt::same_bits(ref[r].argmax[p].value, best[p]));
      }
      if (reqs[r].want_mean_argmin) {
        CHECK(ref[r].mean_argmin.x == static_cast<int>(low_i % info.orig_w));
        CHECK(ref[r].mean_argmin.y == static_cast<int>(low_i / info.orig_w));
        CHECK(hdt::same_bits(ref[r].mean_argmin.value, low));
      }
    }
  }
}

TEST_CASE(hd_extreme_tie_rule_prefers_first_index) {
  CHECK(hd::better_max(1.0f, 5, 0.0f, -1));  // nothing seen yet
  CHECK(hd::better_max(2.0f, 9, 1.0f, 3));   // strictly larger
  CHECK(!hd::better_max(1.0f, 9, 1.0f, 3));  // tie at a later index
  CHECK(hd::better_max(1.0f, 2, 1.0f, 3));   // tie at an earlier index
  CHECK(hd::better_min(-1.0f, 9, 0.0f, 3));
  CHECK(!hd::better_min(0.0f, 9, 0.0f, 3));
  CHECK(hd::better_min(0.0f, 1, 0.0f, 3));
}

// ---------------------------------------------------------------- transport
TEST_CASE(hd_cost_entries_match_core_cost_matrix) {
  const std::size_t n = 37, m = 29, d = 256;
  const std::vector<float> a = hdt::blobs(n, d, 3, 4), b = hdt::blobs(m, d, 2, 5);
  std::vector<double> ref(n * m);
  squared_euclidean_costs(a.data(), n, b.data(), m, d, ref.data(), 2);
  double worst = 0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < m; ++j) {
      const double na = hd::sq_norm_f64(a.data() + i * d, d), nb = hd::sq_norm_f64(b.data() + j * d, d);
      const double c = hd::cost_entry(na, nb, hd::dot_f64(a.data() + i * d, b.data() + j * d, d));
      worst = std::max(worst, std::fabs(c - ref[i * m + j]) / (na + nb));
    }
  CHECK(worst < 1e-13);
  // Identical rows cost exactly 0 after the clamp, never a negative number.
  CHECK(hd::cost_entry(3.0, 3.0, 3.0000000000000004) == 0.0);
}

// A serial log-domain Sinkhorn assembled from the kernels' pieces (plain alternating
// updates, the GPU's iteration) reaches the core's entropic optimum. Only converged
// results are compared: the entropic plan is unique, but the core is free to get there
// differently (its own start, over-relaxation, a float32 kernel), so iterates and
// iteration counts are not part of the contract.
TEST_CASE(hd_sinkhorn_pieces_match_core) {
  const std::size_t n = 40, m = 33, d = 16;
  const std::vector<float> a = hdt::blobs(n, d, 3, 14), b = hdt::blobs(m, d, 3, 15, 6.0f);
  std::vector<double> wb(m);
  for (std::size_t j = 0; j < m; ++j) wb[j] = 1.0 + static_cast<double>(j % 4);
  TransportProblem pr{a.data(), n, b.data(), m, d, nullptr, wb.data()};
  for (double epsilon : {0.5, 0.05}) {
    SinkhornOptions so;
    so.epsilon = epsilon;
    so.max_iterations = 100000;
    so.tolerance = 1e-11;
    const TransportResult ref = wasserstein_sinkhorn(pr, so, 2);
    CHECK(ref.converged);

    std::vector<double> C(n * m);
    squared_euclidean_costs(a.data(), n, b.data(), m, d, C.data(), 1);
    double total = 0;
    for (std::size_t i = 0; i < n; ++i) {
      double row = 0;
      for (std::size_t j = 0; j < m; ++j) row += C[i * m + j];
      total += row;
    }
    const double eps = so.epsilon * total / double(n * m), inv = 1.0 / eps;
    const std::vector<double> wn = p2sam::core::detail::normalised_weights(wb.data(), m, "wb", "t");
    std::vector<double> f(n), g(m, 0.0), lse(m);
    double err = 0;
    int it = 0;
    for (;;) {
      ++it;
      for (std::size_t i = 0; i < n; ++i) {
        double mx = -HUGE_VAL;
        for (std::size_t j = 0; j < m; ++j) mx = std::max(mx, g[j] - C[i * m + j]);
        double s = 0;
        for (std::size_t j = 0; j < m; ++j) s += hd::lse_term(g[j] - C[i * m + j], mx, inv);
        f[i] = eps * std::log(1.0 / n) - hd::lse_finish(mx, s, eps);
      }
      err = 0;
      for (std::size_t j = 0; j < m; ++j) {
        double mx = -HUGE_VAL;
        for (std::size_t i = 0; i < n; ++i) mx = std::max(mx, f[i] - C[i * m + j]);
        double s = 0;
        for (std::size_t i = 0; i < n; ++i) s += hd::lse_term(f[i] - C[i * m + j], mx, inv);
        lse[j] = hd::lse_finish(mx, s, eps);
        err += hd::marginal_term(g[j], lse[j], inv, wn[j]);
      }
      if (err < so.tolerance || it >= so.max_iterations) break;
      for (std::size_t j = 0; j < m; ++j) g[j] = eps * std::log(wn[j]) - lse[j];
    }
    CHECK(err < so.tolerance);
    double cost = 0;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < m; ++j) cost += hd::plan_cost_term(f[i], g[j], C[i * m + j], inv);
    // 1e-6: the core may hold the kernel in float32 (2^-24 relative per entry).
    CHECK_NEAR(cost, ref.cost, 1e-6 * ref.cost);
    // Plain Sinkhorn needs more than one iteration here, so this is a real solve.
    CHECK(it > 3);
  }
  // The capped exponent keeps a hopeless marginal finite.
  CHECK(std::isfinite(hd::marginal_term(1e6, 1e6, 1.0, 0.5)));
}

// ---------------------------------------------------------------- availability
// Without a device (this CI machine: no driver; or a build without nvcc) every GPU entry
// point refuses with BACKEND_UNAVAILABLE and the probe's reason, never a crash.
TEST_CASE(gpu_api_reports_backend_unavailable_without_a_device) {
  const auto& st = p2sam::cuda::device_status();
#ifdef P2SAM_WITH_CUDA
  CHECK(st.compiled);
#else
  CHECK(!st.compiled);
#endif
  if (st.available) {
    std::printf("  (a CUDA device is present: %s; the no-device checks are skipped)\n", st.device_name.c_str());
    return;
  }
  CHECK(!st.reason.empty());
  const std::vector<float> x(64, 0.5f);
  auto expect = [&](const char* fn, std::function<void()> call) {
    const std::string got = hdt::code_of(call);
    CHECK(got.rfind(std::string("BACKEND_UNAVAILABLE: ") + fn + ": " + st.reason, 0) == 0);
  };
  expect("gpu_kmeans_batch", [&] { p2sam::cuda::gpu_kmeans_batch(x.data(), 8, 8, {2}); });
  expect("gpu_normalize_target_features", [&] { p2sam::cuda::gpu_normalize_target_features(x.data()); });
  expect("gpu_select_points", [&] { p2sam::cuda::gpu_select_points(x.data(), longest_side(10, 10), {}); });
  double out[4];
  expect("gpu_cost_matrix", [&] { p2sam::cuda::gpu_cost_matrix(x.data(), 2, x.data(), 2, 4, out); });
  TransportProblem pr{x.data(), 2, x.data(), 2, 4, nullptr, nullptr};
  expect("gpu_sinkhorn", [&] { p2sam::cuda::gpu_sinkhorn(pr, SinkhornOptions{}); });
}
