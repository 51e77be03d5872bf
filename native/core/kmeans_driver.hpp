// The batch around the k-means restarts, shared by the CPU core (kmeans.cpp) and the
// GPU (native/cuda/kmeans.cu): argument checks, centring, the closed-form k = 1, and
// the choice of the best restart per k. Only the restarts themselves differ between
// the two, so they are passed in as a runner; everything a caller can observe besides
// the restarts' own arithmetic is therefore computed by the same code on both sides.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "kmeans.hpp"

namespace p2sam::core {

// The features as every restart sees them: centred once (x - mean, mean in float64)
// like scikit-learn, with the squared norms of the centred rows (the lane kernel of
// kmeans.cpp) and the absolute tolerance.
struct KMeansInput {
  std::size_t n = 0, d = 0;
  std::vector<double> mean;    // d
  std::vector<float> centred;  // n×d, x - mean
  std::vector<float> norms;    // n, ||x - mean||² (same kernel as the centre norms)
  double tolerance = 0.0;      // absolute: relative_tolerance × mean per-feature variance
};

// One restart to run: part count ks[q] = k, restart index `restart` (its random stream
// is kmeans_stream_seed(seed, k, restart)).
struct KMeansRestartTask {
  std::size_t q;
  int k;
  int restart;
};

struct KMeansRestartResult {
  std::vector<std::int32_t> labels;
  std::vector<float> centres;  // k×d, centred coordinates
  double inertia = 0.0;
  int iterations = 0;
};

// Runs every task (in any order, on any hardware) and returns one result per task, in
// task order.
using KMeansRestartRunner =
    std::function<std::vector<KMeansRestartResult>(const KMeansInput&, const std::vector<KMeansRestartTask>&)>;

// The argument contract of kmeans.hpp; messages start with "<fn>: ".
void validate_kmeans_arguments(const char* fn, const float* features, std::size_t n, std::size_t d,
                               const std::vector<int>& ks, const KMeansOptions& options);

KMeansInput prepare_kmeans_input(const float* features, std::size_t n, std::size_t d, double relative_tolerance);

// kmeans_batch with the restarts delegated to `run` (arguments already validated).
// Tasks are listed larger k first (so a pool of workers stays balanced); the best
// restart per k is chosen in restart order, whatever order they ran in.
std::vector<KMeansResult> kmeans_batch_with(const float* features, std::size_t n, std::size_t d,
                                            const std::vector<int>& ks, const KMeansOptions& options,
                                            const KMeansRestartRunner& run);

}  // namespace p2sam::core
