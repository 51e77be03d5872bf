// Tests of k-means (kmeans.hpp) and part prototypes (prototypes.hpp).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "errors.hpp"
#include "harness.hpp"
#include "kmeans.hpp"
#include "prototypes.hpp"
#include "test_util.hpp"

using p2sam::core::CoreError;
using p2sam::core::KMeansOptions;
using p2sam::core::KMeansResult;

namespace {

// Test-data generator (independent of the k-means stream).
using TestRng = p2sam::testing::XorShift64;

// `clusters` Gaussian blobs (sd 0.05) around centres spread with sd `spread`, plus a
// common offset (features are not zero-mean); truth[i] = blob of point i.
std::vector<float> blobs(std::size_t n, std::size_t d, int clusters, double spread, std::uint64_t seed,
                         std::vector<int>* truth) {
  TestRng rng{seed * 2654435761ULL + 88172645463325252ULL};
  std::vector<double> centres(static_cast<std::size_t>(clusters) * d);
  for (auto& c : centres) c = spread * rng.gaussian();
  std::vector<float> x(n * d);
  if (truth) truth->assign(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<std::size_t>(i % static_cast<std::size_t>(clusters));
    if (truth) (*truth)[i] = static_cast<int>(c);
    for (std::size_t t = 0; t < d; ++t)
      x[i * d + t] = static_cast<float>(3.0 + centres[c * d + t] + 0.05 * rng.gaussian());
  }
  return x;
}

std::vector<float> noise(std::size_t n, std::size_t d, std::uint64_t seed) {
  TestRng rng{seed * 0x9E3779B97F4A7C15ULL + 1};
  std::vector<float> x(n * d);
  for (auto& v : x) v = static_cast<float>(rng.gaussian());
  return x;
}

// Labels a and b describe the same partition (equal up to renaming).
bool same_partition(const std::vector<std::int32_t>& a, const std::vector<int>& b) {
  if (a.size() != b.size()) return false;
  std::map<int, int> ab, ba;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto x = ab.emplace(a[i], b[i]);
    auto y = ba.emplace(b[i], a[i]);
    if (x.first->second != b[i] || y.first->second != a[i]) return false;
  }
  return true;
}

bool bit_equal(const KMeansResult& a, const KMeansResult& b) {
  return a.k == b.k && a.skipped == b.skipped && a.labels == b.labels && a.centroids.size() == b.centroids.size() &&
         std::memcmp(a.centroids.data(), b.centroids.data(), a.centroids.size() * sizeof(float)) == 0 &&
         std::memcmp(&a.inertia, &b.inertia, sizeof(double)) == 0 && a.iterations == b.iterations;
}

// Structural validity: every label in range, every cluster used, finite centroids and
// inertia, inertia consistent with labels and centroids.
void check_valid(const KMeansResult& r, const float* x, std::size_t n, std::size_t d) {
  CHECK(!r.skipped);
  CHECK(r.labels.size() == n);
  CHECK(r.centroids.size() == static_cast<std::size_t>(r.k) * d);
  std::vector<int> counts(static_cast<std::size_t>(r.k), 0);
  for (auto l : r.labels) {
    CHECK(l >= 0 && l < r.k);
    if (l >= 0 && l < r.k) ++counts[static_cast<std::size_t>(l)];
  }
  for (int c : counts) CHECK(c > 0);
  for (float v : r.centroids) CHECK(std::isfinite(v));
  CHECK(std::isfinite(r.inertia) && r.inertia >= 0.0);
  double inertia = 0.0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t t = 0; t < d; ++t) {
      double diff = static_cast<double>(x[i * d + t]) - r.centroids[static_cast<std::size_t>(r.labels[i]) * d + t];
      inertia += diff * diff;
    }
  CHECK_NEAR(r.inertia, inertia, 1e-4 * (1.0 + inertia));
}

