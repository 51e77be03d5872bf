// The log-domain Sinkhorn iteration, the solver's fallback when the scaling (kernel)
// domain cannot stay accurate (see the comment at the top of sinkhorn.cpp).
#pragma once

#include <cstddef>
#include <vector>

#include "wasserstein.hpp"

namespace p2sam::core::sinkhorn_detail {

// One Sinkhorn problem as the solver holds it: float32 costs, normalised float64
// weights, the absolute eps and the stopping rule.
struct Problem {
  std::size_t n, m;
  const float* C;
  const double* wa;
  const double* wb;
  double eps, inv_eps;
  int max_iterations;
  double tolerance;
};

// A sum of exponentials below this is treated as underflowed and recomputed with the
// maximum as shift (terms are clamped at e^-708, so m·e^-708 must be negligible).
constexpr double kUnderflow = 1e-250;

// Log-domain Sinkhorn from potentials (f, g), continuing the iteration count `it`.
// The column log-sum-exp also yields, for free, the column sums of the plan (f, g_old)
// that the row update just produced: colsum_j = exp((g_old_j + eps·LSE_j)/eps). Their L1
// distance to b is the stopping criterion; when it is below tolerance (or the iteration
// cap is reached) the solver stops *before* the column update, so the returned cost is
// <P, C> for a plan with exact row sums.
TransportResult log_domain(const Problem& pr, std::vector<double> f, std::vector<double> g, int it, int threads);

}  // namespace p2sam::core::sinkhorn_detail
