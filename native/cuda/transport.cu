// Squared-Euclidean cost matrices and log-domain Sinkhorn on the GPU (docs/algorithm.md §2.8).
//
// Cost: 16×16 output tiles, features staged through shared memory in chunks of 32; each
// thread accumulates its dot product in float64 in feature order (products of float32
// values are exact in float64, so only the summation order differs from the CPU's).
//
// Sinkhorn keeps C (n×m float64) on the device for the whole solve. Per iteration: a
// row pass (one block per row: max, then sum of exp, tree-reduced), a column pass (one
// thread per column walking the rows, so reads are coalesced across columns), a
// marginal-error reduction read back by the host (8 bytes), and the g update. The
// stopping criterion and the reported quantities follow the contract of
// core::wasserstein_sinkhorn (wasserstein.hpp).
#include <cuda_runtime.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "cost_matrix.hpp"
#include "device_util.cuh"
#include "hd_math.hpp"
#include "kernels.hpp"

namespace p2sam::cuda {
namespace {

constexpr int kTile = 16, kChunk = 32, kThreads = 256;

__global__ void sq_norms_kernel(const float* x, int count, int d, double* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < count) out[i] = hd::sq_norm_f64(x + static_cast<std::size_t>(i) * d, d);
}

__global__ void cost_kernel(const float* a, int n, const float* b, int m, int d, const double* na, const double* nb,
                            double* out) {
  __shared__ float as[kTile][kChunk + 1];
  __shared__ float bs[kTile][kChunk + 1];
  const int ty = threadIdx.y, tx = threadIdx.x;
  const int i = blockIdx.y * kTile + ty, j = blockIdx.x * kTile + tx;
  const int lin = ty * kTile + tx;
  double acc = 0.0;
  for (int t0 = 0; t0 < d; t0 += kChunk) {
    for (int q = lin; q < kTile * kChunk; q += kTile * kTile) {
      const int r = q / kChunk, c = q % kChunk;
      const int ia = blockIdx.y * kTile + r, jb = blockIdx.x * kTile + r, t = t0 + c;
      as[r][c] = (ia < n && t < d) ? a[static_cast<std::size_t>(ia) * d + t] : 0.0f;
      bs[r][c] = (jb < m && t < d) ? b[static_cast<std::size_t>(jb) * d + t] : 0.0f;
    }
    __syncthreads();
    const int len = d - t0 < kChunk ? d - t0 : kChunk;
    for (int c = 0; c < len; ++c) acc += static_cast<double>(as[ty][c]) * static_cast<double>(bs[tx][c]);
    __syncthreads();
  }
  if (i < n && j < m) out[static_cast<std::size_t>(i) * m + j] = hd::cost_entry(na[i], nb[j], acc);
}

// Computes the n×m costs into `costs` (device); a, b are device rows.
void device_costs(const char* fn, const float* a, int n, const float* b, int m, int d, double* costs) {
  detail::DeviceBuffer<double> na(n, fn), nb(m, fn);
  sq_norms_kernel<<<detail::blocks_for(n, kThreads), kThreads>>>(a, n, d, na.get());
  sq_norms_kernel<<<detail::blocks_for(m, kThreads), kThreads>>>(b, m, d, nb.get());
  const dim3 grid((m + kTile - 1) / kTile, (n + kTile - 1) / kTile);
  cost_kernel<<<grid, dim3(kTile, kTile)>>>(a, n, b, m, d, na.get(), nb.get(), costs);
  detail::check_launch(fn, "cost_kernel");
}

__device__ double block_sum(double v, double* red) {
  const int tid = threadIdx.x;
  red[tid] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (tid < s) red[tid] += red[tid + s];
    __syncthreads();
  }
  const double r = red[0];
  __syncthreads();
  return r;
}

__device__ double block_max(double v, double* red) {
  const int tid = threadIdx.x;
  red[tid] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (tid < s && red[tid + s] > red[tid]) red[tid] = red[tid + s];
    __syncthreads();
  }
  const double r = red[0];
  __syncthreads();
  return r;
}