std::string error_message(const std::function<void()>& fn, std::string* code = nullptr) {
  try {
    fn();
  } catch (const CoreError& e) {
    if (code) *code = e.code();
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE(kmeans_recovers_separated_clusters_exactly) {
  const std::size_t n = 400, d = 32;
  for (int k : {2, 3, 5}) {
    std::vector<int> truth;
    auto x = blobs(n, d, k, 1.0, 7 + static_cast<std::uint64_t>(k), &truth);
    auto r = p2sam::core::kmeans(x.data(), n, d, k);
    check_valid(r, x.data(), n, d);
    CHECK(same_partition(r.labels, truth));
    // Centroids are the blob means: every point lies within a few sd of its centroid.
    for (std::size_t i = 0; i < n; ++i) {
      double dist = 0.0;
      for (std::size_t t = 0; t < d; ++t) {
        double diff = x[i * d + t] - r.centroids[static_cast<std::size_t>(r.labels[i]) * d + t];
        dist += diff * diff;
      }
      CHECK(dist < 0.05 * 0.05 * static_cast<double>(d) * 4.0);
    }
  }
}

TEST_CASE(kmeans_batch_matches_single_calls) {
  const std::size_t n = 300, d = 16;
  auto x = noise(n, d, 3);
  KMeansOptions o;
  o.seed = 42;
  auto batch = p2sam::core::kmeans_batch(x.data(), n, d, {2, 3, 4, 5}, o);
  CHECK(batch.size() == 4);
  for (std::size_t q = 0; q < batch.size(); ++q) {
    CHECK(batch[q].k == static_cast<int>(q) + 2);
    auto single = p2sam::core::kmeans(x.data(), n, d, static_cast<int>(q) + 2, o);
    CHECK(bit_equal(batch[q], single));
    check_valid(batch[q], x.data(), n, d);
  }
}

TEST_CASE(kmeans_is_deterministic_across_runs_and_threads) {
  const std::size_t n = 500, d = 24;
  auto x = noise(n, d, 11);
  KMeansOptions one, two, many;
  one.threads = 1;
  two.threads = 2;
  many.threads = 7;
  for (auto* o : {&one, &two, &many}) o->seed = 1234;
  const std::vector<int> ks{5, 2, 3, 4};
  auto a = p2sam::core::kmeans_batch(x.data(), n, d, ks, one);
  auto b = p2sam::core::kmeans_batch(x.data(), n, d, ks, one);
  auto c = p2sam::core::kmeans_batch(x.data(), n, d, ks, two);
  auto e = p2sam::core::kmeans_batch(x.data(), n, d, ks, many);
  for (std::size_t q = 0; q < ks.size(); ++q) {
    CHECK(bit_equal(a[q], b[q]));
    CHECK(bit_equal(a[q], c[q]));
    CHECK(bit_equal(a[q], e[q]));
  }
}

TEST_CASE(kmeans_different_seeds_are_both_valid) {
  const std::size_t n = 400, d = 20;
  auto x = noise(n, d, 5);
  KMeansOptions a, b;
  a.seed = 1;
  b.seed = 2;
  a.restarts = b.restarts = 1;
  auto ra = p2sam::core::kmeans(x.data(), n, d, 4, a);
  auto rb = p2sam::core::kmeans(x.data(), n, d, 4, b);
  check_valid(ra, x.data(), n, d);
  check_valid(rb, x.data(), n, d);
  // On structureless noise two single restarts from different streams land in different
  // local optima (if they ever coincided, the seed would not be reaching the stream).
  CHECK(ra.labels != rb.labels);
}

TEST_CASE(kmeans_more_restarts_never_worse) {
  const std::size_t n = 600, d = 16;
  auto x = noise(n, d, 9);
  for (std::uint64_t seed : {0ULL, 5ULL, 77ULL}) {
    KMeansOptions single, ten;
    single.seed = ten.seed = seed;
    single.restarts = 1;
    ten.restarts = 10;
    for (int k : {2, 4, 6}) {
      auto r1 = p2sam::core::kmeans(x.data(), n, d, k, single);
      auto r10 = p2sam::core::kmeans(x.data(), n, d, k, ten);
      CHECK(r10.inertia <= r1.inertia);
      CHECK(r10.restart >= 0 && r10.restart < 10);
      // Restart 0 of the 10 is the very same run as restarts = 1.
      if (r10.restart == 0) CHECK(bit_equal(r1, r10));
    }
  }
}

TEST_CASE(kmeans_lloyd_fixed_point) {
  // At a strict convergence every point is nearest to its own centroid and every
  // centroid is the mean of its points (tolerance 0 forces a strict stop).
  const std::size_t n = 300, d = 8;
  auto x = noise(n, d, 21);
  KMeansOptions o;
  o.relative_tolerance = 0.0;
  auto r = p2sam::core::kmeans(x.data(), n, d, 3, o);
  CHECK(r.iterations >= 1 && r.iterations <= 300);
  for (int c = 0; c < 3; ++c) {
    std::vector<double> mean(d, 0.0);
    int count = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (r.labels[i] == c) {
        ++count;
        for (std::size_t t = 0; t < d; ++t) mean[t] += x[i * d + t];
      }
    for (std::size_t t = 0; t < d; ++t)
      CHECK_NEAR(mean[t] / count, r.centroids[static_cast<std::size_t>(c) * d + t], 1e-4);
  }
  for (std::size_t i = 0; i < n; ++i) {
    double own = 0, best = std::numeric_limits<double>::infinity();
    for (int c = 0; c < 3; ++c) {
      double dist = 0;
      for (std::size_t t = 0; t < d; ++t) {
        double diff = x[i * d + t] - r.centroids[static_cast<std::size_t>(c) * d + t];
        dist += diff * diff;
      }
      best = std::min(best, dist);
      if (c == r.labels[i]) own = dist;
    }
    CHECK(own <= best + 1e-4);
  }
}

TEST_CASE(kmeans_hamerly_agrees_with_plain_lloyd) {
  const std::size_t n = 800, d = 64;
  std::vector<int> truth;
  auto x = blobs(n, d, 6, 0.02, 3, &truth);  // heavily overlapping: many iterations
  KMeansOptions fast, plain;
  fast.seeding = plain.seeding = p2sam::core::KMeansSeeding::P2sam;  // Hamerly is P2sam's
  plain.accelerate = false;
  for (int k : {2, 3, 5, 8}) {
    auto a = p2sam::core::kmeans(x.data(), n, d, k, fast);
    auto b = p2sam::core::kmeans(x.data(), n, d, k, plain);
    CHECK(a.labels == b.labels);
    CHECK(a.iterations == b.iterations);
    CHECK_NEAR(a.inertia, b.inertia, 1e-9 * b.inertia);
  }
}

TEST_CASE(kmeans_duplicates_and_degenerate_inputs) {
  const std::size_t d = 6;
  // Only 2 distinct points, repeated; k = 4 > number of distinct points.
  std::vector<float> x;
  for (int i = 0; i < 10; ++i)
    for (std::size_t t = 0; t < d; ++t) x.push_back(i % 2 ? 1.0f : -2.0f + static_cast<float>(t));
  for (int k : {2, 3, 4, 10}) {
    auto r = p2sam::core::kmeans(x.data(), 10, d, k);
    check_valid(r, x.data(), 10, d);
  }
  // All identical points: zero variance gives tolerance 0, must still stop.
  std::vector<float> same(50 * d, 0.25f);
  for (int k : {1, 2, 5, 50}) {
    auto r = p2sam::core::kmeans(same.data(), 50, d, k);
    check_valid(r, same.data(), 50, d);
    CHECK(r.inertia == 0.0);
    for (float v : r.centroids) CHECK(v == 0.25f);
  }
  // N == k: every point its own cluster, inertia 0.
  auto y = noise(7, d, 4);
  auto r = p2sam::core::kmeans(y.data(), 7, d, 7);
  check_valid(r, y.data(), 7, d);
  CHECK(r.inertia == 0.0);
  // N < k is skipped; the other ks of the batch still run.
  auto batch = p2sam::core::kmeans_batch(y.data(), 7, d, {8, 3, 100});
  CHECK(batch[0].skipped && batch[0].labels.empty() && batch[0].centroids.empty());
  CHECK(!batch[1].skipped);
  check_valid(batch[1], y.data(), 7, d);
  CHECK(batch[2].skipped);
  // n == 0: everything skipped, null features allowed.
  auto none = p2sam::core::kmeans_batch(nullptr, 0, d, {1, 2});
  CHECK(none[0].skipped && none[1].skipped);
}

TEST_CASE(kmeans_single_cluster_is_the_mean) {
  const std::size_t n = 5, d = 3;
  std::vector<float> x{1, 2, 3, 3, 2, 1, 0, 0, 0, 2, 2, 2, 4, 4, 4};
  auto r = p2sam::core::kmeans(x.data(), n, d, 1);
  CHECK(r.labels == std::vector<std::int32_t>(n, 0));
  CHECK_NEAR(r.centroids[0], 2.0, 1e-6);
  CHECK_NEAR(r.centroids[1], 2.0, 1e-6);
  CHECK_NEAR(r.centroids[2], 2.0, 1e-6);
  // squared deviations from (2,2,2): 1+0+1, 1+0+1, 4+4+4, 0, 4+4+4 -> 28
  CHECK_NEAR(r.inertia, 28.0, 1e-9);
}

TEST_CASE(kmeans_invalid_arguments_throw_clear_errors) {
  const std::size_t n = 10, d = 4;
  auto x = noise(n, d, 1);
  std::string code;
  auto msg = error_message([&] { p2sam::core::kmeans(x.data(), n, d, 0); }, &code);
  CHECK(code == "INVALID_ARGUMENT");
  CHECK(contains(msg, "'ks'") && contains(msg, ">= 1") && contains(msg, "= 0"));
  msg = error_message([&] { p2sam::core::kmeans_batch(x.data(), n, d, {2, -3}); });
  CHECK(contains(msg, "ks[1] = -3"));
  msg = error_message([&] { p2sam::core::kmeans_batch(x.data(), n, d, {}); });
  CHECK(contains(msg, "'ks'"));
  msg = error_message([&] { p2sam::core::kmeans(x.data(), n, 0, 2); });
  CHECK(contains(msg, "'d'") && contains(msg, "got 0"));
  msg = error_message([&] { p2sam::core::kmeans(nullptr, n, d, 2); });
  CHECK(contains(msg, "'features'") && contains(msg, "null"));
  auto bad = x;
  bad[2 * d + 3] = std::numeric_limits<float>::quiet_NaN();
  msg = error_message([&] { p2sam::core::kmeans(bad.data(), n, d, 2); });
  CHECK(contains(msg, "finite") && contains(msg, "row 2") && contains(msg, "column 3"));
  bad[2 * d + 3] = std::numeric_limits<float>::infinity();
  CHECK_THROWS(p2sam::core::kmeans(bad.data(), n, d, 2));
  bad[2 * d + 3] = 3e37f;  // finite, but its square overflows float
  msg = error_message([&] { p2sam::core::kmeans(bad.data(), n, d, 2); });
  CHECK(contains(msg, "magnitude"));
  KMeansOptions o;
  o.restarts = 0;
  msg = error_message([&] { p2sam::core::kmeans(x.data(), n, d, 2, o); });
  CHECK(contains(msg, "'restarts'"));
  o = KMeansOptions{};
  o.max_iterations = 0;
  msg = error_message([&] { p2sam::core::kmeans(x.data(), n, d, 2, o); });
  CHECK(contains(msg, "'max_iterations'"));
  o = KMeansOptions{};
  o.relative_tolerance = std::numeric_limits<double>::quiet_NaN();
  msg = error_message([&] { p2sam::core::kmeans(x.data(), n, d, 2, o); });
  CHECK(contains(msg, "'relative_tolerance'"));
  CHECK_THROWS(p2sam::core::part_prototypes(x.data(), n, d, {0}));
}

TEST_CASE(prototypes_are_unit_norm_means_of_labels) {
  const std::size_t n = 240, d = 32;
  std::vector<int> truth;
  auto x = blobs(n, d, 3, 1.0, 17, &truth);
  KMeansOptions o;
  o.seed = 3;
  auto sets = p2sam::core::part_prototypes(x.data(), n, d, {1, 2, 3, 300}, o);
  CHECK(sets.size() == 4);
  CHECK(sets[3].skipped && sets[3].prototypes.empty());
  auto clusters = p2sam::core::kmeans_batch(x.data(), n, d, {1, 2, 3, 300}, o);
  for (std::size_t q = 0; q < 3; ++q) {
    const auto& s = sets[q];
    const auto k = static_cast<std::size_t>(s.k);
    CHECK(!s.skipped);
    CHECK(s.prototypes.size() == k * d);
    CHECK(s.labels == clusters[q].labels);
    CHECK(s.inertia == clusters[q].inertia);
    for (std::size_t c = 0; c < k; ++c) {
      // Reference: normalise(mean of the features labelled c), straight from the labels.
      std::vector<double> mean(d, 0.0);
      double count = 0;
      for (std::size_t i = 0; i < n; ++i)
        if (static_cast<std::size_t>(s.labels[i]) == c) {
          ++count;
          for (std::size_t t = 0; t < d; ++t) mean[t] += x[i * d + t];
        }
      CHECK(count > 0);
      double norm = 0.0, proto_norm = 0.0;
      for (double& m : mean) {
        m /= count;
        norm += m * m;
      }
      norm = std::sqrt(norm);
      for (std::size_t t = 0; t < d; ++t) {
        const float p = s.prototypes[c * d + t];
        CHECK(std::isfinite(p));
        CHECK_NEAR(p, mean[t] / norm, 1e-6);
        proto_norm += static_cast<double>(p) * p;
      }
      CHECK_NEAR(std::sqrt(proto_norm), 1.0, 1e-6);
    }
  }
  // k = 1: the normalised mean of everything, labels all zero.
  CHECK(std::all_of(sets[0].labels.begin(), sets[0].labels.end(), [](int l) { return l == 0; }));
}

TEST_CASE(prototypes_zero_vectors_stay_finite) {
  const std::size_t d = 5;
  // Points symmetric around 0: the k = 1 mean is exactly zero; a zero point forms its
  // own cluster for k = 3.
  std::vector<float> x{1, 0, 0, 0, 0, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  auto sets = p2sam::core::part_prototypes(x.data(), 3, d, {1, 3});
  for (float v : sets[0].prototypes) CHECK(v == 0.0f);
  int zero_rows = 0;
  for (std::size_t c = 0; c < 3; ++c) {
    double sq = 0.0;
    for (std::size_t t = 0; t < d; ++t) {
      CHECK(std::isfinite(sets[1].prototypes[c * d + t]));
      sq += static_cast<double>(sets[1].prototypes[c * d + t]) * sets[1].prototypes[c * d + t];
    }
    if (sq == 0.0)
      ++zero_rows;
    else
      CHECK_NEAR(sq, 1.0, 1e-6);
  }
  CHECK(zero_rows == 1);
  // All-identical features, more clusters than distinct points: duplicates, no NaN.
  std::vector<float> same(8 * d, -0.5f);
  auto dup = p2sam::core::part_prototypes(same.data(), 8, d, {4});
  for (float v : dup[0].prototypes) CHECK_NEAR(v, -1.0 / std::sqrt(5.0), 1e-6);
  float v[3] = {0, 0, 0};
  p2sam::core::normalise_in_place(v, 3);
  CHECK(v[0] == 0.0f && v[1] == 0.0f && v[2] == 0.0f);
  float w[2] = {3e-30f, 4e-30f};
  p2sam::core::normalise_in_place(w, 2);
  CHECK_NEAR(w[0], 0.6, 1e-6);
  CHECK_NEAR(w[1], 0.8, 1e-6);
}
