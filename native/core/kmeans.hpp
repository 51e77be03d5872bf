// k-means for part prototypes (docs/algorithm.md §2.4) and medical-mode background parts (§2.6).
//
// Semantics follow scikit-learn's KMeans(algorithm="lloyd", init="k-means++",
// n_init=restarts) so results are comparable with the authors' Python code:
//   * greedy k-means++ seeding: first centre uniform; every further centre draws
//     2 + floor(ln k) candidates with probability proportional to the current D² and
//     keeps the one giving the lowest total potential;
//   * Lloyd iterations (at most max_iterations); stop when the labels did not change
//     ("strict convergence") or when the squared Frobenius norm of the centre shift is
//     <= relative_tolerance * mean_over_features(variance of that feature);
//   * after a tolerance stop one more assignment so that labels belong to the final
//     centres; inertia = sum of squared distances of points to their labelled centre;
//   * an empty cluster during Lloyd is moved onto the point farthest from its centre.
// Deliberate differences of KMeansSeeding::P2sam (Sklearn follows scikit-learn's own
// relocation; see kmeans_sklearn.hpp), all only reachable with ties / duplicated points:
//   * relocation never takes the only point of a cluster, so it cannot empty another;
//   * if the final labelling leaves a cluster empty (possible when fewer than k distinct
//     points exist, or when a tolerance stop lands on an emptying step), the farthest
//     point of a cluster with >= 2 members is moved to it and both centroids are
//     recomputed as the means of their labels. Hence every returned cluster has at
//     least one point and every centroid is finite.
//
// Determinism (KMeansSeeding::P2sam): restart r of part count k draws from an xoshiro256** stream seeded from
// (seed, k, r) through splitmix64, uniform doubles are (next >> 11) * 2^-53, and each
// restart runs single-threaded; threads only spread restarts. Results are therefore
// bit-identical for any thread count, and restart r is the same whether restarts is 1
// or 10 (so the best of 10 is never worse than restarts = 1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace p2sam::core {

// Which random streams and seeding the restarts use.
//   Sklearn (default): scikit-learn's KMeans(n_clusters=k, random_state=seed,
//     n_init=restarts) draw for draw, float32 like scikit-learn on float32 data; see
//     kmeans_sklearn.hpp (the semantics below apply, its numerics differ).
//   P2sam: this project's own xoshiro256** streams, one per (seed, k, restart), float64
//     cluster sums and Hamerly-accelerated Lloyd, as described in this header.
enum class KMeansSeeding { Sklearn, P2sam };

struct KMeansOptions {
  int restarts = 10;                 // n_init; >= 1
  int max_iterations = 300;          // Lloyd iterations per restart; >= 1
  double relative_tolerance = 1e-4;  // scaled by the mean per-feature variance; >= 0
  std::uint64_t seed = 0;
  int threads = 0;  // <= 0: hardware concurrency
  // Hamerly's triangle-inequality bounds skip distance computations that cannot change
  // a label. false runs plain Lloyd; both agree except on rounding-level ties (kept as
  // a switch for testing and benchmarking).
  bool accelerate = true;
  KMeansSeeding seeding = KMeansSeeding::Sklearn;
};

struct KMeansResult {
  int k = 0;
  bool skipped = false;              // n < k: nothing else is filled in
  std::vector<std::int32_t> labels;  // n entries in [0, k); every label occurs
  std::vector<float> centroids;      // k×d row-major, in the input coordinates
  double inertia = 0.0;              // sum of squared distances to the labelled centroid
  int iterations = 0;                // Lloyd iterations of the kept restart (0 for k = 1)
  int restart = 0;                   // index of the kept restart
};

// Clusters the same n×d row-major features once per entry of ks ("batched": the
// restarts of every k share one thread pool and one pass of input validation).
// k = 1 is solved in closed form (the mean). n == 0 is allowed (features may then be
// null) and skips every k. Throws CoreError INVALID_ARGUMENT for k < 1, d == 0, a null
// pointer with n > 0, non-finite or absurdly large features (|x| so large that squared
// distances overflow float), or out-of-range options.
std::vector<KMeansResult> kmeans_batch(const float* features, std::size_t n, std::size_t d, const std::vector<int>& ks,
                                       const KMeansOptions& options = KMeansOptions{});

// Single-k convenience wrapper around kmeans_batch.
KMeansResult kmeans(const float* features, std::size_t n, std::size_t d, int k,
                    const KMeansOptions& options = KMeansOptions{});

}  // namespace p2sam::core
