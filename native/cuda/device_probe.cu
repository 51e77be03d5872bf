// Run-time probe of the CUDA device. cudart is linked statically, so on a machine
// without a driver cudaGetDeviceCount simply fails (cudaErrorInsufficientDriver or
// cudaErrorNoDevice) — any non-success is reported as "no GPU", never a crash.
#include <cuda_runtime.h>

#include <mutex>
#include <string>

#include "cuda_backend.hpp"

namespace p2sam::cuda {

namespace {
std::string explain(cudaError_t err) {
  switch (err) {
    case cudaErrorInsufficientDriver:
      return "no NVIDIA driver (or one too old for CUDA 13) is installed";
    case cudaErrorNoDevice:
      return "the NVIDIA driver reports no CUDA device";
    default:
      return std::string("CUDA runtime error: ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
  }
}
}  // namespace

const DeviceStatus& device_status() {
  static DeviceStatus status;
  static std::once_flag once;
  std::call_once(once, [] {
    status.compiled = true;
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      status.reason = explain(err);
      cudaGetLastError();  // clear the sticky error so later probes start clean
      return;
    }
    if (count == 0) {
      status.reason = "the NVIDIA driver reports no CUDA device";
      return;
    }
    cudaDeviceProp prop{};
    err = cudaGetDeviceProperties(&prop, 0);
    if (err != cudaSuccess) {
      status.reason = explain(err);
      return;
    }
    status.device_count = count;
    status.device_index = 0;
    status.device_name = prop.name;
    status.compute_major = prop.major;
    status.compute_minor = prop.minor;
    status.available = true;
  });
  return status;
}

}  // namespace p2sam::cuda
