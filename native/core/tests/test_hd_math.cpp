// The GPU kernels' arithmetic (native/cuda/hd_math.hpp), run on the host against the CPU
// core. These tests are what guards GPU/CPU parity on machines without a GPU: the
// kernels call exactly these functions, so a host result that differs from the core
// here would differ on the device too.
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
#include "test_util.hpp"
#include "hd_math.hpp"
#include "kernels.hpp"
#include "kmeans.hpp"
#include "prototypes.hpp"
#include "reference_grid.hpp"
#include "similarity.hpp"
#include "wasserstein.hpp"

using namespace p2sam::core;
namespace hd = p2sam::cuda::hd;

namespace {
namespace hdt {

using p2sam::testing::Rng;


// n points around `centres` well-separated blobs in d dimensions, plus an offset so the
// cloud is far from the origin (exercises the centring).
std::vector<float> blobs(std::size_t n, std::size_t d, int centres, std::uint64_t seed, float offset = 5.0f) {
  Rng rng(seed);
  std::vector<float> c(static_cast<std::size_t>(centres) * d);
  for (auto& v : c) v = 4.0f * rng.normal();
  std::vector<float> x(n * d);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t b = i % static_cast<std::size_t>(centres);
    for (std::size_t t = 0; t < d; ++t) x[i * d + t] = offset + c[b * d + t] + 0.8f * rng.normal();
  }
  return x;
}

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

std::string code_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const CoreError& e) {
    return e.code() + ": " + e.what();
  } catch (...) {
    return "other";
  }
  return "none";
}

}  // namespace hdt
}  // namespace