// One block per row: f_i = eps·log a_i - LSE_j(g_j - C_ij).
__global__ void row_update_kernel(const double* C, int m, const double* g, const double* log_a, double eps,
                                  double inv_eps, double* f) {
  __shared__ double red[kThreads];
  const double* row = C + static_cast<std::size_t>(blockIdx.x) * m;
  double mx = -HUGE_VAL;
  for (int j = threadIdx.x; j < m; j += blockDim.x) mx = fmax(mx, g[j] - row[j]);
  const double shift = block_max(mx, red);
  double s = 0.0;
  for (int j = threadIdx.x; j < m; j += blockDim.x) s += hd::lse_term(g[j] - row[j], shift, inv_eps);
  const double total = block_sum(s, red);
  if (threadIdx.x == 0) f[blockIdx.x] = log_a[blockIdx.x] - hd::lse_finish(shift, total, eps);
}

// One thread per column: lse_j over rows, and the column's marginal error term.
__global__ void col_lse_kernel(const double* C, int n, int m, const double* f, const double* g, const double* wb,
                               double eps, double inv_eps, double* lse, double* err_terms) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= m) return;
  double mx = -HUGE_VAL;
  for (int i = 0; i < n; ++i) mx = fmax(mx, f[i] - C[static_cast<std::size_t>(i) * m + j]);
  double s = 0.0;
  for (int i = 0; i < n; ++i) s += hd::lse_term(f[i] - C[static_cast<std::size_t>(i) * m + j], mx, inv_eps);
  const double l = hd::lse_finish(mx, s, eps);
  lse[j] = l;
  err_terms[j] = hd::marginal_term(g[j], l, inv_eps, wb[j]);
}

__global__ void sum_kernel(const double* v, int count, double* out) {
  __shared__ double red[kThreads];
  double s = 0.0;
  for (int j = threadIdx.x; j < count; j += blockDim.x) s += v[j];
  const double total = block_sum(s, red);
  if (threadIdx.x == 0) *out = total;
}

__global__ void g_update_kernel(const double* log_b, const double* lse, int m, double* g) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j < m) g[j] = log_b[j] - lse[j];
}

// Per row: sum of C (for the mean), max of C, and (later) <P_i, C_i>.
__global__ void row_stats_kernel(const double* C, int m, double* sums, double* maxes) {
  __shared__ double red[kThreads];
  const double* row = C + static_cast<std::size_t>(blockIdx.x) * m;
  double s = 0.0, mx = 0.0;
  for (int j = threadIdx.x; j < m; j += blockDim.x) {
    s += row[j];
    mx = fmax(mx, row[j]);
  }
  const double total = block_sum(s, red);
  const double top = block_max(mx, red);
  if (threadIdx.x == 0) {
    sums[blockIdx.x] = total;
    maxes[blockIdx.x] = top;
  }
}

__global__ void row_cost_kernel(const double* C, int m, const double* f, const double* g, double inv_eps, double* out) {
  __shared__ double red[kThreads];
  const double* row = C + static_cast<std::size_t>(blockIdx.x) * m;
  const double fi = f[blockIdx.x];
  double s = 0.0;
  for (int j = threadIdx.x; j < m; j += blockDim.x) s += hd::plan_cost_term(fi, g[j], row[j], inv_eps);
  const double total = block_sum(s, red);
  if (threadIdx.x == 0) out[blockIdx.x] = total;
}

void check_rows(const char* fn, const float* x, std::size_t count, std::size_t d, const char* name) {
  if (x == nullptr)
    throw core::invalid_argument(std::string(fn) + ": parameter '" + name +
                                 "' must point to the feature rows, received a null pointer");
  for (std::size_t k = 0; k < count * d; ++k)
    if (!std::isfinite(x[k]))
      throw core::invalid_argument(std::string(fn) + ": parameter '" + name +
                                   "' must contain finite features, received " + std::to_string(x[k]) + " at row " +
                                   std::to_string(k / d) + ", column " + std::to_string(k % d));
}

