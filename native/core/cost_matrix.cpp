#include "cost_matrix.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "errors.hpp"
#include "wasserstein.hpp"

#include "parallel.hpp"

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(P2SAM_NO_SIMD_DISPATCH)
#include <immintrin.h>
#endif

namespace p2sam::core {
namespace {

// B is packed in panels of kPanel columns, k-major inside a panel:
// panel p holds B[p*kPanel + c][k] at [k*kPanel + c]. A micro-kernel then reads one
// contiguous kPanel-vector of B per k and broadcasts R scalars of A, keeping R×kPanel
// float64 accumulators in registers (12 SIMD registers for each instruction set used).
constexpr std::size_t kPanel = 8;
// Rows of A processed against all panels before moving on: 120 rows × 256 dims × 8 B =
// 240 KiB stays in L2 while B (m·d·8 B) streams from L3 once per row block. 120 is a
// multiple of every R below; measured: 64 and 480 were 5–20 % slower at 4096².
constexpr std::size_t kRowBlock = 120;

// Portable kernel: GCC/Clang vector extensions, two float64 lanes (one SSE2 / NEON
// register). R=3 rows × kPanel/2 vectors = 12 accumulators (measured fastest of 1..3).
// The loops over rows and vectors are fully unrolled so the accumulators stay in
// registers; written as plain scalar loops GCC vectorised the k loop instead (2× slower).
typedef double v2d __attribute__((vector_size(16)));

template <int R>
inline void micro_portable(const double* A, std::size_t d, const double* Bp, double* acc_out) {
  constexpr int V = static_cast<int>(kPanel / 2);
  v2d acc[R][V];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) acc[r][v] = v2d{0.0, 0.0};
  for (std::size_t k = 0; k < d; ++k) {
    v2d b[V];
    __builtin_memcpy(b, Bp + k * kPanel, sizeof b);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const double s = A[r * d + k];
      const v2d ar = {s, s};
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) acc[r][v] += ar * b[v];
    }
  }
  __builtin_memcpy(acc_out, acc, sizeof acc);
}

// out = na + nb - 2·acc, clamped at 0 (rounding can make a zero distance slightly
// negative; a cost is never below 0). Also accumulates per-row sums and maxima so the
// solvers get max/mean without another pass over the matrix; rows are summed panel by
// panel in a fixed order, so the mean does not depend on the thread count.
template <int R, typename Out>
inline void store_tile(const double* acc, const double* na, const double* nb, Out* out, std::size_t ldo,
                       std::size_t cols, double* rowsum, double* rowmax) {
  for (int r = 0; r < R; ++r) {
    Out* o = out + r * ldo;
    double s = 0.0, mx = rowmax[r];
    for (std::size_t c = 0; c < cols; ++c) {
      double v = na[r] + nb[c] - 2.0 * acc[r * kPanel + c];
      v = v > 0.0 ? v : 0.0;
      o[c] = static_cast<Out>(v);
      s += v;
      mx = v > mx ? v : mx;
    }
    rowsum[r] += s;
    rowmax[r] = mx;
  }
}

struct Packed {
  const double* A;   // n×d float64
  const double* Bp;  // panels
  const double* na;  // n squared norms
  const double* nb;  // m squared norms (padded to a panel multiple)
  std::size_t n, m, d, panels;
  double* out;  // exactly one of out / outf is set
  float* outf;
  double* rowsum;  // n
  double* rowmax;  // n
};

template <int R>
inline void store(const Packed& p, const double* acc, std::size_t i, std::size_t j0, std::size_t cols) {
  if (p.out)
    store_tile<R>(acc, p.na + i, p.nb + j0, p.out + i * p.m + j0, p.m, cols, p.rowsum + i, p.rowmax + i);
  else
    store_tile<R>(acc, p.na + i, p.nb + j0, p.outf + i * p.m + j0, p.m, cols, p.rowsum + i, p.rowmax + i);
}

