// Shared plumbing of the .cu drivers: the device check every entry point starts with,
// CUDA error -> CoreError translation, and an owning device buffer (freed on every
// exit path, exceptions included, so a failed call leaks no device memory).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>
#include <vector>

#include "cuda_backend.hpp"
#include "errors.hpp"

namespace p2sam::cuda::detail {

// Throws BACKEND_UNAVAILABLE unless a device was found; selects it for this thread.
inline void require_device(const char* fn) {
  const DeviceStatus& s = device_status();
  if (!s.available) throw core::CoreError("BACKEND_UNAVAILABLE", std::string(fn) + ": " + s.reason);
  cudaError_t err = cudaSetDevice(s.device_index);
  if (err != cudaSuccess)
    throw core::CoreError("BACKEND_UNAVAILABLE", std::string(fn) + ": cudaSetDevice failed: " + cudaGetErrorName(err));
}

inline void check(cudaError_t err, const char* fn, const char* what) {
  if (err == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  throw core::CoreError("INTERNAL", std::string(fn) + ": CUDA " + what + " failed: " + cudaGetErrorName(err) + " (" +
                                        cudaGetErrorString(err) + ")");
}

// After a launch: configuration errors show up immediately, faults at the next sync.
inline void check_launch(const char* fn, const char* kernel) {
  check(cudaGetLastError(), fn, kernel);
  check(cudaDeviceSynchronize(), fn, kernel);
}

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(std::size_t count, const char* fn) { allocate(count, fn); }
  ~DeviceBuffer() {
    if (ptr_) cudaFree(ptr_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), count_(o.count_) {
    o.ptr_ = nullptr;
    o.count_ = 0;
  }

  void allocate(std::size_t count, const char* fn) {
    if (ptr_) cudaFree(ptr_);
    ptr_ = nullptr;
    count_ = count;
    if (count == 0) return;
    check(cudaMalloc(reinterpret_cast<void**>(&ptr_), count * sizeof(T)), fn, "cudaMalloc");
  }
  void upload(const T* host, std::size_t count, const char* fn) {
    if (count) check(cudaMemcpy(ptr_, host, count * sizeof(T), cudaMemcpyHostToDevice), fn, "cudaMemcpy (to device)");
  }
  void download(T* host, std::size_t count, const char* fn) const {
    if (count) check(cudaMemcpy(host, ptr_, count * sizeof(T), cudaMemcpyDeviceToHost), fn, "cudaMemcpy (to host)");
  }
  T* get() const { return ptr_; }
  std::size_t size() const { return count_; }

 private:
  T* ptr_ = nullptr;
  std::size_t count_ = 0;
};

template <typename T>
DeviceBuffer<T> to_device(const T* host, std::size_t count, const char* fn) {
  DeviceBuffer<T> b(count, fn);
  b.upload(host, count, fn);
  return b;
}

inline unsigned blocks_for(std::size_t items, unsigned threads, unsigned cap = 65535u) {
  std::size_t b = (items + threads - 1) / threads;
  if (b < 1) b = 1;
  return static_cast<unsigned>(b < cap ? b : cap);
}

}  // namespace p2sam::cuda::detail
