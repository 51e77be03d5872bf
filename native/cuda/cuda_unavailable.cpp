// Stand-in for the CUDA backend when the addon is built without nvcc (the node-gyp
// variant, or P2SAM_CUDA=OFF): same interface, always "not compiled". The GPU maths
// API exists too, so callers link the same way in both builds; every entry point
// throws BACKEND_UNAVAILABLE with the reason.
#include "cuda_backend.hpp"
#include "errors.hpp"
#include "kernels.hpp"

namespace p2sam::cuda {

const DeviceStatus& device_status() {
  static const DeviceStatus status = [] {
    DeviceStatus s;
    s.reason = "this build of p2sam-native was compiled without CUDA (nvcc not found or P2SAM_CUDA=OFF)";
    return s;
  }();
  return status;
}

namespace {
[[noreturn]] void unavailable(const char* fn) {
  throw core::CoreError("BACKEND_UNAVAILABLE", std::string(fn) + ": " + device_status().reason);
}
}  // namespace

std::vector<core::KMeansResult> gpu_kmeans_batch(const float*, std::size_t, std::size_t, const std::vector<int>&,
                                                 const core::KMeansOptions&) {
  unavailable("gpu_kmeans_batch");
}

std::vector<float> gpu_normalize_target_features(const float*) { unavailable("gpu_normalize_target_features"); }

std::vector<core::PointSet> gpu_select_points(const float*, const core::ResizeInfo&,
                                              const std::vector<core::PointRequest>&) {
  unavailable("gpu_select_points");
}

void gpu_cost_matrix(const float*, std::size_t, const float*, std::size_t, std::size_t, double*) {
  unavailable("gpu_cost_matrix");
}

core::TransportResult gpu_sinkhorn(const core::TransportProblem&, const core::SinkhornOptions&) {
  unavailable("gpu_sinkhorn");
}

}  // namespace p2sam::cuda