// Loops row blocks × panels; Micro<R>(A, d, Bp, acc) computes an R×kPanel tile of
// dot products. Rows left over (< R) use the 1-row instantiation.
template <int R, typename Micro, typename Micro1>
inline __attribute__((always_inline)) void rows_kernel(const Packed& p, std::size_t r0, std::size_t r1, Micro micro,
                                                       Micro1 micro1) {
  alignas(64) double acc[R * kPanel];
  for (std::size_t ib = r0; ib < r1; ib += kRowBlock) {
    const std::size_t ie = std::min(r1, ib + kRowBlock);
    for (std::size_t pj = 0; pj < p.panels; ++pj) {
      const double* Bp = p.Bp + pj * p.d * kPanel;
      const std::size_t j0 = pj * kPanel;
      const std::size_t cols = std::min(kPanel, p.m - j0);
      std::size_t i = ib;
      for (; i + R <= ie; i += R) {
        micro(p.A + i * p.d, p.d, Bp, acc);
        store<R>(p, acc, i, j0, cols);
      }
      for (; i < ie; ++i) {
        micro1(p.A + i * p.d, p.d, Bp, acc);
        store<1>(p, acc, i, j0, cols);
      }
    }
  }
}

void rows_portable(const Packed& p, std::size_t r0, std::size_t r1) {
  rows_kernel<3>(p, r0, r1, micro_portable<3>, micro_portable<1>);
}

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(P2SAM_NO_SIMD_DISPATCH)
#define P2SAM_COST_DISPATCH 1

// AVX2+FMA: a panel row is two ymm registers; R=6 rows → 12 accumulators, enough
// independent FMA chains to cover latency × 2 ports.
template <int R>
__attribute__((target("avx2,fma"), always_inline)) inline void micro_avx2(const double* A, std::size_t d,
                                                                          const double* Bp, double* acc_out) {
  __m256d acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_pd();
  for (std::size_t k = 0; k < d; ++k) {
    const __m256d b0 = _mm256_loadu_pd(Bp + k * kPanel);
    const __m256d b1 = _mm256_loadu_pd(Bp + k * kPanel + 4);
    for (int r = 0; r < R; ++r) {
      const __m256d ar = _mm256_broadcast_sd(A + r * d + k);
      acc[r][0] = _mm256_fmadd_pd(ar, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_pd(ar, b1, acc[r][1]);
    }
  }
  for (int r = 0; r < R; ++r) {
    _mm256_storeu_pd(acc_out + r * kPanel, acc[r][0]);
    _mm256_storeu_pd(acc_out + r * kPanel + 4, acc[r][1]);
  }
}

__attribute__((target("avx2,fma"))) void rows_avx2(const Packed& p, std::size_t r0, std::size_t r1) {
  rows_kernel<6>(p, r0, r1, micro_avx2<6>, micro_avx2<1>);
}

// AVX-512: a panel row is one zmm register; R=12 rows → 12 accumulators.
template <int R>
__attribute__((target("avx512f"), always_inline)) inline void micro_avx512(const double* A, std::size_t d,
                                                                           const double* Bp, double* acc_out) {
  __m512d acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_pd();
  for (std::size_t k = 0; k < d; ++k) {
    const __m512d b = _mm512_loadu_pd(Bp + k * kPanel);
    for (int r = 0; r < R; ++r) acc[r] = _mm512_fmadd_pd(_mm512_set1_pd(A[r * d + k]), b, acc[r]);
  }
  for (int r = 0; r < R; ++r) _mm512_storeu_pd(acc_out + r * kPanel, acc[r]);
}

__attribute__((target("avx512f"))) void rows_avx512(const Packed& p, std::size_t r0, std::size_t r1) {
  rows_kernel<12>(p, r0, r1, micro_avx512<12>, micro_avx512<1>);
}
#endif

using RowsFn = void (*)(const Packed&, std::size_t, std::size_t);

RowsFn pick_kernel() {
#ifdef P2SAM_COST_DISPATCH
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return rows_avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return rows_avx2;
#endif
  return rows_portable;
}

void compute_costs(const float* a, std::size_t n, const float* b, std::size_t m, std::size_t d, double* out,
                   float* outf, int threads, double* max_cost, double* mean_cost) {
  if (n == 0 || m == 0) return;
  const std::size_t panels = (m + kPanel - 1) / kPanel;
  std::vector<double> A(n * d), Bp(panels * kPanel * d, 0.0), na(n), nb(panels * kPanel, 0.0);
  parallel_for(
      0, n, threads,
      [&](std::size_t b0, std::size_t b1, std::size_t) {
        for (std::size_t i = b0; i < b1; ++i) {
          double s = 0.0;
          for (std::size_t k = 0; k < d; ++k) {
            const double v = a[i * d + k];
            A[i * d + k] = v;
            s += v * v;
          }
          na[i] = s;
        }
      },
      256);
  for (std::size_t j = 0; j < m; ++j) {
    double s = 0.0;
    double* panel = Bp.data() + (j / kPanel) * d * kPanel + (j % kPanel);
    for (std::size_t k = 0; k < d; ++k) {
      const double v = b[j * d + k];
      panel[k * kPanel] = v;
      s += v * v;
    }
    nb[j] = s;
  }
  std::vector<double> rowsum(n, 0.0), rowmax(n, 0.0);
  const Packed p{A.data(), Bp.data(), na.data(), nb.data(), n, m, d, panels, out, outf, rowsum.data(), rowmax.data()};
  static const RowsFn rows = pick_kernel();
  // Chunks of whole row blocks keep the L2 reuse of each thread intact.
  const std::size_t blocks = (n + kRowBlock - 1) / kRowBlock;
  parallel_for(0, blocks, threads, [&](std::size_t b0, std::size_t b1, std::size_t) {
    rows(p, b0 * kRowBlock, std::min(n, b1 * kRowBlock));
  });
  double total = 0.0, mx = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    total += rowsum[i];
    mx = std::max(mx, rowmax[i]);
  }
  if (max_cost) *max_cost = mx;
  if (mean_cost) *mean_cost = total / (static_cast<double>(n) * static_cast<double>(m));
}

}  // namespace