void check_sizes(const char* fn, std::size_t n, std::size_t m, std::size_t d) {
  const std::string s(fn);
  if (n == 0) throw core::invalid_argument(s + ": parameter 'n' (source point count) must be >= 1, received 0");
  if (m == 0) throw core::invalid_argument(s + ": parameter 'm' (target point count) must be >= 1, received 0");
  if (d == 0) throw core::invalid_argument(s + ": parameter 'd' (feature dimension) must be >= 1, received 0");
  constexpr std::size_t kMaxEntries = std::size_t(1) << 28;
  if (n > kMaxEntries || m > kMaxEntries || n * m > kMaxEntries)
    throw core::invalid_argument(s + ": n·m must be <= 2^28 (a 2 GiB cost matrix), received n = " + std::to_string(n) +
                                 ", m = " + std::to_string(m));
  if (d > kMaxEntries || d * (n + m) > (std::size_t(1) << 30))
    throw core::invalid_argument(
        s + ": parameter 'd' is too large for these point counts on the GPU, received d = " + std::to_string(d));
}

}  // namespace

void gpu_cost_matrix(const float* a, std::size_t n, const float* b, std::size_t m, std::size_t d, double* out) {
  const char* fn = "gpu_cost_matrix";
  detail::require_device(fn);
  check_sizes(fn, n, m, d);
  check_rows(fn, a, n, d, "a");
  check_rows(fn, b, m, d, "b");
  if (out == nullptr) throw core::invalid_argument(std::string(fn) + ": parameter 'out' must not be null");
  auto a_d = detail::to_device(a, n * d, fn);
  auto b_d = detail::to_device(b, m * d, fn);
  detail::DeviceBuffer<double> c(n * m, fn);
  device_costs(fn, a_d.get(), static_cast<int>(n), b_d.get(), static_cast<int>(m), static_cast<int>(d), c.get());
  c.download(out, n * m, fn);
}

