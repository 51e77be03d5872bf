#include "gpu_bindings.hpp"

#include "addon/async_task.hpp"
#include "addon/convert.hpp"
#include "addon/maths_js.hpp"
#include "cuda/kernels.hpp"
#include "kmeans.hpp"
#include "wasserstein.hpp"

namespace p2sam::addon {

namespace {

// kmeans(features, n, d, ks: Int32Array, options) → [{ k, skipped, labels, centroids, inertia, iterations, restart }]
Napi::Value KMeans(const Napi::CallbackInfo& info) {
  auto a = read_feature_args(info, "gpu.kmeans");
  return queue_task<std::vector<core::KMeansResult>>(
      info.Env(), [a]() { return cuda::gpu_kmeans_batch(a->features.data(), a->n, a->d, a->ks, a->options); },
      [](Napi::Env env, std::vector<core::KMeansResult>& rs) { return kmeans_results_to_js(env, rs); });
}

// costMatrix(a, n, b, m, d) → Float64Array(n×m)
Napi::Value CostMatrix(const Napi::CallbackInfo& info) {
  auto x = read_transport_args(info, "gpu.costMatrix");
  return queue_task<std::vector<double>>(
      info.Env(),
      [x]() {
        std::vector<double> out(x->n * x->m);
        cuda::gpu_cost_matrix(x->a.data(), x->n, x->b.data(), x->m, x->d, out.data());
        return out;
      },
      [](Napi::Env env, std::vector<double>& out) -> Napi::Value { return copy_out(env, out); });
}

// sinkhorn(a, n, b, m, d, wa|null, wb|null, { epsilon, maxIterations, tolerance })
//   → { cost, converged, iterations, marginalError }
Napi::Value Sinkhorn(const Napi::CallbackInfo& info) {
  auto x = read_transport_args(info, "gpu.sinkhorn");
  return queue_task<core::TransportResult>(
      info.Env(), [x]() { return cuda::gpu_sinkhorn(x->problem(), x->sinkhorn_options); },
      [](Napi::Env env, core::TransportResult& r) { return transport_result_to_js(env, r); });
}

}  // namespace

void RegisterGpuBindings(Napi::Env env, Napi::Object exports) {
  Napi::Object gpu = Napi::Object::New(env);
  gpu.Set("kmeans", Napi::Function::New(env, KMeans, "kmeans"));
  gpu.Set("costMatrix", Napi::Function::New(env, CostMatrix, "costMatrix"));
  gpu.Set("sinkhorn", Napi::Function::New(env, Sinkhorn, "sinkhorn"));
  exports.Set("gpu", gpu);
}

}  // namespace p2sam::addon
