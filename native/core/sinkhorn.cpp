// Log-domain Sinkhorn (entropic optimal transport) with float64 potentials.
//
// With eps = options.epsilon · mean(C), the plan is P_ij = exp((f_i + g_j - C_ij)/eps)
// and the alternating updates are
//   f_i = eps·log a_i - eps·LSE_j((g_j - C_ij)/eps)     (rows sum to a exactly)
//   g_j = eps·log b_j - eps·LSE_i((f_i - C_ij)/eps)     (columns sum to b exactly)
// Every log-sum-exp subtracts its maximum first, so no exponent is positive and nothing
// overflows or turns into NaN however small eps is. exp itself is a vectorisable
// polynomial (libm's exp does not vectorise without -ffast-math): the iteration cost is
// two passes with exp over the n×m matrix.
//
// The column log-sum-exp also yields, for free, the column sums of the plan (f, g_old)
// that the row update just produced: colsum_j = exp((g_old_j + eps·LSE_j)/eps). Their L1
// distance to b is the stopping criterion and the reported marginal_error; when it is
// below tolerance (or the iteration cap is reached) the solver stops *before* applying
// the column update, so the returned cost is <P, C> for a plan with exact row sums.

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "cost_matrix.hpp"
#include "errors.hpp"
#include "parallel.hpp"
#include "wasserstein.hpp"

