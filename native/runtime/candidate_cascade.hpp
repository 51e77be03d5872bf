// One P2SAM candidate = one prompt set (k part positives + negatives) taken through the
// three cascaded decoder passes of docs/algorithm.md §2.7 and scored by the Wasserstein distance of
// docs/algorithm.md §2.8. The argmin over candidates (with the tie rules of docs/algorithm.md §2.8.5) is left to the
// caller — the TypeScript retrieval loop — which sees every candidate's score.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model_runner.hpp"
#include "reference.hpp"

namespace p2sam::runtime {

enum class Solver { Exact, Sinkhorn };
enum class TargetWeights { Uniform, Sigmoid };

struct CandidatePrompt {
  int parts = 0, negatives = 0;
  std::vector<float> xy;      // original-image pixels, interleaved x,y
  std::vector<float> labels;  // 1 positive, 0 negative
};

struct CandidateRequest {
  SegmentMode mode = SegmentMode::Natural;
  std::vector<CandidatePrompt> candidates;
  // The reference whose foreground features are the transport source (docs/algorithm.md §2.8);
  // shared, never copied: the request only adds an owner for the task's lifetime.
  std::shared_ptr<const Reference> reference;
  bool score = true;  // false: skip retrieval (single candidate)
  Solver solver = Solver::Exact;
  TargetWeights weights = TargetWeights::Uniform;
  double sinkhorn_epsilon = 0.01;
  int sinkhorn_iterations = 1000;
  double sinkhorn_tolerance = 1e-6;
  int threads = 0;              // core maths threads per candidate
  int parallel_candidates = 1;  // candidates cascaded at the same time
  // Score on the GPU: Sinkhorn entirely (cuda::gpu_sinkhorn); for the exact solver the
  // n×m cost matrix is computed on the GPU and the network simplex — sequential pivots —
  // runs on the CPU over it (cuda::gpu_cost_matrix + core::transport_exact_from_costs).
  bool gpu_maths = false;
  // Set (from the JS thread, on AbortSignal) to stop the request: checked before each
  // candidate and decoder pass and inside the exact simplex; the call then throws
  // CoreError("ABORTED"). Sinkhorn runs to its end (no cancel point yet).
  std::shared_ptr<const std::atomic<bool>> cancel;
};

struct PassRecord {
  int token = 0;  // which decoder mask channel was taken
  float iou = 0;  // its iou_prediction
  bool multimask = false;
  double ms = 0;
};

struct CandidateOutcome {
  std::vector<std::uint8_t> mask;  // H×W, 0/1 — the winning candidate's only (see run_candidates)
  std::size_t area = 0;
  bool empty = true;
  double score = 0;  // +inf when empty or not scored
  bool scored = false;
  bool converged = true;
  int solver_iterations = 0;
  std::size_t target_cells = 0;  // N_tgt of the transport problem
  bool has_box = false;
  int box[4] = {0, 0, 0, 0};  // xmin, ymin, xmax, ymax (inclusive, original pixels)
  PassRecord passes[3];
  double score_ms = 0;
  std::string note;  // why empty / what was approximated
};

std::vector<CandidateOutcome> run_candidates(const DecoderRunner& decoder, const Embedding& target,
                                             const CandidateRequest& request);

// SAM's postprocess_masks for one low-res channel: 256² → 1024² (bilinear) → crop to the
// resized image → original size (bilinear), then > 0. Identical maths to the decoder
// export's own `masks` output, computed for the one channel we keep.
std::vector<std::uint8_t> upscale_mask(const float* low_res_256, const Embedding& geometry, int threads);

}  // namespace p2sam::runtime