void squared_euclidean_costs(const float* a, std::size_t n, const float* b, std::size_t m, std::size_t d, double* out,
                             int threads) {
  compute_costs(a, n, b, m, d, out, nullptr, threads, nullptr, nullptr);
}

namespace detail {
namespace {

std::string fmt_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void check_features(const float* x, std::size_t count, std::size_t d, const char* name, const char* solver,
                    bool single_precision) {
  if (x == nullptr)
    throw invalid_argument(std::string(solver) + ": parameter '" + name +
                           "' must point to the feature rows, received a null pointer");
  const std::size_t total = count * d;
  // Sinkhorn stores squared distances as float32: bound |x| so that any cost, at most
  // 4·d·max|x|², stays far below FLT_MAX instead of overflowing to inf/NaN. The exact
  // solver's float64 costs hold any finite float32 feature.
  const double limit =
      single_precision ? std::sqrt(3.0e38 / (16.0 * static_cast<double>(d))) : std::numeric_limits<double>::infinity();
  for (std::size_t k = 0; k < total; ++k) {
    if (!std::isfinite(x[k]))
      throw invalid_argument(std::string(solver) + ": parameter '" + name +
                             "' must contain finite features, received " + fmt_double(x[k]) + " at row " +
                             std::to_string(k / d) + ", column " + std::to_string(k % d));
    if (std::fabs(x[k]) > limit)
      throw invalid_argument(std::string(solver) + ": parameter '" + name +
                             "' must contain features of magnitude <= " + fmt_double(limit) +
                             " (larger ones overflow the cost matrix), received " + fmt_double(x[k]) + " at row " +
                             std::to_string(k / d) + ", column " + std::to_string(k % d));
  }
}

}  // namespace

std::vector<double> normalised_weights(const double* w, std::size_t count, const char* name, const char* solver) {
  std::vector<double> out(count);
  if (w == nullptr) {
    // 1/count directly (not 1 summed and divided) so uniform weights are the correctly
    // rounded float64 value.
    std::fill(out.begin(), out.end(), 1.0 / static_cast<double>(count));
    return out;
  }
  double sum = 0.0;
  for (std::size_t i = 0; i < count; ++i) {
    if (!std::isfinite(w[i]) || w[i] < 0.0)
      throw invalid_argument(std::string(solver) + ": parameter '" + name +
                             "' must hold finite weights >= 0, received " + fmt_double(w[i]) + " at index " +
                             std::to_string(i));
    sum += w[i];
  }
  if (!(sum > 0.0) || !std::isfinite(sum))
    throw invalid_argument(std::string(solver) + ": parameter '" + name +
                           "' must have a positive finite sum, received sum " + fmt_double(sum));
  for (std::size_t i = 0; i < count; ++i) out[i] = w[i] / sum;
  return out;
}

PreparedTransport prepare_transport(const TransportProblem& pr, int threads, const char* solver,
                                    bool single_precision) {
  const std::string s(solver);
  if (pr.n == 0) throw invalid_argument(s + ": parameter 'n' (source point count) must be >= 1, received 0");
  if (pr.m == 0) throw invalid_argument(s + ": parameter 'm' (target point count) must be >= 1, received 0");
  if (pr.d == 0) throw invalid_argument(s + ": parameter 'd' (feature dimension) must be >= 1, received 0");
  constexpr std::size_t kMaxEntries = std::size_t(1) << 28;
  if (pr.n > kMaxEntries || pr.m > kMaxEntries || pr.n * pr.m > kMaxEntries)
    throw invalid_argument(s + ": n·m must be <= 2^28 (a 2 GiB cost matrix), received n = " + std::to_string(pr.n) +
                           ", m = " + std::to_string(pr.m));
  if (pr.d > kMaxEntries || pr.d * (pr.n + pr.m) > (std::size_t(1) << 34))
    throw invalid_argument(s +
                           ": parameter 'd' is too large for these point counts, received d = " + std::to_string(pr.d));
  check_features(pr.a, pr.n, pr.d, "a", solver, single_precision);
  check_features(pr.b, pr.m, pr.d, "b", solver, single_precision);
  std::vector<double> wa = normalised_weights(pr.wa, pr.n, "wa", solver);
  std::vector<double> wb = normalised_weights(pr.wb, pr.m, "wb", solver);

  // Drop zero-mass points; copy features only when something is dropped.
  auto compact = [&](const float* x, std::size_t count, std::vector<double>& w,
                     std::vector<float>& store) -> std::pair<const float*, std::size_t> {
    std::size_t kept = 0;
    for (double v : w) kept += v > 0.0;
    if (kept == count) return {x, count};
    store.resize(kept * pr.d);
    std::vector<double> wk;
    wk.reserve(kept);
    for (std::size_t i = 0; i < count; ++i) {
      if (!(w[i] > 0.0)) continue;
      std::copy(x + i * pr.d, x + (i + 1) * pr.d, store.begin() + wk.size() * pr.d);
      wk.push_back(w[i]);
    }
    w.swap(wk);
    return {store.data(), kept};
  };
  std::vector<float> sa, sb;
  auto [a, n] = compact(pr.a, pr.n, wa, sa);
  auto [b, m] = compact(pr.b, pr.m, wb, sb);

  PreparedTransport out;
  out.n = n;
  out.m = m;
  out.wa = std::move(wa);
  out.wb = std::move(wb);
  double mx = 0.0, mean = 0.0;
  if (single_precision) {
    out.costs_f32.reset(new float[n * m]);
    compute_costs(a, n, b, m, pr.d, nullptr, out.costs_f32.get(), threads, &mx, &mean);
  } else {
    out.costs.reset(new double[n * m]);
    compute_costs(a, n, b, m, pr.d, out.costs.get(), nullptr, threads, &mx, &mean);
  }
  out.max_cost = mx;
  out.mean_cost = mean;
  if (!std::isfinite(mx) || !std::isfinite(mean))
    throw invalid_argument(s +
                           ": parameters 'a'/'b' give squared distances that overflow "
                           "float64; scale the features down");
  return out;
}

}  // namespace detail
}  // namespace p2sam::core
