#include "candidate_cascade.hpp"

#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>
#include <optional>

#include "cancel.hpp"
#include "cuda/kernels.hpp"
#include "errors.hpp"
#include "geometry.hpp"
#include "mask_ops.hpp"
#include "parallel.hpp"
#include "wasserstein.hpp"

namespace p2sam::runtime {

namespace {

constexpr int kChannels = 256;
constexpr int kCells = 64 * 64;
constexpr std::size_t kLowRes = 256 * 256;

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Which mask channel a pass keeps. Token 0 is SAM's single-mask answer; with
// multimask the authors take the argmax IoU among tokens 1..3 (SamPredictor returns
// exactly those three when multimask_output=True). A 1-channel export decides inside
// its graph, so there is nothing to choose.
int choose_token(const DecoderResult& r, bool multimask) {
  if (r.channels == 1 || !multimask) return 0;
  int best = 1;
  for (int t = 2; t < r.channels; ++t)
    if (r.iou[t] > r.iou[best]) best = t;  // strict: ties keep the lower token, like argmax
  return best;
}

DecoderPrompt base_prompt(const CandidatePrompt& c, const Embedding& e, bool add_padding) {
  core::ResizeInfo info{e.orig_w, e.orig_h, e.input_w, e.input_h};
  DecoderPrompt p;
  const std::size_t n = c.labels.size();
  p.coords.reserve(2 * (n + 2));
  p.labels.reserve(n + 2);
  for (std::size_t i = 0; i < n; ++i) {
    core::PointF q = core::to_model_frame(c.xy[2 * i], c.xy[2 * i + 1], info);
    p.coords.push_back(q.x);
    p.coords.push_back(q.y);
    p.labels.push_back(c.labels[i]);
  }
  // SAM's ONNX decoder has no notion of "no box": a padding point (0,0) with label −1
  // stands in for it (docs/algorithm.md §3).
  if (add_padding) {
    p.coords.push_back(0.0f);
    p.coords.push_back(0.0f);
    p.labels.push_back(-1.0f);
  }
  p.orig_h = e.orig_h;
  p.orig_w = e.orig_w;
  return p;
}

void add_box(DecoderPrompt& p, const int box[4], const Embedding& e) {
  core::ResizeInfo info{e.orig_w, e.orig_h, e.input_w, e.input_h};
  core::PointF a = core::to_model_frame(box[0], box[1], info);
  core::PointF b = core::to_model_frame(box[2], box[3], info);
  p.coords.insert(p.coords.end(), {a.x, a.y, b.x, b.y});
  p.labels.insert(p.labels.end(), {2.0f, 3.0f});
}

// Two ways to be cancelled: the request's own flag (request.cancel, from cancelToken()),
// or the task's cancel token (core/cancel.hpp, armed by lib/cancellable.ts).
void throw_if_cancelled(const CandidateRequest& req) {
  if (req.cancel && req.cancel->load(std::memory_order_relaxed))
    throw core::CoreError("ABORTED", "candidate cascade cancelled");
  core::throw_if_cancelled();
}

void score_candidate(const Embedding& target, const CandidateRequest& req, const float* low_res,
                     CandidateOutcome& out) {
  auto t0 = std::chrono::steady_clock::now();
  // docs/algorithm.md §2.8.1: chosen pass-3 low-res logits 256 → 64 (bilinear), target cells = > 0.
  std::vector<float> logits64 = core::torch_resize_bilinear(low_res, 1, 256, 256, 64, 64, 1);
  std::vector<float> features;
  std::vector<double> weights;
  features.reserve(static_cast<std::size_t>(kChannels) * 512);
  for (int cell = 0; cell < kCells; ++cell) {
    if (!(logits64[cell] > 0.0f)) continue;
    // Embedding is channel-major [256][64*64]; the transport problem wants one row per cell.
    for (int ch = 0; ch < kChannels; ++ch)
      features.push_back(target.data[static_cast<std::size_t>(ch) * kCells + cell]);
    if (req.weights == TargetWeights::Sigmoid) weights.push_back(1.0 / (1.0 + std::exp(-double(logits64[cell]))));
  }
  out.target_cells = features.size() / kChannels;
  if (out.target_cells == 0) {
    out.score = std::numeric_limits<double>::infinity();
    out.note = out.note.empty() ? "the mask covers no 16×16 feature cell of the target; scored as worst" : out.note;
    out.score_ms = ms_since(t0);
    return;
  }
  core::TransportProblem problem;
  problem.a = req.reference->foreground.data();
  problem.n = std::size_t(req.reference->foreground_cells);
  problem.b = features.data();
  problem.m = out.target_cells;
  problem.d = kChannels;
  problem.wb = weights.empty() ? nullptr : weights.data();
  core::SinkhornOptions opts;
  opts.epsilon = req.sinkhorn_epsilon;
  opts.max_iterations = req.sinkhorn_iterations;
  opts.tolerance = req.sinkhorn_tolerance;
  core::TransportResult r;
  core::ExactOptions exact;
  core::CancelToken* token = core::current_cancel_token();
  exact.cancel = req.cancel ? req.cancel.get() : token ? token->flag() : nullptr;
  if (req.solver == Solver::Exact && req.gpu_maths) {
    std::vector<double> costs(problem.n * problem.m);
    cuda::gpu_cost_matrix(problem.a, problem.n, problem.b, problem.m, problem.d, costs.data());
    r = core::transport_exact_from_costs(costs.data(), problem.n, problem.m, problem.wa, problem.wb, exact);
  } else if (req.solver == Solver::Exact) {
    r = core::wasserstein_exact(problem, req.threads, exact);
  } else if (req.gpu_maths) {
    r = cuda::gpu_sinkhorn(problem, opts);
  } else {
    r = core::wasserstein_sinkhorn(problem, opts, req.threads);
  }
  out.score = r.cost;
  out.scored = true;
  out.converged = r.converged;
  out.solver_iterations = r.iterations;
  out.score_ms = ms_since(t0);
}

CandidateOutcome run_one(const DecoderRunner& decoder, const Embedding& target, const CandidateRequest& req,
                         const CandidatePrompt& cand) {
  CandidateOutcome out;
  const bool natural = req.mode == SegmentMode::Natural;
  const int threads = req.threads;

  // Pass 1: points only, single-mask answer.
  auto t = std::chrono::steady_clock::now();
  DecoderPrompt p1 = base_prompt(cand, target, true);
  DecoderResult r1 = decoder.run(target, p1, false);
  out.passes[0] = {choose_token(r1, false), 0, false, 0};
  out.passes[0].iou = r1.iou[out.passes[0].token];
  out.passes[0].ms = ms_since(t);
  const float* low1 = r1.low_res.data() + kLowRes * out.passes[0].token;

  throw_if_cancelled(req);
  // Pass 2: points + pass-1 logits as mask prompt; multimask in natural mode.
  t = std::chrono::steady_clock::now();
  DecoderPrompt p2 = base_prompt(cand, target, true);
  p2.mask_input = low1;
  DecoderResult r2 = decoder.run(target, p2, false);
  int tok2 = choose_token(r2, natural);
  out.passes[1] = {tok2, r2.iou[tok2], natural && r2.channels > 1, 0};
  const float* low2 = r2.low_res.data() + kLowRes * tok2;
  std::vector<std::uint8_t> mask2 = upscale_mask(low2, target, threads);
  std::optional<core::BoundingBox> box = core::bounding_box(mask2.data(), target.orig_w, target.orig_h);
  out.passes[1].ms = ms_since(t);

  throw_if_cancelled(req);
  // Pass 3: points + box of the pass-2 mask + pass-2 logits. An empty pass-2 mask has
  // no box; the authors' natural-mode code crashes there, medical mode drops the box.
  t = std::chrono::steady_clock::now();
  DecoderPrompt p3 = base_prompt(cand, target, !box.has_value());
  if (box) {
    out.has_box = true;
    out.box[0] = box->xmin;
    out.box[1] = box->ymin;
    out.box[2] = box->xmax;
    out.box[3] = box->ymax;
    add_box(p3, out.box, target);
  } else {
    out.note = "pass-2 mask was empty, pass 3 ran without a box";
  }
  p3.mask_input = low2;
  DecoderResult r3 = decoder.run(target, p3, false);
  int tok3 = choose_token(r3, natural);
  out.passes[2] = {tok3, r3.iou[tok3], natural && r3.channels > 1, 0};
  const float* low3 = r3.low_res.data() + kLowRes * tok3;
  out.mask = upscale_mask(low3, target, threads);
  out.area = core::mask_area(out.mask.data(), out.mask.size());
  out.empty = out.area == 0;
  out.passes[2].ms = ms_since(t);

  if (out.empty) {
    out.score = std::numeric_limits<double>::infinity();
    out.note = out.note.empty() ? "the final mask is empty; scored as worst" : out.note + "; the final mask is empty";
    return out;
  }
  throw_if_cancelled(req);
  if (req.score) score_candidate(target, req, low3, out);
  return out;
}

}  // namespace

std::vector<std::uint8_t> upscale_mask(const float* low_res_256, const Embedding& e, int threads) {
  return core::upscale_low_res_mask(low_res_256, core::ResizeInfo{e.orig_w, e.orig_h, e.input_w, e.input_h}, threads);
}

std::vector<CandidateOutcome> run_candidates(const DecoderRunner& decoder, const Embedding& target,
                                             const CandidateRequest& req) {
  if (req.score &&
      (!req.reference || std::size_t(req.reference->foreground_cells) * kChannels != req.reference->foreground.size()))
    throw core::invalid_argument("scoring needs a reference with foreground_cells × 256 features");
  std::vector<CandidateOutcome> outcomes(req.candidates.size());
  // Only the winning candidate's full-size mask is kept: the result holds one mask, and
  // keeping all (and copying them to JS) cost +370 MB for 17 × 65 candidates on 640×480,
  // ~13 GB on a 12 MP image. The winner is picked by the rule of lib/segment.ts
  // pickCandidate — the lowest score among non-empty masks, unscored counting as +∞,
  // ties to the lowest index — kept up to date as candidates finish (in any order when
  // they run in parallel), so at most one finished mask per running candidate exists.
  std::mutex best_mutex;
  std::ptrdiff_t best = -1;
  auto key = [](const CandidateOutcome& o) {
    return o.scored && std::isfinite(o.score) ? o.score : std::numeric_limits<double>::infinity();
  };
  // (`mask = {}` would keep the capacity: the memory must actually go.)
  auto release = [](CandidateOutcome& o) { std::vector<std::uint8_t>().swap(o.mask); };
  auto settle = [&](std::size_t i) {
    CandidateOutcome& o = outcomes[i];
    std::lock_guard<std::mutex> lock(best_mutex);
    if (o.empty) {
      release(o);
      return;
    }
    const bool wins = best < 0 || key(o) < key(outcomes[best]) ||
                      (key(o) == key(outcomes[best]) && static_cast<std::ptrdiff_t>(i) < best);
    if (!wins) {
      release(o);
      return;
    }
    if (best >= 0) release(outcomes[best]);
    best = static_cast<std::ptrdiff_t>(i);
  };
  core::parallel_for(0, req.candidates.size(), std::max(1, req.parallel_candidates),
                     [&](std::size_t b, std::size_t e, std::size_t) {
                       for (std::size_t i = b; i < e; ++i) {
                         throw_if_cancelled(req);
                         outcomes[i] = run_one(decoder, target, req, req.candidates[i]);
                         settle(i);
                       }
                     });
  return outcomes;
}

}  // namespace p2sam::runtime
