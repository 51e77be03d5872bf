#include "candidates_js.hpp"

#include <atomic>
#include <cmath>
#include <memory>

#include "addon/convert.hpp"
#include "addon/reference_wrap.hpp"

namespace p2sam::addon {

// {
//   mode: 'natural'|'medical', candidates: [{ parts, negatives, xy: Float32Array, labels: Float32Array }],
//   reference: NativeReference (its features never cross back), score: boolean,
//   solver: 'exact'|'sinkhorn', weights: 'uniform'|'sigmoid', epsilon, maxIterations,
//   threads, parallelCandidates
// }
runtime::CandidateRequest read_candidate_request(const Napi::Object& o) {
  runtime::CandidateRequest r;
  r.mode =
      get_string(o, "mode", "natural") == "medical" ? runtime::SegmentMode::Medical : runtime::SegmentMode::Natural;
  Napi::Array cands = o.Get("candidates").As<Napi::Array>();
  r.candidates.resize(cands.Length());
  for (uint32_t i = 0; i < cands.Length(); ++i) {
    Napi::Object c = cands.Get(i).As<Napi::Object>();
    r.candidates[i].parts = get_int(c, "parts", 0);
    r.candidates[i].negatives = get_int(c, "negatives", 0);
    r.candidates[i].xy = copy_in<float>(c.Get("xy"), "candidate xy");
    r.candidates[i].labels = copy_in<float>(c.Get("labels"), "candidate labels");
    // The cascade reads two coordinates per label.
    if (r.candidates[i].xy.size() != 2 * r.candidates[i].labels.size())
      throw Napi::RangeError::New(o.Env(), "candidate xy must hold two coordinates per label");
  }
  r.score = get_bool(o, "score", true);
  // Read after the candidates so a malformed candidate is reported first. The mode is
  // the reference's own: it decides how its prototypes became these prompts.
  if (!o.Get("reference").IsUndefined()) {
    r.reference = ReferenceWrap::Get(o.Get("reference"));
    r.mode = r.reference->mode;
  } else if (r.score) {
    throw Napi::TypeError::New(o.Env(), "runCandidates: scoring needs request.reference (a NativeReference)");
  }
  r.solver = get_string(o, "solver", "exact") == "sinkhorn" ? runtime::Solver::Sinkhorn : runtime::Solver::Exact;
  r.weights = get_string(o, "weights", "uniform") == "sigmoid" ? runtime::TargetWeights::Sigmoid
                                                               : runtime::TargetWeights::Uniform;
  r.sinkhorn_epsilon = get_double(o, "epsilon", r.sinkhorn_epsilon);
  r.sinkhorn_iterations = get_int(o, "maxIterations", r.sinkhorn_iterations);
  r.sinkhorn_tolerance = get_double(o, "tolerance", r.sinkhorn_tolerance);
  r.threads = get_int(o, "threads", 0);
  r.parallel_candidates = get_int(o, "parallelCandidates", 1);
  r.gpu_maths = get_string(o, "device", "cpu") == "cuda";
  // cancel: a token from cancelToken(); the request shares its flag.
  if (o.Has("cancel") && o.Get("cancel").IsExternal())
    r.cancel = *o.Get("cancel").As<Napi::External<std::shared_ptr<std::atomic<bool>>>>().Data();
  return r;
}

Napi::Value candidate_outcomes_to_js(Napi::Env env, std::vector<runtime::CandidateOutcome>& outcomes) {
  Napi::Array arr = Napi::Array::New(env, outcomes.size());
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    runtime::CandidateOutcome& c = outcomes[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("mask", copy_out(env, c.mask));
    o.Set("area", double(c.area));
    o.Set("empty", c.empty);
    // JSON has no Infinity; the TS layer maps null to "worst".
    o.Set("score", std::isfinite(c.score) ? Napi::Value(Napi::Number::New(env, c.score)) : env.Null());
    o.Set("scored", c.scored);
    o.Set("converged", c.converged);
    o.Set("solverIterations", c.solver_iterations);
    o.Set("targetCells", double(c.target_cells));
    if (c.has_box) {
      Napi::Array box = Napi::Array::New(env, 4);
      for (uint32_t k = 0; k < 4; ++k) box.Set(k, c.box[k]);
      o.Set("box", box);
    } else {
      o.Set("box", env.Null());
    }
    Napi::Array passes = Napi::Array::New(env, 3);
    for (uint32_t p = 0; p < 3; ++p) {
      Napi::Object pr = Napi::Object::New(env);
      pr.Set("token", c.passes[p].token);
      pr.Set("iou", c.passes[p].iou);
      pr.Set("multimask", c.passes[p].multimask);
      pr.Set("ms", c.passes[p].ms);
      passes.Set(p, pr);
    }
    o.Set("passes", passes);
    o.Set("scoreMs", c.score_ms);
    o.Set("note", c.note);
    c.mask.clear();
    c.mask.shrink_to_fit();
    arr.Set(i, o);
  }
  return arr;
}

}  // namespace p2sam::addon
