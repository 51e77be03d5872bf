#include "core_bindings.hpp"

#include "addon/async_task.hpp"
#include "addon/convert.hpp"
#include "addon/model_wrap.hpp"
#include "kmeans.hpp"
#include "prototypes.hpp"
#include "reference_grid.hpp"
#include "similarity.hpp"
#include "wasserstein.hpp"

namespace p2sam::addon {

namespace {

core::KMeansOptions read_kmeans_options(const Napi::Object& o) {
  core::KMeansOptions k;
  k.restarts = get_int(o, "restarts", k.restarts);
  k.max_iterations = get_int(o, "maxIterations", k.max_iterations);
  k.relative_tolerance = get_double(o, "tolerance", k.relative_tolerance);
  k.seed = static_cast<std::uint64_t>(get_double(o, "seed", 0));
  k.threads = get_int(o, "threads", 0);
  return k;
}

struct FeatureArgs {
  std::vector<float> features;
  std::size_t n = 0, d = 0;
  std::vector<int> ks;
  core::KMeansOptions options;
};

std::shared_ptr<FeatureArgs> read_feature_args(const Napi::CallbackInfo& info) {
  auto a = std::make_shared<FeatureArgs>();
  a->features = copy_in<float>(info[0], "features");
  a->n = static_cast<std::size_t>(info[1].As<Napi::Number>().Int64Value());
  a->d = static_cast<std::size_t>(info[2].As<Napi::Number>().Int64Value());
  std::vector<int32_t> ks = copy_in<int32_t>(info[3], "ks");
  a->ks.assign(ks.begin(), ks.end());
  a->options = read_kmeans_options(info[4].As<Napi::Object>());
  if (a->n * a->d != a->features.size()) throw Napi::RangeError::New(info.Env(), "features length must be n×d");
  return a;
}

// prototypes(features, n, d, ks: Int32Array, options) → [{ k, skipped, prototypes, labels, inertia }]
Napi::Value Prototypes(const Napi::CallbackInfo& info) {
  auto a = read_feature_args(info);
  return queue_task<std::vector<core::PrototypeSet>>(
      info.Env(), [a]() { return core::part_prototypes(a->features.data(), a->n, a->d, a->ks, a->options); },
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

// kmeans(features, n, d, ks, options) → [{ k, skipped, labels, centroids, inertia, iterations }]
Napi::Value KMeans(const Napi::CallbackInfo& info) {
  auto a = read_feature_args(info);
  return queue_task<std::vector<core::KMeansResult>>(
      info.Env(), [a]() { return core::kmeans_batch(a->features.data(), a->n, a->d, a->ks, a->options); },
      [](Napi::Env env, std::vector<core::KMeansResult>& rs) -> Napi::Value {
        Napi::Array arr = Napi::Array::New(env, rs.size());
        for (std::size_t i = 0; i < rs.size(); ++i) {
          Napi::Object o = Napi::Object::New(env);
          o.Set("k", rs[i].k);
          o.Set("skipped", rs[i].skipped);
          o.Set("labels", copy_out(env, rs[i].labels));
          o.Set("centroids", copy_out(env, rs[i].centroids));
          o.Set("inertia", rs[i].inertia);
          o.Set("iterations", rs[i].iterations);
          arr.Set(i, o);
        }
        return arr;
      });
}

// wasserstein(a, n, b, m, d, wa|null, wb|null, { solver, epsilon, maxIterations, tolerance, threads })
Napi::Value Wasserstein(const Napi::CallbackInfo& info) {
  struct Args {
    std::vector<float> a, b;
    std::vector<double> wa, wb;
    std::size_t n, m, d;
    bool sinkhorn;
    core::SinkhornOptions sk;
    int threads;
  };
  auto x = std::make_shared<Args>();
  x->a = copy_in<float>(info[0], "a");
  x->n = static_cast<std::size_t>(info[1].As<Napi::Number>().Int64Value());
  x->b = copy_in<float>(info[2], "b");
  x->m = static_cast<std::size_t>(info[3].As<Napi::Number>().Int64Value());
  x->d = static_cast<std::size_t>(info[4].As<Napi::Number>().Int64Value());
  if (info[5].IsTypedArray()) x->wa = copy_in<double>(info[5], "wa");
  if (info[6].IsTypedArray()) x->wb = copy_in<double>(info[6], "wb");
  // The solvers read exactly n (m) weights.
  if ((!x->wa.empty() && x->wa.size() != x->n) || (!x->wb.empty() && x->wb.size() != x->m))
    throw Napi::RangeError::New(info.Env(), "wa/wb must hold n and m weights");
  Napi::Object o = info[7].As<Napi::Object>();
  x->sinkhorn = get_string(o, "solver", "exact") == "sinkhorn";
  x->sk.epsilon = get_double(o, "epsilon", x->sk.epsilon);
  x->sk.max_iterations = get_int(o, "maxIterations", x->sk.max_iterations);
  x->sk.tolerance = get_double(o, "tolerance", x->sk.tolerance);
  x->threads = get_int(o, "threads", 0);
  if (x->a.size() != x->n * x->d || x->b.size() != x->m * x->d)
    throw Napi::RangeError::New(info.Env(), "a/b lengths must be n×d and m×d");
  return queue_task<core::TransportResult>(
      info.Env(),
      [x]() {
        core::TransportProblem p;
        p.a = x->a.data();
        p.n = x->n;
        p.b = x->b.data();
        p.m = x->m;
        p.d = x->d;
        p.wa = x->wa.empty() ? nullptr : x->wa.data();
        p.wb = x->wb.empty() ? nullptr : x->wb.data();
        return x->sinkhorn ? core::wasserstein_sinkhorn(p, x->sk, x->threads) : core::wasserstein_exact(p, x->threads);
      },
      [](Napi::Env env, core::TransportResult& r) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("cost", r.cost);
        o.Set("converged", r.converged);
        o.Set("iterations", r.iterations);
        o.Set("marginalError", r.marginal_error);
        return o;
      });
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

// selectPoints(embedding, [{ prototypes, count, meanArgmin }], threads)
//   → [{ argmax: Int32Array(x,y,...), meanArgmin: Int32Array(x,y) | null }]
Napi::Value SelectPoints(const Napi::CallbackInfo& info) {
  auto emb = EmbeddingWrap::Get(info[0]);
  struct Set {
    std::vector<float> prototypes;
    int count;
    bool mean;
  };
  auto sets = std::make_shared<std::vector<Set>>();
  Napi::Array arr = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Object s = arr.Get(i).As<Napi::Object>();
    sets->push_back({copy_in<float>(s.Get("prototypes"), "prototypes"), get_int(s, "count", 0), get_bool(s, "meanArgmin", false)});
    if (sets->back().prototypes.size() != static_cast<std::size_t>(sets->back().count) * 256)
      throw Napi::RangeError::New(info.Env(), "prototypes length must be count×256");
  }
  int threads = info[2].As<Napi::Number>().Int32Value();
  return queue_task<std::vector<core::PointSet>>(
      info.Env(),
      [emb, sets, threads]() {
        std::vector<float> t = core::normalize_target_features(emb->data.data(), threads);
        core::ResizeInfo geo{emb->orig_w, emb->orig_h, emb->input_w, emb->input_h};
        std::vector<core::PointRequest> reqs;
        for (const auto& s : *sets) reqs.push_back({s.prototypes.data(), s.count, s.mean});
        return core::select_points(t.data(), geo, reqs, threads);
      },
      [](Napi::Env env, std::vector<core::PointSet>& ps) -> Napi::Value {
        Napi::Array out = Napi::Array::New(env, ps.size());
        for (std::size_t i = 0; i < ps.size(); ++i) {
          std::vector<int32_t> xy;
          for (const auto& p : ps[i].argmax) xy.insert(xy.end(), {p.x, p.y});
          Napi::Object o = Napi::Object::New(env);
          o.Set("argmax", copy_out(env, xy));
          if (ps[i].has_mean_argmin) {
            std::vector<int32_t> m = {ps[i].mean_argmin.x, ps[i].mean_argmin.y};
            o.Set("meanArgmin", copy_out(env, m));
          } else {
            o.Set("meanArgmin", env.Null());
          }
          out.Set(i, o);
        }
        return out;
      });
}

}  // namespace

void RegisterCoreBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("prototypes", Napi::Function::New(env, Prototypes, "prototypes"));
  exports.Set("kmeans", Napi::Function::New(env, KMeans, "kmeans"));
  exports.Set("wasserstein", Napi::Function::New(env, Wasserstein, "wasserstein"));
  exports.Set("referenceFeatures", Napi::Function::New(env, ReferenceFeatures, "referenceFeatures"));
  exports.Set("selectPoints", Napi::Function::New(env, SelectPoints, "selectPoints"));
}

}  // namespace p2sam::addon
