// The GPU's k-means restart (native/cuda/hd_kmeans.hpp) run on the host inside the
// core's batch (kmeans_batch_with), against the core's plain Lloyd: same streams, same
// labels, inertia and centroids, bit for bit.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "errors.hpp"
#include "harness.hpp"
#include "hd_kmeans.hpp"
#include "hd_test_util.hpp"
#include "kmeans.hpp"
#include "kmeans_driver.hpp"
#include "kmeans_random.hpp"

using namespace p2sam::core;
namespace hd = p2sam::cuda::hd;

namespace {
namespace hdt {

// The GPU's k-means on the host: the core's batch (kmeans_batch_with) around the GPU's
// restart code (hd::kmeans_restart) run by one worker, one restart after the other.
struct HostWork {
  std::vector<float> centres, centres_new, cnorm;
  std::vector<double> sums, closest, cumulative, trial, best_trial, shared_dbl;
  std::vector<int> counts, labels, labels_old, shared_int;
  std::vector<unsigned char> taken;
  double inertia = 0.0;
  int iterations = 0;
  hd::KmWork view(std::size_t n, std::size_t d, int k) {
    const std::size_t kd = static_cast<std::size_t>(k) * d;
    centres.assign(kd, 0.0f);
    centres_new.assign(kd, 0.0f);
    cnorm.assign(static_cast<std::size_t>(k), 0.0f);
    sums.assign(kd, 0.0);
    counts.assign(static_cast<std::size_t>(k), 0);
    labels.assign(n, 0);
    labels_old.assign(n, -1);
    closest.assign(n, 0.0);
    cumulative.assign(n, 0.0);
    trial.assign(n, 0.0);
    best_trial.assign(n, 0.0);
    taken.assign(n, 0);
    shared_int.assign(1, 0);
    shared_dbl.assign(hd::kMaxTrials, 0.0);
    return hd::KmWork{centres.data(),    centres_new.data(), cnorm.data(),      sums.data(),
                      counts.data(),     labels.data(),      labels_old.data(), closest.data(),
                      cumulative.data(), trial.data(),       best_trial.data(), taken.data(),
                      shared_int.data(), shared_dbl.data(),  &inertia,          &iterations};
  }
};

std::vector<KMeansResult> kmeans_batch_serial(const float* x, std::size_t n, std::size_t d, const std::vector<int>& ks,
                                              const KMeansOptions& o) {
  validate_kmeans_arguments("kmeans_batch_serial", x, n, d, ks, o);
  hd::km_check_gpu_limits("kmeans_batch_serial", n, d, ks);
  return kmeans_batch_with(x, n, d, ks, o, [&](const KMeansInput& p, const std::vector<KMeansRestartTask>& tasks) {
    std::vector<KMeansRestartResult> res(tasks.size());
    HostWork hw;
    hd::SerialExec ex;
    for (std::size_t t = 0; t < tasks.size(); ++t) {
      const hd::KmView v = hd::km_view(p, tasks[t].k, o);
      hd::KmWork w = hw.view(p.n, p.d, tasks[t].k);
      hd::kmeans_restart(ex, v, w, kmeans_stream_seed(o.seed, tasks[t].k, tasks[t].restart));
      res[t].labels.assign(hw.labels.begin(), hw.labels.end());
      res[t].centres = hw.centres;
      res[t].inertia = hw.inertia;
      res[t].iterations = hw.iterations;
    }
    return res;
  });
}

// The checks gpu_kmeans_batch makes: the core's contract, then the GPU's limits.
void km_validate(const char* fn, const float* x, std::size_t n, std::size_t d, const std::vector<int>& ks,
                 const KMeansOptions& o) {
  validate_kmeans_arguments(fn, x, n, d, ks, o);
  hd::km_check_gpu_limits(fn, n, d, ks);
}

}  // namespace hdt
}  // namespace

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
      {400, 256, 4, {1, 2, 3, 4, 5}, 3, 1},  // the shape of docs/algorithm.md §2.4: d = 256, k = 1..5
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
    const auto mine = hdt::kmeans_batch_serial(x.data(), c.n, c.d, c.ks, o);
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
  const auto mine = hdt::kmeans_batch_serial(x.data(), 12, 3, ks, o);
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
  const auto none = hdt::kmeans_batch_serial(nullptr, 0, 3, {2}, o);
  CHECK(none.size() == 1 && none[0].skipped);
}

TEST_CASE(hd_kmeans_validation_names_the_parameter) {
  const std::vector<float> x(20, 1.0f);
  KMeansOptions o;
  auto msg = [&](std::function<void()> fn) { return hdt::code_of(fn); };
  CHECK(msg([&] { hdt::km_validate("f", x.data(), 10, 0, {2}, o); }).find("'d'") != std::string::npos);
  CHECK(msg([&] { hdt::km_validate("f", nullptr, 10, 2, {2}, o); }).find("'features'") != std::string::npos);
  CHECK(msg([&] { hdt::km_validate("f", x.data(), 10, 2, {}, o); }).find("'ks'") != std::string::npos);
  CHECK(msg([&] { hdt::km_validate("f", x.data(), 10, 2, {0}, o); }).find("INVALID_ARGUMENT: f: parameter 'ks'") == 0);
  CHECK(msg([&] { hdt::km_validate("f", x.data(), 10, 2, {hd::kMaxK + 1}, o); }).find("1..1095") != std::string::npos);
  KMeansOptions bad = o;
  bad.restarts = 0;
  CHECK(msg([&] { hdt::km_validate("f", x.data(), 10, 2, {2}, bad); }).find("'restarts'") != std::string::npos);
  bad = o;
  bad.relative_tolerance = std::nan("");
  CHECK(msg([&] { hdt::km_validate("f", x.data(), 10, 2, {2}, bad); }).find("'relative_tolerance'") !=
        std::string::npos);
  std::vector<float> y = x;
  y[7] = std::nanf("");
  CHECK(msg([&] { hdt::km_validate("f", y.data(), 10, 2, {2}, o); }).find("row 3, column 1") != std::string::npos);
  CHECK(msg([&] { hdt::km_validate("f", x.data(), 10, 2, {2, 3}, o); }) == "none");
}

TEST_CASE(hd_kmeans_helpers) {
  // Streams differ per (seed, k, restart) and are reproducible.
  CHECK(kmeans_stream_seed(0, 2, 0) != kmeans_stream_seed(0, 2, 1));
  CHECK(kmeans_stream_seed(0, 2, 0) != kmeans_stream_seed(0, 3, 0));
  CHECK(kmeans_stream_seed(5, 4, 2) == kmeans_stream_seed(5, 4, 2));
  Xoshiro256StarStar r(123);
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
