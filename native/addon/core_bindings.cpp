#include "core_bindings.hpp"

#include <atomic>
#include <memory>

#include "addon/async_task.hpp"
#include "addon/convert.hpp"
#include "addon/maths_js.hpp"
#include "addon/model_wrap.hpp"
#include "cuda/kernels.hpp"
#include "kmeans.hpp"
#include "prototypes.hpp"
#include "reference_grid.hpp"
#include "similarity.hpp"
#include "wasserstein.hpp"

namespace p2sam::addon {

namespace {

// prototypes(features, n, d, ks: Int32Array, options) → [{ k, skipped, prototypes, labels, inertia }]
// options.device 'cuda' runs the k-means on the GPU; the label means stay on the CPU
// (one pass over n×d floats, cheaper than the copies it would need).
Napi::Value Prototypes(const Napi::CallbackInfo& info) {
  auto a = read_feature_args(info, "prototypes");
  return queue_task<std::vector<core::PrototypeSet>>(
      info.Env(),
      [a]() {
        // The CUDA k-means implements only the P2sam streams; scikit-learn's seeding
        // runs on the CPU — but a 'cuda' request on a machine without a usable device
        // still fails as every GPU call does.
        if (a->gpu && !cuda::device_status().available)
          throw core::CoreError("BACKEND_UNAVAILABLE", "prototypes: " + cuda::device_status().reason);
        if (!a->gpu || a->options.seeding == core::KMeansSeeding::Sklearn)
          return core::part_prototypes(a->features.data(), a->n, a->d, a->ks, a->options);
        return core::prototypes_from_clusters(
            a->features.data(), a->n, a->d, cuda::gpu_kmeans_batch(a->features.data(), a->n, a->d, a->ks, a->options));
      },
      [](Napi::Env env, std::vector<core::PrototypeSet>& sets) -> Napi::Value {
        Napi::Array arr = Napi::Array::New(env, sets.size());
        for (std::size_t i = 0; i < sets.size(); ++i) {
          Napi::Object o = Napi::Object::New(env);
          o.Set("k", sets[i].k);
          o.Set("skipped", sets[i].skipped);
          o.Set("prototypes", copy_out(env, sets[i].prototypes));
          o.Set("labels", copy_out(env, sets[i].labels));
          o.Set("inertia", sets[i].inertia);
          arr.Set(i, o);
        }
        return arr;
      });
}

// kmeans(features, n, d, ks, options) → [{ k, skipped, labels, centroids, inertia, iterations, restart }]
Napi::Value KMeans(const Napi::CallbackInfo& info) {
  auto a = read_feature_args(info, "kmeans");
  return queue_task<std::vector<core::KMeansResult>>(
      info.Env(), [a]() { return core::kmeans_batch(a->features.data(), a->n, a->d, a->ks, a->options); },
      [](Napi::Env env, std::vector<core::KMeansResult>& rs) { return kmeans_results_to_js(env, rs); });
}

// wasserstein(a, n, b, m, d, wa|null, wb|null, { solver, epsilon, maxIterations, tolerance, threads })
Napi::Value Wasserstein(const Napi::CallbackInfo& info) {
  auto x = read_transport_args(info, "wasserstein");
  return queue_task<core::TransportResult>(
      info.Env(),
      [x]() {
        return x->sinkhorn ? core::wasserstein_sinkhorn(x->problem(), x->sinkhorn_options, x->threads)
                           : core::wasserstein_exact(x->problem(), x->threads);
      },
      [](Napi::Env env, core::TransportResult& r) { return transport_result_to_js(env, r); });
}

// referenceFeatures(embedding, mask: Uint8Array, width, height, threads)
//   → { grid, foreground, foregroundCount, background, backgroundCount }
Napi::Value ReferenceFeatures(const Napi::CallbackInfo& info) {
  auto emb = EmbeddingWrap::Get(info[0]);
  auto mask = std::make_shared<std::vector<uint8_t>>(copy_in<uint8_t>(info[1], "mask"));
  int w = info[2].As<Napi::Number>().Int32Value();
  int h = info[3].As<Napi::Number>().Int32Value();
  int threads = info[4].As<Napi::Number>().Int32Value();
  // reference_grid reads w×h bytes of the mask.
  if (w < 1 || h < 1 || mask->size() != std::size_t(w) * std::size_t(h))
    throw Napi::RangeError::New(info.Env(), "mask length must be width×height");
  struct Out {
    core::ReferenceGrid grid;
    std::vector<float> fg, bg;
  };
  return queue_task<Out>(
      info.Env(),
      [emb, mask, w, h, threads]() {
        Out out;
        out.grid = core::reference_grid(mask->data(), w, h, threads);
        out.fg = core::gather_features(emb->data.data(), out.grid.cells.data(), true);
        out.bg = core::gather_features(emb->data.data(), out.grid.cells.data(), false);
        return out;
      },
      [](Napi::Env env, Out& out) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("grid", copy_out(env, out.grid.cells));
        o.Set("foreground", copy_out(env, out.fg));
        o.Set("foregroundCount", out.grid.fg_count);
        o.Set("background", copy_out(env, out.bg));
        o.Set("backgroundCount", out.grid.bg_count);
        return o;
      });
}

// selectPoints(embedding, [{ prototypes, count, meanArgmin }], threads, device)
//   → [{ argmax: Int32Array(x,y,...), meanArgmin: Int32Array(x,y) | null }]
// device 'cuda' runs the similarity maps, upsampling chain and reductions on the GPU
// (identical points: the kernels share the core's float expressions).
Napi::Value SelectPoints(const Napi::CallbackInfo& info) {
  auto emb = EmbeddingWrap::Get(info[0]);
  auto sets = read_point_sets(info, 1, "selectPoints");
  int threads = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 0;
  const bool gpu = info[3].IsString() && info[3].As<Napi::String>().Utf8Value() == "cuda";
  return queue_task<std::vector<core::PointSet>>(
      info.Env(),
      [emb, sets, threads, gpu]() {
        core::ResizeInfo geo{emb->orig_w, emb->orig_h, emb->input_w, emb->input_h};
        if (gpu) {
          std::vector<float> t = cuda::gpu_normalize_target_features(emb->data.data());
          return cuda::gpu_select_points(t.data(), geo, sets->requests());
        }
        std::vector<float> t = core::normalize_target_features(emb->data.data(), threads);
        return core::select_points(t.data(), geo, sets->requests(), threads);
      },
      [](Napi::Env env, std::vector<core::PointSet>& ps) { return point_sets_to_js(env, ps); });
}

// cancelToken() → an opaque token owning a cancel flag (std::atomic<bool>) that native
// work shares (runCandidates' request.cancel); cancel(token) sets it. The token's
// finalizer drops JS's share; running work keeps its own.
using CancelFlag = std::shared_ptr<std::atomic<bool>>;
Napi::Value CancelToken(const Napi::CallbackInfo& info) {
  auto* flag = new CancelFlag(std::make_shared<std::atomic<bool>>(false));
  return Napi::External<CancelFlag>::New(info.Env(), flag, [](Napi::Env, CancelFlag* f) { delete f; });
}

Napi::Value Cancel(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsExternal())
    throw Napi::TypeError::New(info.Env(), "cancel: argument 'token' must come from cancelToken()");
  (*info[0].As<Napi::External<CancelFlag>>().Data())->store(true);
  return info.Env().Undefined();
}

}  // namespace

void RegisterCoreBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("cancelToken", Napi::Function::New(env, CancelToken, "cancelToken"));
  exports.Set("cancel", Napi::Function::New(env, Cancel, "cancel"));
  exports.Set("prototypes", Napi::Function::New(env, Prototypes, "prototypes"));
  exports.Set("kmeans", Napi::Function::New(env, KMeans, "kmeans"));
  exports.Set("wasserstein", Napi::Function::New(env, Wasserstein, "wasserstein"));
  exports.Set("referenceFeatures", Napi::Function::New(env, ReferenceFeatures, "referenceFeatures"));
  exports.Set("selectPoints", Napi::Function::New(env, SelectPoints, "selectPoints"));
}

}  // namespace p2sam::addon