// Vector types wider than the baseline ISA only appear inside functions compiled for
// that ISA (target attributes); the ABI note GCC emits for the templates is moot.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace p2sam::core {
namespace {

template <typename V>
inline __attribute__((always_inline)) V splat(double s) {
  V v;
  for (std::size_t l = 0; l < sizeof(V) / sizeof(double); ++l) v[l] = s;
  return v;
}

// exp on float64 lanes: x = n·ln2 + r with |r| <= ln2/2, e^r by its Taylor polynomial
// of degree 11 (truncation < 7e-15 relative), 2^n assembled in the exponent bits.
// Inputs are clamped to [-708, 708] so 2^n stays a normal number; e^-708 ≈ 3e-308 is
// negligible next to the 1 that every log-sum-exp contains.
template <typename V, typename VI>
inline __attribute__((always_inline)) V vexp(const V& xin) {
  V x = xin;
  const V lo = splat<V>(-708.0), hi = splat<V>(708.0);
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  // 1.5·2^52: adding it rounds to an integer held in the low mantissa bits.
  const V magic = splat<V>(6755399441055744.0);
  const V t = x * splat<V>(1.4426950408889634074) + magic;
  const V n = t - magic;
  V r = x - n * splat<V>(0.693147180369123816490);
  r = r - n * splat<V>(1.90821492927058770002e-10);
  V p = splat<V>(1.0 / 39916800.0);
  p = p * r + splat<V>(1.0 / 3628800.0);
  p = p * r + splat<V>(1.0 / 362880.0);
  p = p * r + splat<V>(1.0 / 40320.0);
  p = p * r + splat<V>(1.0 / 5040.0);
  p = p * r + splat<V>(1.0 / 720.0);
  p = p * r + splat<V>(1.0 / 120.0);
  p = p * r + splat<V>(1.0 / 24.0);
  p = p * r + splat<V>(1.0 / 6.0);
  p = p * r + splat<V>(0.5);
  p = p * r + splat<V>(1.0);
  p = p * r + splat<V>(1.0);
  const VI ni = (VI)t - (VI)magic;
  const VI bits = (ni + 1023) << 52;
  return p * (V)bits;
}

template <typename V>
inline __attribute__((always_inline)) V vload(const double* p) {
  V v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
template <typename V>
inline __attribute__((always_inline)) void vstore(double* p, const V& v) {
  __builtin_memcpy(p, &v, sizeof v);
}
template <typename V>
inline __attribute__((always_inline)) double hmax(const V& v) {
  double m = v[0];
  for (std::size_t l = 1; l < sizeof(V) / sizeof(double); ++l) m = v[l] > m ? v[l] : m;
  return m;
}
template <typename V>
inline __attribute__((always_inline)) double hsum(const V& v) {
  double s = 0.0;
  for (std::size_t l = 0; l < sizeof(V) / sizeof(double); ++l) s += v[l];
  return s;
}

template <typename V, typename VF>
inline __attribute__((always_inline)) V vloadf(const float* p) {
  VF v;
  __builtin_memcpy(&v, p, sizeof v);
  return __builtin_convertvector(v, V);
}

// The inner loops, templated on the vector type so each ISA gets its own copy. Costs
// are float32 (half the memory traffic; the iterations are bandwidth-bound), widened
// to float64 lane by lane; everything else is float64.
template <typename V, typename VI, typename VF>
struct Loops {
  static constexpr std::size_t L = sizeof(V) / sizeof(double);

  // sum_j exp((g_j - c_j + shift)·inv_eps)
  static inline __attribute__((always_inline)) double row_sum(const float* c, const double* g,
                                                              std::size_t m, double shift,
                                                              double inv_eps) {
    const V vs = splat<V>(shift), vi = splat<V>(inv_eps);
    V s0 = splat<V>(0.0), s1 = s0;
    std::size_t j = 0;
    for (; j + 2 * L <= m; j += 2 * L) {
      s0 += vexp<V, VI>((vload<V>(g + j) - vloadf<V, VF>(c + j) + vs) * vi);
      s1 += vexp<V, VI>((vload<V>(g + j + L) - vloadf<V, VF>(c + j + L) + vs) * vi);
    }
    double s = hsum(s0 + s1);
    for (; j < m; ++j) s += vexp<V, VI>(splat<V>((g[j] - c[j] + shift) * inv_eps))[0];
    return s;
  }

  // max_j (g_j - c_j)
  static inline __attribute__((always_inline)) double row_max(const float* c, const double* g,
                                                              std::size_t m) {
    V m0 = splat<V>(-std::numeric_limits<double>::infinity());
    std::size_t j = 0;
    for (; j + L <= m; j += L) {
      const V x = vload<V>(g + j) - vloadf<V, VF>(c + j);
      m0 = x > m0 ? x : m0;
    }
    double best = hmax(m0);
    for (; j < m; ++j) best = std::max(best, g[j] - static_cast<double>(c[j]));
    return best;
  }

  // colsum_j += exp((f + sh_j - c_j)·inv_eps)
  static inline __attribute__((always_inline)) void col_sum(const float* c, double f,
                                                            const double* sh, double* colsum,
                                                            std::size_t len, double inv_eps) {
    const V vf = splat<V>(f), vi = splat<V>(inv_eps);
    std::size_t j = 0;
    for (; j + L <= len; j += L) {
      const V e = vexp<V, VI>((vf + vload<V>(sh + j) - vloadf<V, VF>(c + j)) * vi);
      vstore<V>(colsum + j, vload<V>(colsum + j) + e);
    }
    for (; j < len; ++j) colsum[j] += vexp<V, VI>(splat<V>((f + sh[j] - c[j]) * inv_eps))[0];
  }

  // colmax_j = max(colmax_j, f - c_j)
  static inline __attribute__((always_inline)) void col_max(const float* c, double f,
                                                            double* colmax, std::size_t len) {
    const V vf = splat<V>(f);
    std::size_t j = 0;
    for (; j + L <= len; j += L) {
      const V x = vf - vloadf<V, VF>(c + j);
      const V cm = vload<V>(colmax + j);
      vstore<V>(colmax + j, x > cm ? x : cm);
    }
    for (; j < len; ++j) colmax[j] = std::max(colmax[j], f - static_cast<double>(c[j]));
  }

  // sum_j exp((f + g_j - c_j)·inv_eps)·c_j
  static inline __attribute__((always_inline)) double row_cost(const float* c, const double* g,
                                                               std::size_t m, double f,
                                                               double inv_eps) {
    const V vf = splat<V>(f), vi = splat<V>(inv_eps);
    V s = splat<V>(0.0);
    std::size_t j = 0;
    for (; j + L <= m; j += L) {
      const V cj = vloadf<V, VF>(c + j);
      s += vexp<V, VI>((vf + vload<V>(g + j) - cj) * vi) * cj;
    }
    double total = hsum(s);
    for (; j < m; ++j)
      total += vexp<V, VI>(splat<V>((f + g[j] - c[j]) * inv_eps))[0] * static_cast<double>(c[j]);
    return total;
  }
};

struct SinkhornKernels {
  double (*row_sum)(const float*, const double*, std::size_t, double, double);
  double (*row_max)(const float*, const double*, std::size_t);
  void (*col_sum)(const float*, double, const double*, double*, std::size_t, double);
  void (*col_max)(const float*, double, double*, std::size_t);
  double (*row_cost)(const float*, const double*, std::size_t, double, double);
};

#define P2SAM_SK_WRAPPERS(ATTR, SUFFIX, V, VI, VF)                                            \
  ATTR double row_sum_##SUFFIX(const float* c, const double* g, std::size_t m, double s,      \
                               double i) {                                                   \
    return Loops<V, VI, VF>::row_sum(c, g, m, s, i);                                         \
  }                                                                                          \
  ATTR double row_max_##SUFFIX(const float* c, const double* g, std::size_t m) {             \
    return Loops<V, VI, VF>::row_max(c, g, m);                                               \
  }                                                                                          \
  ATTR void col_sum_##SUFFIX(const float* c, double f, const double* sh, double* cs,         \
                             std::size_t n, double i) {                                      \
    Loops<V, VI, VF>::col_sum(c, f, sh, cs, n, i);                                           \
  }                                                                                          \
  ATTR void col_max_##SUFFIX(const float* c, double f, double* cm, std::size_t n) {          \
    Loops<V, VI, VF>::col_max(c, f, cm, n);                                                  \
  }                                                                                          \
  ATTR double row_cost_##SUFFIX(const float* c, const double* g, std::size_t m, double f,    \
                                double i) {                                                  \
    return Loops<V, VI, VF>::row_cost(c, g, m, f, i);                                        \
  }                                                                                          \
  SinkhornKernels kernels_##SUFFIX() {                                                       \
    return {row_sum_##SUFFIX, row_max_##SUFFIX, col_sum_##SUFFIX, col_max_##SUFFIX,          \
            row_cost_##SUFFIX};                                                              \
  }

