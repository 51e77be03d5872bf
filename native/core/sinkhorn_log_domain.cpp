// Log-domain Sinkhorn: the row and column updates as log-sum-exps over C, with a
// maximum subtracted first when a plain sum under- or overflows.
#include "sinkhorn_log_domain.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cancel.hpp"
#include "parallel.hpp"
#include "sinkhorn_kernels.hpp"

namespace p2sam::core::sinkhorn_detail {

TransportResult log_domain(const Problem& pr, std::vector<double> f, std::vector<double> g, int it, int threads) {
  const SinkhornKernels& K = sinkhorn_kernels();
  const std::size_t n = pr.n, m = pr.m;
  const double eps = pr.eps, inv_eps = pr.inv_eps;
  const float* C = pr.C;
  std::vector<double> g_next(m), log_a(n), log_b(m);
  for (std::size_t i = 0; i < n; ++i) log_a[i] = eps * std::log(pr.wa[i]);
  for (std::size_t j = 0; j < m; ++j) log_b[j] = eps * std::log(pr.wb[j]);
  std::vector<double> colsum(m), colmax(m), colerr(m);
  // Below ~2^18 entries a pass takes well under a millisecond: spawning threads twice
  // per iteration would cost more than it saves.
  const int workers = n * m < (std::size_t(1) << 18) ? 1 : (threads <= 0 ? default_thread_count() : threads);

  double err = std::numeric_limits<double>::infinity();
  for (;;) {
    throw_if_cancelled();  // an aborted call stops between sweeps
    ++it;
    // Row update. With f_old as the shift the exponents are those of the current plan;
    // if its row sum under- or overflows, the row maximum is used as the shift instead.
    parallel_for(
        0, n, workers,
        [&](std::size_t r0, std::size_t r1, std::size_t) {
          for (std::size_t i = r0; i < r1; ++i) {
            const float* row = C + i * m;
            const double s = K.row_sum(row, g.data(), m, f[i], inv_eps);
            if (s > kUnderflow && s < std::numeric_limits<double>::infinity()) {
              f[i] = log_a[i] + f[i] - eps * std::log(s);
            } else {
              const double mx = K.row_max(row, g.data(), m);
              f[i] = log_a[i] - (mx + eps * std::log(K.row_sum(row, g.data(), m, -mx, inv_eps)));
            }
          }
        },
        16);
    // Column sums T_j of the plan (f, g): the stopping criterion, and the column
    // update g_j += eps·log(b_j / T_j). Each worker owns a column range and walks all
    // rows over it, so there are no per-thread accumulators to merge.
    parallel_for(
        0, m, workers,
        [&](std::size_t c0, std::size_t c1, std::size_t) {
          const std::size_t len = c1 - c0;
          std::fill(colsum.begin() + c0, colsum.begin() + c1, 0.0);
          for (std::size_t i = 0; i < n; ++i)
            K.col_sum(C + i * m + c0, f[i], g.data() + c0, colsum.data() + c0, len, inv_eps);
          bool underflow = false;
          for (std::size_t j = c0; j < c1; ++j) {
            const double t = colsum[j];
            if (t > kUnderflow && t < std::numeric_limits<double>::infinity()) {
              g_next[j] = log_b[j] + g[j] - eps * std::log(t);
              colerr[j] = std::fabs(t - pr.wb[j]);
            } else {
              underflow = true;
            }
          }
          if (!underflow) return;
          // Rare (early iterations, tiny eps): redo this range with the column maxima.
          std::fill(colmax.begin() + c0, colmax.begin() + c1, -std::numeric_limits<double>::infinity());
          for (std::size_t i = 0; i < n; ++i) K.col_max(C + i * m + c0, f[i], colmax.data() + c0, len);
          for (std::size_t j = c0; j < c1; ++j) colmax[j] = -colmax[j];
          std::fill(colsum.begin() + c0, colsum.begin() + c1, 0.0);
          for (std::size_t i = 0; i < n; ++i)
            K.col_sum(C + i * m + c0, f[i], colmax.data() + c0, colsum.data() + c0, len, inv_eps);
          for (std::size_t j = c0; j < c1; ++j) {
            const double lse = -colmax[j] + eps * std::log(colsum[j]);  // eps·LSE_i((f_i - C_ij)/eps)
            g_next[j] = log_b[j] - lse;
            colerr[j] = std::fabs(std::exp(std::min((g[j] + lse) * inv_eps, 700.0)) - pr.wb[j]);
          }
        },
        64);
    err = 0.0;
    for (std::size_t j = 0; j < m; ++j) err += colerr[j];
    if (err < pr.tolerance || it >= pr.max_iterations) break;
    g.swap(g_next);
  }

  // Per-row costs summed in row order, so the result does not depend on the threads.
  std::vector<double> row_costs(n);
  parallel_for(
      0, n, workers,
      [&](std::size_t r0, std::size_t r1, std::size_t) {
        for (std::size_t i = r0; i < r1; ++i) row_costs[i] = K.row_cost(C + i * m, g.data(), m, f[i], inv_eps);
      },
      16);
  TransportResult result;
  double cost = 0.0;
  for (double v : row_costs) cost += v;
  result.cost = cost;
  result.converged = err < pr.tolerance;
  result.iterations = it;
  result.marginal_error = err;
  return result;
}

}  // namespace p2sam::core::sinkhorn_detail
