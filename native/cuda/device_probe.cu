// Run-time probe of the CUDA device. cudart is linked statically, so on a machine
// without a driver cudaGetDeviceCount simply fails (cudaErrorInsufficientDriver or
// cudaErrorNoDevice) — any non-success is reported as "no GPU", never a crash.
//
// A device that answers is not enough: the kernels are compiled for a fixed set of
// architectures (CMAKE_CUDA_ARCHITECTURES, default sm_90 + compute_90 PTX), and on an
// older GPU (an RTX 30/40 or an A100, say) every launch would fail with
// cudaErrorNoKernelImageForDevice — and device 'auto' would pick that GPU. So the probe
// launches one trivial kernel of this build and waits for it; that also creates the
// context, so a GPU in a prohibited compute mode or without memory is caught here too.
#include <cuda_runtime.h>

#include <mutex>
#include <string>

#include "cuda_backend.hpp"

namespace p2sam::cuda {

namespace {
__global__ void probe_kernel(int* out) { *out = 42; }

#ifndef P2SAM_CUDA_ARCHS
#define P2SAM_CUDA_ARCHS "unknown"
#endif

// Runs probe_kernel once; returns an empty string when it ran and wrote its answer.
std::string try_launch(const cudaDeviceProp& prop) {
  int* d = nullptr;
  cudaError_t err = cudaMalloc(&d, sizeof(int));
  if (err != cudaSuccess) return std::string("cannot allocate on it: ") + cudaGetErrorName(err);
  probe_kernel<<<1, 1>>>(d);
  err = cudaGetLastError();
  if (err == cudaSuccess) err = cudaDeviceSynchronize();
  int answer = 0;
  if (err == cudaSuccess) err = cudaMemcpy(&answer, d, sizeof(int), cudaMemcpyDeviceToHost);
  cudaFree(d);
  if (err == cudaErrorNoKernelImageForDevice || err == cudaErrorUnsupportedPtxVersion ||
      err == cudaErrorInvalidDeviceFunction) {
    cudaGetLastError();
    return "its compute capability " + std::to_string(prop.major) + "." + std::to_string(prop.minor) +
           " cannot run this build's kernels (CUDA architectures " P2SAM_CUDA_ARCHS
           "); rebuild with P2SAM_CUDA_ARCHS including " +
           std::to_string(prop.major * 10 + prop.minor) + "-real";
  }
  if (err != cudaSuccess) {
    cudaGetLastError();
    return std::string("a test kernel failed on it: ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
  }
  if (answer != 42) return "a test kernel ran on it but wrote no result";
  return "";
}

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
    if (cudaSetDevice(0) != cudaSuccess) {
      cudaGetLastError();
      status.reason = std::string("cannot select the GPU ") + prop.name;
      return;
    }
    const std::string unusable = try_launch(prop);
    if (!unusable.empty()) {
      status.reason = std::string("the GPU ") + prop.name + " is not usable: " + unusable;
      return;
    }
    status.available = true;
  });
  return status;
}

}  // namespace p2sam::cuda
