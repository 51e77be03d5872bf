// JS ⇄ C++ conversion of the core maths' arguments and results, shared by the CPU
// bindings (core_bindings.cpp) and the CUDA bindings (gpu_bindings.cpp), which take the
// same arguments and return the same shapes. The TS layer validates values; the checks
// here only turn a direct caller's mistake into a TypeError/RangeError, never a crash.
#pragma once

#include <napi.h>

#include <memory>
#include <vector>

#include "kmeans.hpp"
#include "similarity.hpp"
#include "wasserstein.hpp"

namespace p2sam::addon {

// A non-negative integer argument (counts and sizes).
std::size_t count_arg(const Napi::CallbackInfo& info, std::size_t i, const char* fn, const char* name);
// An optional options object (undefined/null → empty object).
Napi::Object options_arg(const Napi::CallbackInfo& info, std::size_t i, const char* fn);

// (features: Float32Array, n, d, ks: Int32Array, options) — k-means / prototypes.
struct FeatureArgs {
  std::vector<float> features;
  std::size_t n = 0, d = 0;
  std::vector<int> ks;
  core::KMeansOptions options;
  bool gpu = false;  // options.device === 'cuda': cluster with the CUDA kernels
};
std::shared_ptr<FeatureArgs> read_feature_args(const Napi::CallbackInfo& info, const char* fn);
Napi::Value kmeans_results_to_js(Napi::Env env, const std::vector<core::KMeansResult>& results);

// (embedding, [{ prototypes, count, meanArgmin }]) — point selection.
struct PointSetArgs {
  struct Set {
    std::vector<float> prototypes;
    int count = 0;
    bool mean = false;
  };
  std::vector<Set> sets;
  std::vector<core::PointRequest> requests() const;
};
std::shared_ptr<PointSetArgs> read_point_sets(const Napi::CallbackInfo& info, std::size_t i, const char* fn);
Napi::Value point_sets_to_js(Napi::Env env, const std::vector<core::PointSet>& sets);

// (a, n, b, m, d, wa|null, wb|null, { solver, epsilon, maxIterations, tolerance, threads })
struct TransportArgs {
  std::vector<float> a, b;
  std::vector<double> wa, wb;
  std::size_t n = 0, m = 0, d = 0;
  bool sinkhorn = false;
  core::SinkhornOptions sinkhorn_options;
  int threads = 0;
  core::TransportProblem problem() const;
};
std::shared_ptr<TransportArgs> read_transport_args(const Napi::CallbackInfo& info, const char* fn);
Napi::Value transport_result_to_js(Napi::Env env, const core::TransportResult& r);

}  // namespace p2sam::addon
