#include "gpu_bindings.hpp"

#include <string>

#include "addon/async_task.hpp"
#include "addon/convert.hpp"
#include "addon/model_wrap.hpp"
#include "cuda/kernels.hpp"
#include "kmeans.hpp"
#include "similarity.hpp"
#include "wasserstein.hpp"

namespace p2sam::addon {

namespace {

// Argument checks of the glue itself (the TS layer validates values; these only make a
// direct caller's mistake a TypeError naming the argument instead of a crash).
std::size_t count_arg(const Napi::CallbackInfo& info, std::size_t i, const char* name) {
  if (!info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string("gpu: argument '") + name + "' must be a number");
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 0) || v > 9007199254740991.0 || v != static_cast<double>(static_cast<long long>(v)))
    throw Napi::RangeError::New(info.Env(), std::string("gpu: argument '") + name +
                                                "' must be a non-negative integer, got " + std::to_string(v));
  return static_cast<std::size_t>(v);
}

Napi::Object options_arg(const Napi::CallbackInfo& info, std::size_t i) {
  if (info.Length() <= i || info[i].IsUndefined() || info[i].IsNull()) return Napi::Object::New(info.Env());
  if (!info[i].IsObject()) throw Napi::TypeError::New(info.Env(), "gpu: argument 'options' must be an object");
  return info[i].As<Napi::Object>();
}

// kmeans(features, n, d, ks: Int32Array, options) → [{ k, skipped, labels, centroids, inertia, iterations, restart }]
Napi::Value KMeans(const Napi::CallbackInfo& info) {
  struct Args {
    std::vector<float> features;
    std::size_t n, d;
    std::vector<int> ks;
    core::KMeansOptions options;
  };
  auto a = std::make_shared<Args>();
  a->features = copy_in<float>(info[0], "features");
  a->n = count_arg(info, 1, "n");
  a->d = count_arg(info, 2, "d");
  std::vector<int32_t> ks = copy_in<int32_t>(info[3], "ks");
  a->ks.assign(ks.begin(), ks.end());
  Napi::Object o = options_arg(info, 4);
  a->options.restarts = get_int(o, "restarts", a->options.restarts);
  a->options.max_iterations = get_int(o, "maxIterations", a->options.max_iterations);
  a->options.relative_tolerance = get_double(o, "tolerance", a->options.relative_tolerance);
  a->options.seed = static_cast<std::uint64_t>(get_double(o, "seed", 0));
  if (a->n * a->d != a->features.size())
    throw Napi::RangeError::New(info.Env(), "gpu.kmeans: features length must be n×d (" + std::to_string(a->n * a->d) +
                                                "), got " + std::to_string(a->features.size()));
  return queue_task<std::vector<core::KMeansResult>>(
      info.Env(), [a]() { return cuda::gpu_kmeans_batch(a->features.data(), a->n, a->d, a->ks, a->options); },
      [](Napi::Env env, std::vector<core::KMeansResult>& rs) -> Napi::Value {
        Napi::Array arr = Napi::Array::New(env, rs.size());
        for (std::size_t i = 0; i < rs.size(); ++i) {
          Napi::Object r = Napi::Object::New(env);
          r.Set("k", rs[i].k);
          r.Set("skipped", rs[i].skipped);
          r.Set("labels", copy_out(env, rs[i].labels));
          r.Set("centroids", copy_out(env, rs[i].centroids));
          r.Set("inertia", rs[i].inertia);
          r.Set("iterations", rs[i].iterations);
          r.Set("restart", rs[i].restart);
          arr.Set(i, r);
        }
        return arr;
      });
}