typedef double v2d __attribute__((vector_size(16)));
typedef long long v2i __attribute__((vector_size(16)));
typedef float v2f __attribute__((vector_size(8)));
P2SAM_SK_WRAPPERS(, portable, v2d, v2i, v2f)

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(P2SAM_NO_SIMD_DISPATCH)
#define P2SAM_SINKHORN_DISPATCH 1
typedef double v4d __attribute__((vector_size(32)));
typedef long long v4i __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
typedef double v8d __attribute__((vector_size(64)));
typedef long long v8i __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));
// The always_inline helpers are inlined into these wrappers and so compiled for the
// wrapper's target.
P2SAM_SK_WRAPPERS(__attribute__((target("avx2,fma"))), avx2, v4d, v4i, v4f)
P2SAM_SK_WRAPPERS(__attribute__((target("avx512f"))), avx512, v8d, v8i, v8f)
#endif
#undef P2SAM_SK_WRAPPERS

SinkhornKernels pick_kernels() {
#ifdef P2SAM_SINKHORN_DISPATCH
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return kernels_avx512();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return kernels_avx2();
#endif
  return kernels_portable();
}

// A sum of exponentials below this is treated as underflowed and recomputed with the
// maximum as shift (terms are clamped at e^-708, so m·e^-708 must be negligible).
constexpr double kUnderflow = 1e-250;

}  // namespace

