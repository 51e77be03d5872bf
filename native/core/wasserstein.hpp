// Optimal-transport costs between two weighted point clouds (docs/algorithm.md §2.8).
//
// Both solvers minimise <P, C> over transport plans P (n×m, P >= 0, row sums = wa,
// column sums = wb) with C_ij = ||a_i - b_j||² (squared Euclidean, float64). The
// weights are normalised to sum 1 in float64 before anything else, so the source and
// target masses balance exactly up to float64 rounding (docs/algorithm.md §2.8.3). Points of weight
// zero carry no mass and are removed before solving: they cannot change the optimum.
//
// * wasserstein_exact: the exact optimum (the value a network-simplex EMD solver such as
//   POT's ot.emd2 returns on the float64 cost matrix), by a primal network simplex
//   specialised to the uncapacitated bipartite transportation problem.
// * wasserstein_sinkhorn: entropy-regularised approximation (Sinkhorn: over-relaxed
//   scaling iterations on a float32 kernel, ε-scaling from a coarse ε when the reduced
//   costs are large (clustered features), damped Newton steps when plain sweeps stall,
//   log-domain fallback; see sinkhorn.cpp).
//
// Input features are float32 (as the encoders produce them); every computation is in
// float64. Invalid input throws CoreError("INVALID_ARGUMENT") naming the parameter.
#pragma once

#include <atomic>
#include <cstddef>

namespace p2sam::core {

struct TransportProblem {
  const float* a = nullptr;  // n×d row-major source points
  std::size_t n = 0;
  const float* b = nullptr;  // m×d row-major target points
  std::size_t m = 0;
  std::size_t d = 0;
  const double* wa = nullptr;  // n weights (finite, >= 0, positive sum) or nullptr = uniform
  const double* wb = nullptr;  // m weights or nullptr = uniform
};

struct TransportResult {
  // sum_ij P_ij C_ij of the returned plan, weights normalised to sum 1 (float64).
  double cost = 0.0;
  // exact: true when the simplex proved optimality (false only when max_pivots ran out;
  //        cost is then the cost of the current feasible plan, an upper bound).
  // sinkhorn: true when the marginal error dropped below the tolerance.
  bool converged = false;
  // exact: simplex pivots (degenerate ones included); sinkhorn: every sweep over the
  // kernel — row+column iterations of all ε stages, Newton products and line-search
  // evaluations included.
  int iterations = 0;
  // sinkhorn: L1 violation of the column marginals of the final plan (the rows are
  // exact after the last row update); exact: 0.
  double marginal_error = 0.0;
};

struct ExactOptions {
  // 0: the default cap of 50·(n+m)·ceil(log2(n+m)) + 100000 pivots, which real
  // problems stay far below.
  std::size_t max_pivots = 0;
  // Polled before the cost matrix, every 256 pivots and every 256 rows of a pricing
  // pass over the full matrix (a few ms apart at 4096²); once it reads true the solver
  // throws CoreError("ABORTED"). The flag must outlive the call.
  const std::atomic<bool>* cancel = nullptr;
  // transport_exact_from_costs only (wasserstein_exact takes its threads argument):
  // threads for the shortlist scans; <= 0 all hardware threads. Default 1.
  int threads = 1;
};

// Exact optimal-transport cost. threads <= 0 uses all hardware threads (for the cost
// matrix and the shortlist scans; the pivots are sequential; the result does not
// depend on the thread count). The simplex prices
// a shortlist of near arcs and certifies optimality over all n·m arcs (see
// wasserstein_exact.cpp).
// Memory: the n×m float64 cost matrix (134 MB at 4096²) plus O((n+m)·d) plus the
// shortlist (~2.5 MB at 4096²).
TransportResult wasserstein_exact(const TransportProblem& problem, int threads, const ExactOptions& options);
TransportResult wasserstein_exact(const TransportProblem& problem, int threads, std::size_t max_pivots = 0);

// Same solver on a precomputed cost matrix (n×m row-major, finite, >= 0 not required
// but every entry must be finite). Weights as in TransportProblem.
TransportResult transport_exact_from_costs(const double* costs, std::size_t n, std::size_t m, const double* wa,
                                           const double* wb, const ExactOptions& options);
TransportResult transport_exact_from_costs(const double* costs, std::size_t n, std::size_t m, const double* wa,
                                           const double* wb, std::size_t max_pivots = 0);

struct SinkhornOptions {
  // Regularisation strength relative to the mean of the cost matrix: the solver uses
  // eps_abs = epsilon · mean_ij(C_ij), which makes the option independent of the
  // feature dimension and scale. Must be > 0.
  double epsilon = 0.01;
  int max_iterations = 1000;  // >= 1
  // Stop when the L1 column-marginal error (after a row update) is < tolerance. >= 0.
  // A marginal error of 1e-6 (of the unit mass) can shift the cost by at most
  // 1e-6·max(C) (measured: 3e-9 relative vs tolerance 1e-9 on 256-d problems), far
  // below the ~1% entropic bias of epsilon = 0.01; it saves ~25% of the iterations.
  double tolerance = 1e-6;
};

// Entropic OT with float64 potentials and scalings. The returned cost is <P, C> for
// the final plan P_ij = exp((f_i + g_j - C_ij)/eps_abs) (the plan after the last plain
// row update, so its row sums are exact and its column sums are off by
// marginal_error); the entropy term is not included. Results do not depend on
// `threads` (<= 0: all hardware threads). Memory: the n×m float32 costs plus an n×m
// float32 kernel (128 MB at 4096²).
TransportResult wasserstein_sinkhorn(const TransportProblem& problem, const SinkhornOptions& options, int threads);

}  // namespace p2sam::core