// selectPoints(embedding, [{ prototypes, count, meanArgmin }])
//   → [{ argmax: Int32Array(x,y,...), meanArgmin: Int32Array(x,y) | null }]
Napi::Value SelectPoints(const Napi::CallbackInfo& info) {
  auto emb = EmbeddingWrap::Get(info[0]);
  struct Set {
    std::vector<float> prototypes;
    int count;
    bool mean;
  };
  auto sets = std::make_shared<std::vector<Set>>();
  if (!info[1].IsArray()) throw Napi::TypeError::New(info.Env(), "gpu.selectPoints: argument 'sets' must be an array");
  Napi::Array arr = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Object s = arr.Get(i).As<Napi::Object>();
    sets->push_back({copy_in<float>(s.Get("prototypes"), "prototypes"), get_int(s, "count", 0), get_bool(s, "meanArgmin", false)});
    if (sets->back().prototypes.size() != static_cast<std::size_t>(sets->back().count) * 256)
      throw Napi::RangeError::New(info.Env(), "gpu.selectPoints: prototypes length must be count×256");
  }
  return queue_task<std::vector<core::PointSet>>(
      info.Env(),
      [emb, sets]() {
        std::vector<float> t = cuda::gpu_normalize_target_features(emb->data.data());
        core::ResizeInfo geo{emb->orig_w, emb->orig_h, emb->input_w, emb->input_h};
        std::vector<core::PointRequest> reqs;
        for (const auto& s : *sets) reqs.push_back({s.prototypes.data(), s.count, s.mean});
        return cuda::gpu_select_points(t.data(), geo, reqs);
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

// costMatrix(a, n, b, m, d) → Float64Array(n×m)
Napi::Value CostMatrix(const Napi::CallbackInfo& info) {
  struct Args {
    std::vector<float> a, b;
    std::size_t n, m, d;
  };
  auto x = std::make_shared<Args>();
  x->a = copy_in<float>(info[0], "a");
  x->n = count_arg(info, 1, "n");
  x->b = copy_in<float>(info[2], "b");
  x->m = count_arg(info, 3, "m");
  x->d = count_arg(info, 4, "d");
  if (x->a.size() != x->n * x->d || x->b.size() != x->m * x->d)
    throw Napi::RangeError::New(info.Env(), "gpu.costMatrix: a/b lengths must be n×d and m×d");
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
  struct Args {
    std::vector<float> a, b;
    std::vector<double> wa, wb;
    std::size_t n, m, d;
    core::SinkhornOptions sk;
  };
  auto x = std::make_shared<Args>();
  x->a = copy_in<float>(info[0], "a");
  x->n = count_arg(info, 1, "n");
  x->b = copy_in<float>(info[2], "b");
  x->m = count_arg(info, 3, "m");
  x->d = count_arg(info, 4, "d");
  if (info[5].IsTypedArray()) x->wa = copy_in<double>(info[5], "wa");
  if (info[6].IsTypedArray()) x->wb = copy_in<double>(info[6], "wb");
  Napi::Object o = options_arg(info, 7);
  x->sk.epsilon = get_double(o, "epsilon", x->sk.epsilon);
  x->sk.max_iterations = get_int(o, "maxIterations", x->sk.max_iterations);
  x->sk.tolerance = get_double(o, "tolerance", x->sk.tolerance);
  if (x->a.size() != x->n * x->d || x->b.size() != x->m * x->d)
    throw Napi::RangeError::New(info.Env(), "gpu.sinkhorn: a/b lengths must be n×d and m×d");
  if ((!x->wa.empty() && x->wa.size() != x->n) || (!x->wb.empty() && x->wb.size() != x->m))
    throw Napi::RangeError::New(info.Env(), "gpu.sinkhorn: wa/wb lengths must be n and m");
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
        return cuda::gpu_sinkhorn(p, x->sk);
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

}  // namespace

void RegisterGpuBindings(Napi::Env env, Napi::Object exports) {
  Napi::Object gpu = Napi::Object::New(env);
  gpu.Set("kmeans", Napi::Function::New(env, KMeans, "kmeans"));
  gpu.Set("selectPoints", Napi::Function::New(env, SelectPoints, "selectPoints"));
  gpu.Set("costMatrix", Napi::Function::New(env, CostMatrix, "costMatrix"));
  gpu.Set("sinkhorn", Napi::Function::New(env, Sinkhorn, "sinkhorn"));
  exports.Set("gpu", gpu);
}

}  // namespace p2sam::addon
