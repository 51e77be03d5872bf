// Part prototypes of a reference (docs/algorithm.md §2.4) and of background features in medical
// mode (§2.6): for each part count k, k unit-length rows.
//   k = 1 : normalise(mean of all features), no clustering;
//   k > 1 : k-means (kmeans.hpp), then prototype c = normalise(mean of the ORIGINAL
//           features labelled c) — recomputed from the labels in float64, not taken
//           from the k-means centroids (which live in centred float32 coordinates).
// Normalising a zero vector leaves it zero (its cosine similarity with anything is then
// 0) instead of dividing by zero; any positive norm is divided out exactly, so no NaN.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kmeans.hpp"

namespace p2sam::core {

struct PrototypeSet {
  int k = 0;
  bool skipped = false;              // n < k (or n == 0): nothing else is filled in
  std::vector<float> prototypes;     // k×d row-major, each row unit-norm (or all zero)
  std::vector<std::int32_t> labels;  // n entries in [0, k); all zero for k = 1
  double inertia = 0.0;              // k-means inertia (k = 1: sum of squared distances to the mean)
};

// Same argument contract as kmeans_batch. kb = 0 (no background parts) is the caller's
// business: pass only k >= 1 here.
std::vector<PrototypeSet> part_prototypes(const float* features, std::size_t n, std::size_t d,
                                          const std::vector<int>& ks, const KMeansOptions& options = KMeansOptions{});

// The same sets from k-means results already computed (by kmeans_batch, or by the CUDA
// gpu_kmeans_batch, which returns the same type): only the float64 label means and their
// normalisation run here. `clusters` must come from these features and ks.
std::vector<PrototypeSet> prototypes_from_clusters(const float* features, std::size_t n, std::size_t d,
                                                   std::vector<KMeansResult> clusters);

// L2-normalises `v` (length d) in place, computing the norm in float64. A zero vector
// stays zero. Exposed for callers that normalise target features the same way.
void normalise_in_place(float* v, std::size_t d);

}  // namespace p2sam::core
