#include "maths_js.hpp"

#include <string>

#include "addon/convert.hpp"

namespace p2sam::addon {

std::size_t count_arg(const Napi::CallbackInfo& info, std::size_t i, const char* fn, const char* name) {
  if (!info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": argument '" + name + "' must be a number");
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 0) || v > 9007199254740991.0 || v != static_cast<double>(static_cast<long long>(v)))
    throw Napi::RangeError::New(info.Env(), std::string(fn) + ": argument '" + name +
                                                "' must be a non-negative integer, got " + std::to_string(v));
  return static_cast<std::size_t>(v);
}

Napi::Object options_arg(const Napi::CallbackInfo& info, std::size_t i, const char* fn) {
  if (info.Length() <= i || info[i].IsUndefined() || info[i].IsNull()) return Napi::Object::New(info.Env());
  if (!info[i].IsObject())
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": argument 'options' must be an object");
  return info[i].As<Napi::Object>();
}

std::shared_ptr<FeatureArgs> read_feature_args(const Napi::CallbackInfo& info, const char* fn) {
  auto a = std::make_shared<FeatureArgs>();
  a->features = copy_in<float>(info[0], "features");
  a->n = count_arg(info, 1, fn, "n");
  a->d = count_arg(info, 2, fn, "d");
  std::vector<int32_t> ks = copy_in<int32_t>(info[3], "ks");
  a->ks.assign(ks.begin(), ks.end());
  Napi::Object o = options_arg(info, 4, fn);
  a->options.restarts = get_int(o, "restarts", a->options.restarts);
  a->options.max_iterations = get_int(o, "maxIterations", a->options.max_iterations);
  a->options.relative_tolerance = get_double(o, "tolerance", a->options.relative_tolerance);
  a->options.seed = static_cast<std::uint64_t>(get_double(o, "seed", 0));
  a->options.threads = get_int(o, "threads", 0);
  // 'sklearn' (default) or 'p2sam'; the TypeScript layer validates the name.
  a->options.seeding =
      get_string(o, "seeding", "sklearn") == "p2sam" ? core::KMeansSeeding::P2sam : core::KMeansSeeding::Sklearn;
  a->gpu = get_string(o, "device", "cpu") == "cuda";
  if (a->n * a->d != a->features.size())
    throw Napi::RangeError::New(info.Env(), std::string(fn) + ": features length must be n×d (" +
                                                std::to_string(a->n * a->d) + "), got " +
                                                std::to_string(a->features.size()));
  return a;
}

Napi::Value kmeans_results_to_js(Napi::Env env, const std::vector<core::KMeansResult>& rs) {
  Napi::Array arr = Napi::Array::New(env, rs.size());
  for (std::size_t i = 0; i < rs.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("k", rs[i].k);
    o.Set("skipped", rs[i].skipped);
    o.Set("labels", copy_out(env, rs[i].labels));
    o.Set("centroids", copy_out(env, rs[i].centroids));
    o.Set("inertia", rs[i].inertia);
    o.Set("iterations", rs[i].iterations);
    o.Set("restart", rs[i].restart);
    arr.Set(i, o);
  }
  return arr;
}

std::vector<core::PointRequest> PointSetArgs::requests() const {
  std::vector<core::PointRequest> reqs;
  for (const auto& s : sets) reqs.push_back({s.prototypes.data(), s.count, s.mean});
  return reqs;
}

std::shared_ptr<PointSetArgs> read_point_sets(const Napi::CallbackInfo& info, std::size_t i, const char* fn) {
  if (!info[i].IsArray())
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": argument 'sets' must be an array");
  auto args = std::make_shared<PointSetArgs>();
  Napi::Array arr = info[i].As<Napi::Array>();
  for (uint32_t k = 0; k < arr.Length(); ++k) {
    if (!arr.Get(k).IsObject())
      throw Napi::TypeError::New(info.Env(), std::string(fn) + ": each set must be an object");
    Napi::Object s = arr.Get(k).As<Napi::Object>();
    args->sets.push_back(
        {copy_in<float>(s.Get("prototypes"), "prototypes"), get_int(s, "count", 0), get_bool(s, "meanArgmin", false)});
    if (args->sets.back().count < 0 ||
        args->sets.back().prototypes.size() != static_cast<std::size_t>(args->sets.back().count) * 256)
      throw Napi::RangeError::New(info.Env(), std::string(fn) + ": prototypes length must be count×256");
  }
  return args;
}

Napi::Value point_sets_to_js(Napi::Env env, const std::vector<core::PointSet>& ps) {
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
}

core::TransportProblem TransportArgs::problem() const {
  core::TransportProblem p;
  p.a = a.data();
  p.n = n;
  p.b = b.data();
  p.m = m;
  p.d = d;
  p.wa = wa.empty() ? nullptr : wa.data();
  p.wb = wb.empty() ? nullptr : wb.data();
  return p;
}

std::shared_ptr<TransportArgs> read_transport_args(const Napi::CallbackInfo& info, const char* fn) {
  auto x = std::make_shared<TransportArgs>();
  x->a = copy_in<float>(info[0], "a");
  x->n = count_arg(info, 1, fn, "n");
  x->b = copy_in<float>(info[2], "b");
  x->m = count_arg(info, 3, fn, "m");
  x->d = count_arg(info, 4, fn, "d");
  if (info[5].IsTypedArray()) x->wa = copy_in<double>(info[5], "wa");
  if (info[6].IsTypedArray()) x->wb = copy_in<double>(info[6], "wb");
  Napi::Object o = options_arg(info, 7, fn);
  x->sinkhorn = get_string(o, "solver", "exact") == "sinkhorn";
  x->sinkhorn_options.epsilon = get_double(o, "epsilon", x->sinkhorn_options.epsilon);
  x->sinkhorn_options.max_iterations = get_int(o, "maxIterations", x->sinkhorn_options.max_iterations);
  x->sinkhorn_options.tolerance = get_double(o, "tolerance", x->sinkhorn_options.tolerance);
  x->threads = get_int(o, "threads", 0);
  if (x->a.size() != x->n * x->d || x->b.size() != x->m * x->d)
    throw Napi::RangeError::New(info.Env(), std::string(fn) + ": a/b lengths must be n×d and m×d");
  // The solvers read exactly n (m) weights.
  if ((!x->wa.empty() && x->wa.size() != x->n) || (!x->wb.empty() && x->wb.size() != x->m))
    throw Napi::RangeError::New(info.Env(), std::string(fn) + ": wa/wb must hold n and m weights");
  return x;
}

Napi::Value transport_result_to_js(Napi::Env env, const core::TransportResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("cost", r.cost);
  o.Set("converged", r.converged);
  o.Set("iterations", r.iterations);
  o.Set("marginalError", r.marginal_error);
  return o;
}

}  // namespace p2sam::addon