core::TransportResult gpu_sinkhorn(const core::TransportProblem& pr, const core::SinkhornOptions& options) {
  const char* fn = "gpu_sinkhorn";
  detail::require_device(fn);
  if (!(options.epsilon > 0.0) || !std::isfinite(options.epsilon))
    throw core::invalid_argument(std::string(fn) + ": option 'epsilon' must be a finite number > 0, received " +
                                 std::to_string(options.epsilon));
  if (options.max_iterations < 1)
    throw core::invalid_argument(std::string(fn) + ": option 'max_iterations' must be >= 1, received " +
                                 std::to_string(options.max_iterations));
  if (!(options.tolerance >= 0.0) || !std::isfinite(options.tolerance))
    throw core::invalid_argument(std::string(fn) + ": option 'tolerance' must be a finite number >= 0, received " +
                                 std::to_string(options.tolerance));
  check_sizes(fn, pr.n, pr.m, pr.d);
  check_rows(fn, pr.a, pr.n, pr.d, "a");
  check_rows(fn, pr.b, pr.m, pr.d, "b");
  std::vector<double> wa = core::detail::normalised_weights(pr.wa, pr.n, "wa", fn);
  std::vector<double> wb = core::detail::normalised_weights(pr.wb, pr.m, "wb", fn);
  // Zero-mass points carry nothing and are dropped, as in the core.
  auto compact = [&](const float* x, std::size_t count, std::vector<double>& w, std::vector<float>& rows) {
    std::vector<double> kept;
    for (std::size_t i = 0; i < count; ++i) {
      if (!(w[i] > 0.0)) continue;
      rows.insert(rows.end(), x + i * pr.d, x + (i + 1) * pr.d);
      kept.push_back(w[i]);
    }
    w.swap(kept);
  };
  std::vector<float> ra, rb;
  compact(pr.a, pr.n, wa, ra);
  compact(pr.b, pr.m, wb, rb);
  const int n = static_cast<int>(wa.size()), m = static_cast<int>(wb.size()), d = static_cast<int>(pr.d);

  auto a_d = detail::to_device(ra.data(), ra.size(), fn);
  auto b_d = detail::to_device(rb.data(), rb.size(), fn);
  detail::DeviceBuffer<double> C(static_cast<std::size_t>(n) * m, fn);
  device_costs(fn, a_d.get(), n, b_d.get(), m, d, C.get());

  detail::DeviceBuffer<double> row_a(n, fn), row_b(n, fn);
  row_stats_kernel<<<n, kThreads>>>(C.get(), m, row_a.get(), row_b.get());
  detail::check_launch(fn, "row_stats_kernel");
  std::vector<double> sums(n), maxes(n);
  row_a.download(sums.data(), n, fn);
  row_b.download(maxes.data(), n, fn);
  double total = 0.0, max_cost = 0.0;
  for (int i = 0; i < n; ++i) {
    total += sums[i];
    max_cost = std::max(max_cost, maxes[i]);
  }
  if (!std::isfinite(max_cost) || !std::isfinite(total))
    throw core::invalid_argument(
        std::string(fn) + ": parameters 'a'/'b' give squared distances that overflow float64; scale the features down");
  core::TransportResult result;
  if (max_cost == 0.0) {
    result.converged = true;
    return result;
  }
  const double mean_cost = total / (static_cast<double>(n) * static_cast<double>(m));
  const double eps = options.epsilon * mean_cost;
  if (!(eps >= std::numeric_limits<double>::min()))
    throw core::invalid_argument(
        std::string(fn) + ": option 'epsilon' is too small for this cost scale (epsilon·mean cost underflows float64)");
  const double inv_eps = 1.0 / eps;

  std::vector<double> log_a(n), log_b(m);
  for (int i = 0; i < n; ++i) log_a[i] = eps * std::log(wa[i]);
  for (int j = 0; j < m; ++j) log_b[j] = eps * std::log(wb[j]);
  auto log_a_d = detail::to_device(log_a.data(), log_a.size(), fn);
  auto log_b_d = detail::to_device(log_b.data(), log_b.size(), fn);
  auto wb_d = detail::to_device(wb.data(), wb.size(), fn);
  detail::DeviceBuffer<double> f(n, fn), g(m, fn), lse(m, fn), err_terms(m, fn), err_d(1, fn);
  detail::check(cudaMemset(g.get(), 0, sizeof(double) * m), fn, "cudaMemset");

  double err = std::numeric_limits<double>::infinity();
  int it = 0;
  const unsigned col_blocks = detail::blocks_for(m, kThreads);
  for (;;) {
    ++it;
    row_update_kernel<<<n, kThreads>>>(C.get(), m, g.get(), log_a_d.get(), eps, inv_eps, f.get());
    col_lse_kernel<<<col_blocks, kThreads>>>(C.get(), n, m, f.get(), g.get(), wb_d.get(), eps, inv_eps, lse.get(),
                                             err_terms.get());
    sum_kernel<<<1, kThreads>>>(err_terms.get(), m, err_d.get());
    detail::check(cudaGetLastError(), fn, "sinkhorn iteration");
    err_d.download(&err, 1, fn);  // synchronises
    if (err < options.tolerance || it >= options.max_iterations) break;
    g_update_kernel<<<col_blocks, kThreads>>>(log_b_d.get(), lse.get(), m, g.get());
  }
  detail::DeviceBuffer<double> row_cost(n, fn);
  row_cost_kernel<<<n, kThreads>>>(C.get(), m, f.get(), g.get(), inv_eps, row_cost.get());
  detail::check_launch(fn, "row_cost_kernel");
  std::vector<double> rc(n);
  row_cost.download(rc.data(), n, fn);
  double cost = 0.0;
  for (double v : rc) cost += v;
  result.cost = cost;
  result.converged = err < options.tolerance;
  result.iterations = it;
  result.marginal_error = err;
  return result;
}

}  // namespace p2sam::cuda
