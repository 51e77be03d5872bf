// What the CUDA side of p2sam-native can do on this machine.
//
// The addon is linked against a static cudart when it is built with CUDA, so it loads on
// machines with no GPU or no driver; every entry point here must therefore cope with
// "no device" at run time and say why, instead of failing to load.
#pragma once

#include <string>

namespace p2sam::cuda {

struct DeviceStatus {
  bool compiled = false;   // built with nvcc (P2SAM_WITH_CUDA)
  bool available = false;  // a usable device was found at run time
  int device_count = 0;
  int device_index = -1;
  std::string device_name;  // e.g. "NVIDIA H100 80GB HBM3"
  int compute_major = 0, compute_minor = 0;
  std::string reason;  // why not available (empty when available)
};

// Probes once per process (thread-safe) and caches the answer.
const DeviceStatus& device_status();

}  // namespace p2sam::cuda