TransportResult wasserstein_sinkhorn(const TransportProblem& problem,
                                     const SinkhornOptions& options, int threads) {
  const char* solver = "wasserstein_sinkhorn";
  if (!(options.epsilon > 0.0) || !std::isfinite(options.epsilon))
    throw invalid_argument(std::string(solver) +
                           ": option 'epsilon' must be a finite number > 0, received " +
                           std::to_string(options.epsilon));
  if (options.max_iterations < 1)
    throw invalid_argument(std::string(solver) + ": option 'max_iterations' must be >= 1, received " +
                           std::to_string(options.max_iterations));
  if (!(options.tolerance >= 0.0) || !std::isfinite(options.tolerance))
    throw invalid_argument(std::string(solver) +
                           ": option 'tolerance' must be a finite number >= 0, received " +
                           std::to_string(options.tolerance));
  detail::PreparedTransport p = detail::prepare_transport(problem, threads, solver, true);
  TransportResult result;
  if (p.max_cost == 0.0) {
    // Every pair of kept points coincides: any plan costs 0.
    result.cost = 0.0;
    result.converged = true;
    return result;
  }
  const double eps = options.epsilon * p.mean_cost;
  if (!(eps >= std::numeric_limits<double>::min()))
    throw invalid_argument(std::string(solver) +
                           ": option 'epsilon' is too small for this cost scale (epsilon·mean "
                           "cost underflows float64)");
  const double inv_eps = 1.0 / eps;
  static const SinkhornKernels K = pick_kernels();

  const std::size_t n = p.n, m = p.m;
  const float* C = p.costs_f32.get();
  std::vector<double> f(n, 0.0), g(m, 0.0), g_next(m), log_a(n), log_b(m);
  for (std::size_t i = 0; i < n; ++i) log_a[i] = eps * std::log(p.wa[i]);
  for (std::size_t j = 0; j < m; ++j) log_b[j] = eps * std::log(p.wb[j]);
  std::vector<double> colsum(m), colmax(m), colerr(m);
  // Below ~2^18 entries a pass takes well under a millisecond: spawning threads twice
  // per iteration would cost more than it saves.
  const int workers =
      n * m < (std::size_t(1) << 18) ? 1 : (threads <= 0 ? default_thread_count() : threads);

  double err = std::numeric_limits<double>::infinity();
  int it = 0;
  for (;;) {
    ++it;
    // Row update. S = row sum of the current plan (f_old, g); its entries are <= 1
    // after a column update, so with f_old as the shift no exponent is positive.
    parallel_for(0, n, workers, [&](std::size_t r0, std::size_t r1, std::size_t) {
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
    }, 16);
    // Column sums T_j of the plan (f, g): the stopping criterion, and the column
    // update g_j += eps·log(b_j / T_j). Each worker owns a column range and walks all
    // rows over it, so there are no per-thread accumulators to merge.
    parallel_for(0, m, workers, [&](std::size_t c0, std::size_t c1, std::size_t) {
      const std::size_t len = c1 - c0;
      std::fill(colsum.begin() + c0, colsum.begin() + c1, 0.0);
      for (std::size_t i = 0; i < n; ++i)
        K.col_sum(C + i * m + c0, f[i], g.data() + c0, colsum.data() + c0, len, inv_eps);
      bool underflow = false;
      for (std::size_t j = c0; j < c1; ++j) {
        const double t = colsum[j];
        if (t > kUnderflow && t < std::numeric_limits<double>::infinity()) {
          g_next[j] = log_b[j] + g[j] - eps * std::log(t);
          colerr[j] = std::fabs(t - p.wb[j]);
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
        colerr[j] = std::fabs(std::exp(std::min((g[j] + lse) * inv_eps, 700.0)) - p.wb[j]);
      }
    }, 64);
    err = 0.0;
    for (std::size_t j = 0; j < m; ++j) err += colerr[j];
    if (err < options.tolerance || it >= options.max_iterations) break;
    g.swap(g_next);
  }

  // Per-row costs summed in row order, so the result does not depend on the threads.
  std::vector<double> row_costs(n);
  parallel_for(0, n, workers, [&](std::size_t r0, std::size_t r1, std::size_t) {
    for (std::size_t i = r0; i < r1; ++i)
      row_costs[i] = K.row_cost(C + i * m, g.data(), m, f[i], inv_eps);
  }, 16);
  double cost = 0.0;
  for (double v : row_costs) cost += v;
  result.cost = cost;
  result.converged = err < options.tolerance;
  result.iterations = it;
  result.marginal_error = err;
  return result;
}

}  // namespace p2sam::core
