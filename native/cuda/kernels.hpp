// Host API of the GPU maths (docs/algorithm.md §2.4–2.8 on CUDA). Each function takes and returns the
// same types as its CPU counterpart in native/core, so callers and tests can run both
// on the same inputs and compare:
//   gpu_kmeans_batch              <-> core::kmeans_batch (accelerate = false semantics)
//   gpu_normalize_target_features <-> core::normalize_target_features
//   gpu_select_points             <-> core::select_points
//   gpu_cost_matrix               <-> core::squared_euclidean_costs
//   gpu_sinkhorn                  <-> core::wasserstein_sinkhorn
// Inputs and results live in host memory; device memory is allocated per call and freed
// before returning (these are per-target stages of a few milliseconds, not a resident
// pipeline). The exact solver stays on the CPU (a network simplex is sequential).
//
// Availability: every function first checks device_status(). Without a usable device
// (no driver, no GPU, or a build without nvcc) it throws
// CoreError("BACKEND_UNAVAILABLE", "<function>: <reason>") before looking at its
// arguments. With a device, invalid arguments throw INVALID_ARGUMENT naming the
// parameter (the core's messages, with the gpu_ function name), and a failing CUDA call
// throws INTERNAL with the CUDA error name. Nothing here ever returns NaN for finite
// input. Thread-safe: calls from several threads share the device's default stream.
#pragma once

#include <cstddef>
#include <vector>

#include "cuda_backend.hpp"
#include "geometry.hpp"
#include "kmeans.hpp"
#include "similarity.hpp"
#include "wasserstein.hpp"

namespace p2sam::cuda {

// One thread block per (k, restart): greedy k-means++ seeding, Lloyd, empty-cluster
// handling and inertia run on the device with the core's arithmetic (hd_math.hpp), so
// labels and inertia equal core::kmeans_batch with options.accelerate = false, and
// equal the default (accelerated) core up to rounding-level ties. options.threads and
// options.accelerate are ignored.
std::vector<core::KMeansResult> gpu_kmeans_batch(const float* features, std::size_t n, std::size_t d,
                                                 const std::vector<int>& ks,
                                                 const core::KMeansOptions& options = core::KMeansOptions{});

// embedding: channel-major [256, 64, 64]. Bit-identical to the core.
std::vector<float> gpu_normalize_target_features(const float* embedding);

// Similarity maps, the upsampling chain of docs/algorithm.md §2.5 and the per-map argmax / mean-map argmin
// on the device. Points (and values) are identical to core::select_points.
std::vector<core::PointSet> gpu_select_points(const float* target_normalized, const core::ResizeInfo& info,
                                              const std::vector<core::PointRequest>& requests);

// out[i*m + j] = ||a_i - b_j||² in float64 (n×m, host memory). Same expression as the
// core; differs from it only by the order of float64 rounding in the dot products.
void gpu_cost_matrix(const float* a, std::size_t n, const float* b, std::size_t m, std::size_t d, double* out);

// Log-domain Sinkhorn (plain alternating updates) with the cost matrix kept on the
// device. Same options, stopping criterion (L1 column-marginal error after a row update
// < tolerance) and result fields as core::wasserstein_sinkhorn, and the same entropic
// optimum; the iteration count may differ from the core's, which is free to start and
// accelerate differently.
core::TransportResult gpu_sinkhorn(const core::TransportProblem& problem, const core::SinkhornOptions& options);

}  // namespace p2sam::cuda
