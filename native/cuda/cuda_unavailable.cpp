// Stand-in for the CUDA backend when the addon is built without nvcc (the node-gyp
// variant, or P2SAM_CUDA=OFF): same interface, always "not compiled".
#include "cuda_backend.hpp"

namespace p2sam::cuda {

const DeviceStatus& device_status() {
  static const DeviceStatus status = [] {
    DeviceStatus s;
    s.reason = "this build of p2sam-native was compiled without CUDA (nvcc not found or P2SAM_CUDA=OFF)";
    return s;
  }();
  return status;
}

}  // namespace p2sam::cuda