// ---------------------------------------------------------------- bilinear taps
TEST_CASE(hd_torch_tap_matches_core_axis) {
  const int sizes[][2] = {{64, 256}, {256, 1024}, {1024, 768}, {683, 512}, {1024, 37}, {5, 5}, {1, 9}, {9, 1},
                          {300, 1024}, {1024, 1000}, {2, 3}, {256, 256}};
  for (const auto& s : sizes) {
    const LinearAxis ax = torch_linear_axis(s[0], s[1]);
    bool ok = true;
    for (int d = 0; d < s[1]; ++d) {
      const hd::Tap t = hd::torch_tap(s[0], s[1], d);
      ok = ok && t.i0 == ax.i0[d] && t.i1 == ax.i1[d] && hdt::same_bits(t.w0, ax.w0[d]) && hdt::same_bits(t.w1, ax.w1[d]);
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
  CHECK(hd::better_max(1.0f, 5, 0.0f, -1));                 // nothing seen yet
  CHECK(hd::better_max(2.0f, 9, 1.0f, 3));                  // strictly larger
  CHECK(!hd::better_max(1.0f, 9, 1.0f, 3));                 // tie at a later index
  CHECK(hd::better_max(1.0f, 2, 1.0f, 3));                  // tie at an earlier index
  CHECK(hd::better_min(-1.0f, 9, 0.0f, 3));
  CHECK(!hd::better_min(0.0f, 9, 0.0f, 3));
  CHECK(hd::better_min(0.0f, 1, 0.0f, 3));
}

// ---------------------------------------------------------------- k-means
// The GPU restart code run serially must be the core's plain Lloyd (accelerate = false)
// bit for bit: same seeds, same candidates, same labels, same inertia and centroids.
TEST_CASE(hd_kmeans_serial_equals_core_plain_lloyd) {
  struct Case {
    std::size_t n, d;
    int blobs;
    std::vector<int> ks;
    int restarts;
    std::uint64_t seed;
  };
  const std::vector<Case> cases = {
      {400, 256, 4, {1, 2, 3, 4, 5}, 3, 1},  // the SPEC's shape: d = 256, k = 1..5
      {257, 13, 3, {2, 3, 7}, 4, 42},        // d not a multiple of 8: the scalar tail
      {60, 8, 2, {2, 9}, 2, 7},              // more parts than blobs
  };
  for (const Case& c : cases) {
    const std::vector<float> x = hdt::blobs(c.n, c.d, c.blobs, c.seed);
    KMeansOptions o;
    o.restarts = c.restarts;
    o.seed = c.seed;
    o.threads = 2;
    o.accelerate = false;
    o.seeding = p2sam::core::KMeansSeeding::P2sam;  // the streams the GPU implements
    const auto ref = kmeans_batch(x.data(), c.n, c.d, c.ks, o);
    const auto mine = hd::kmeans_batch_serial(x.data(), c.n, c.d, c.ks, o);
    CHECK(ref.size() == mine.size());
    for (std::size_t q = 0; q < ref.size() && q < mine.size(); ++q) {
      CHECK(mine[q].k == ref[q].k);
      CHECK(mine[q].skipped == ref[q].skipped);
      CHECK(mine[q].labels == ref[q].labels);
      CHECK(mine[q].inertia == ref[q].inertia);
      CHECK(mine[q].iterations == ref[q].iterations);
      CHECK(mine[q].restart == ref[q].restart);
      CHECK(mine[q].centroids == ref[q].centroids);
    }
    // And the accelerated default differs from plain Lloyd only by rounding-level ties:
    // the test's contract for the GPU (inertia within 1e-4 relative).
    o.accelerate = true;
    const auto fast = kmeans_batch(x.data(), c.n, c.d, c.ks, o);
    for (std::size_t q = 0; q < fast.size(); ++q)
      CHECK_NEAR(mine[q].inertia, fast[q].inertia, 1e-4 * std::max(1.0, fast[q].inertia));
  }
}

// Duplicated points force the empty-cluster paths (relocation during Lloyd and the final
// repair); n < k is skipped; n == 0 skips everything.
TEST_CASE(hd_kmeans_serial_empty_clusters_and_edges) {
  std::vector<float> x;
  for (int i = 0; i < 12; ++i) {
    const float v = i < 9 ? 1.0f : (i < 11 ? 5.0f : 9.0f);
    x.insert(x.end(), {v, -v, 0.5f * v});
  }
  KMeansOptions o;
  o.restarts = 5;
  o.seed = 3;
  o.accelerate = false;
  o.seeding = p2sam::core::KMeansSeeding::P2sam;  // the streams the GPU implements
  const std::vector<int> ks = {2, 3, 4, 6, 13};
  const auto ref = kmeans_batch(x.data(), 12, 3, ks, o);
  const auto mine = hd::kmeans_batch_serial(x.data(), 12, 3, ks, o);
  for (std::size_t q = 0; q < ks.size(); ++q) {
    CHECK(mine[q].skipped == ref[q].skipped);
    CHECK(mine[q].labels == ref[q].labels);
    CHECK(mine[q].inertia == ref[q].inertia);
    CHECK(mine[q].centroids == ref[q].centroids);
    if (!mine[q].skipped) {
      std::vector<int> seen(static_cast<std::size_t>(ks[q]), 0);
      for (int l : mine[q].labels) seen[static_cast<std::size_t>(l)] = 1;
      CHECK(std::count(seen.begin(), seen.end(), 1) == ks[q]);  // no empty cluster
      for (float v : mine[q].centroids) CHECK(std::isfinite(v));
    }
  }
  CHECK(mine[4].skipped);  // 13 > 12 points
  const auto none = hd::kmeans_batch_serial(nullptr, 0, 3, {2}, o);
  CHECK(none.size() == 1 && none[0].skipped);
}

TEST_CASE(hd_kmeans_validation_names_the_parameter) {
  const std::vector<float> x(20, 1.0f);
  KMeansOptions o;
  auto msg = [&](std::function<void()> fn) { return hdt::code_of(fn); };
  CHECK(msg([&] { hd::km_validate("f", x.data(), 10, 0, {2}, o); }).find("'d'") != std::string::npos);
  CHECK(msg([&] { hd::km_validate("f", nullptr, 10, 2, {2}, o); }).find("'features'") != std::string::npos);
  CHECK(msg([&] { hd::km_validate("f", x.data(), 10, 2, {}, o); }).find("'ks'") != std::string::npos);
  CHECK(msg([&] { hd::km_validate("f", x.data(), 10, 2, {0}, o); }).find("INVALID_ARGUMENT: f: parameter 'ks'") == 0);
  CHECK(msg([&] { hd::km_validate("f", x.data(), 10, 2, {hd::kMaxK + 1}, o); }).find("1..1095") != std::string::npos);
  KMeansOptions bad = o;
  bad.restarts = 0;
  CHECK(msg([&] { hd::km_validate("f", x.data(), 10, 2, {2}, bad); }).find("'restarts'") != std::string::npos);
  bad = o;
  bad.relative_tolerance = std::nan("");
  CHECK(msg([&] { hd::km_validate("f", x.data(), 10, 2, {2}, bad); }).find("'relative_tolerance'") != std::string::npos);
  std::vector<float> y = x;
  y[7] = std::nanf("");
  CHECK(msg([&] { hd::km_validate("f", y.data(), 10, 2, {2}, o); }).find("row 3, column 1") != std::string::npos);
  CHECK(msg([&] { hd::km_validate("f", x.data(), 10, 2, {2, 3}, o); }) == "none");
}

TEST_CASE(hd_kmeans_helpers) {
  // Streams differ per (seed, k, restart) and are reproducible.
  CHECK(hd::kmeans_stream_seed(0, 2, 0) != hd::kmeans_stream_seed(0, 2, 1));
  CHECK(hd::kmeans_stream_seed(0, 2, 0) != hd::kmeans_stream_seed(0, 3, 0));
  CHECK(hd::kmeans_stream_seed(5, 4, 2) == hd::kmeans_stream_seed(5, 4, 2));
  hd::Xoshiro r(123);
  double lo = 1, hi = 0;
  for (int i = 0; i < 10000; ++i) {
    const double u = r.uniform();
    lo = std::min(lo, u);
    hi = std::max(hi, u);
  }
  CHECK(lo >= 0.0 && lo < 0.01 && hi < 1.0 && hi > 0.99);
  CHECK(hd::kmeanspp_trials(2) == 2 && hd::kmeanspp_trials(3) == 3 && hd::kmeanspp_trials(8) == 4);
  CHECK(hd::kmeanspp_trials(hd::kMaxK) <= hd::kMaxTrials);
  // Sampling never returns a point with zero D² (already a centre).
  const double closest[] = {0.0, 2.0, 0.0, 1.0};
  const double cumulative[] = {0.0, 2.0, 2.0, 3.0};
  CHECK(hd::sample_by_potential(cumulative, closest, 4, 0.0) == 1);
  CHECK(hd::sample_by_potential(cumulative, closest, 4, 0.7) == 3);
  CHECK(hd::sample_by_potential(cumulative, closest, 4, 0.9999999999999999) == 3);
  // Lane distances: exact zero on identical rows, symmetric, and equal to the plain
  // float64 sum to float32 accuracy.
  const std::vector<float> a = hdt::blobs(1, 37, 1, 1), b = hdt::blobs(1, 37, 1, 2);
  CHECK(hd::sq_dist_lanes(a.data(), a.data(), 37) == 0.0);
  CHECK(hd::sq_dist_lanes(a.data(), b.data(), 37) == hd::sq_dist_lanes(b.data(), a.data(), 37));
  double exact = 0;
  for (int t = 0; t < 37; ++t) exact += (double(a[t]) - b[t]) * (double(a[t]) - b[t]);
  CHECK_NEAR(hd::sq_dist_lanes(a.data(), b.data(), 37), exact, 1e-5 * exact);
  CHECK_NEAR(hd::dot_lanes(a.data(), b.data(), 37), hd::dot_f64(a.data(), b.data(), 37), 1e-4 * 37 * 100);
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
