// Entropic optimal transport (Sinkhorn) with float64 potentials and scalings.
//
// With eps = options.epsilon · mean(C), the entropic plan is
//   P_ij = exp((f_i + g_j - C_ij)/eps)
// for dual potentials f, g, and Sinkhorn alternates a row update (rows sum to a) and a
// column update (columns sum to b). Two representations of the same iteration are used:
//
// 1. Scaling ("kernel") domain, the fast path. Potentials (f̂, ĝ) are frozen into a
//    float32 kernel K_ij = exp((f̂_i + ĝ_j - C_ij)/eps) and the iteration runs on
//    scalings u, v with P = diag(u)·K·diag(v):
//      u_i = a_i / (K v)_i,   v_j = b_j / (Kᵀ u)_j.
//    An iteration is then two matrix-vector products instead of two passes of exp, and
//    both products share one sweep over K: a chunk of rows gives (K v)_i, hence u_i,
//    and is then added, scaled by u_i, into the column sums Kᵀu while it is still in
//    L2. The kernels work on four rows at a time so that each load of v and each
//    load/store of the column sums serves four rows.
//    Float32 K is enough: the costs are already float32, whose rounding perturbs the
//    kernel by |C|/eps·2^-24 relative, far more than K's own 2^-24.
//    Numerical safety comes from absorption (Schmitzer's stabilised scaling): whenever a
//    u_i or v_j leaves [e^-T, e^T] the scalings are folded into the potentials
//    (f̂ += eps·log u, ĝ += eps·log v) and K is rebuilt, so K is the current plan itself
//    (entries <= 1) and u = v = 1. Entries that underflow float32 then carry mass below
//    FLT_MIN·e^(2T) ≈ 3e-21 (T = 20), negligible next to any tolerance a caller can ask
//    for.
//    The start is the Hungarian-style reduction f̂_i = min_j C_ij, ĝ_j = min_i(C_ij - f̂_i),
//    which leaves an entry exactly 1 in every row and column of K, so no row or column
//    of the first kernel is all zeros however small eps is.
// 2. Log domain, the fallback: the same updates as log-sum-exps over C (a max
//    subtracted first, so nothing overflows). Used when the scaling path cannot stay
//    accurate: a row or column of a rebuilt kernel underflowed completely (extreme
//    weights or tiny eps), or the potentials move so fast that K would be rebuilt
//    nearly every iteration (tiny eps), where the log domain is cheaper.
//
// Over-relaxation. Plain Sinkhorn converges linearly with a rate θ² close to 1 at small
// eps (hundreds of iterations). The over-relaxed iteration
//   u ← u^(1-ω)·(a / K v)^ω,  v ← v^(1-ω)·(b / Kᵀu)^ω
// has the same fixed point; near it, the linearised iteration is SOR on a 2-cyclic
// system, so (Young's theory, applied to Sinkhorn by Lehmann, von Renesse, Sambale and
// Uschmajew, "A note on overrelaxation in the Sinkhorn algorithm", 2021) the choice
//   ω* = 2 / (1 + sqrt(1 - θ²))
// gives the rate ω* - 1. θ² is estimated from the observed error ratios of plain
// iterations once they settle; if the relaxed iteration stops making progress the
// solver returns to ω = 1, whose global convergence is guaranteed.
//
// eps-scaling. On clustered features (costs ≈ 0 within a cluster, 100-200·eps between
// clusters) the kernel at the requested eps is block-diagonal: mass that must cross
// between clusters rides on entries of e^-100 and below, which plain iterations raise
// only by a factor (1 + mismatch) per sweep, so they stall for thousands of sweeps. The
// solver therefore starts at a large eps (where every cluster is linked; chosen from the
// range of the reduced costs, see kStartRatio) and halves eps stage by stage down to the
// requested one; problems whose kernel is well linked at the requested eps skip this. Each stage starts
// from the previous stage's potentials (absorbed, so entries that carry mass are O(1) in
// the new kernel), extrapolated linearly in eps from the last two stages: on clustered
// data the potentials are nearly affine in eps (their entropic part is eps times the log
// of cluster sizes), so this lands close to the new stage's solution. Coarse stages stop
// at a loose tolerance or after a few dozen sweeps; only the last stage is run to the
// requested tolerance, and the last sweep of the budget always runs at the requested
// eps, so the plan returned is always of the documented form.
//
// Newton steps. Even from a good start the final stage can converge slowly when a
// cluster's surplus crosses through few entries: the error then falls by a factor
// close to 1 per sweep (the slow mode is a near-constant shift of one cluster's
// potentials). When the error falls less than 2x over kStallWindow sweeps, one Newton
// step is taken on the semi-dual F(v) = <b, log v> - <a, log(K v)> (concave): right
// after a plain row update its Hessian is -S with S = diag(c) - Pᵀ·diag(1/a)·P (c the
// column sums of P), a graph Laplacian whose smallest eigenvalues are exactly those
// slow modes. S y = b - c is solved by conjugate gradients (Jacobi-preconditioned by c;
// S·p costs one fused sweep, like an iteration), the step v ← v·e^(τy) is capped at
// kNewtonMaxStep in log scale and τ is backtracked until F rises by an Armijo fraction;
// a step that does not is dropped. Its sweeps count as iterations.
//
// Stopping rule and the reported result are those of plain Sinkhorn: the L1 distance
// between the column sums and b of the plan right after a plain (ω = 1) row update,
// whose rows are exact. With ω = 1 that number falls out of every sweep. With ω > 1
// the sweep's column sums belong to the relaxed row scalings, so when they fall below
// the tolerance the next sweep is done with ω = 1 to measure the error honestly (and
// relaxation resumes if it is not yet below). The final cost <P, C> is computed once,
// for the plan after the last row update.
//
// Determinism: the row sweep is split into blocks fixed by the problem size alone, each
// with its own column accumulator, merged in block order; so results do not depend on
// the number of threads.

#include <algorithm>
#include <atomic>
#include <cfloat>
#include <cmath>
#include <condition_variable>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(P2SAM_NO_SIMD_DISPATCH)
#include <immintrin.h>
#endif

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

// log on positive, normal float64 lanes: x = 2^e·m with m in [sqrt(1/2), sqrt(2)),
// log m = 2·atanh(s), s = (m-1)/(m+1), |s| <= 0.172, by its odd series to s^21
// (truncation < 1e-17).
template <typename V, typename VI>
inline __attribute__((always_inline)) V vlog(const V& x) {
  VI bits = (VI)x;
  VI e = ((bits >> 52) & 0x7ff) - 1023;
  V mant = (V)((bits & 0x000fffffffffffffLL) | 0x3ff0000000000000LL);  // in [1, 2)
  const auto big = mant > splat<V>(1.4142135623730951);
  mant = big ? mant * splat<V>(0.5) : mant;
  e = e - (VI)big;  // comparison lanes are -1 where true
  const V sv = (mant - splat<V>(1.0)) / (mant + splat<V>(1.0));
  const V z = sv * sv;
  V p = splat<V>(1.0 / 21.0);
  p = p * z + splat<V>(1.0 / 19.0);
  p = p * z + splat<V>(1.0 / 17.0);
  p = p * z + splat<V>(1.0 / 15.0);
  p = p * z + splat<V>(1.0 / 13.0);
  p = p * z + splat<V>(1.0 / 11.0);
  p = p * z + splat<V>(1.0 / 9.0);
  p = p * z + splat<V>(1.0 / 7.0);
  p = p * z + splat<V>(1.0 / 5.0);
  p = p * z + splat<V>(1.0 / 3.0);
  p = p * z + splat<V>(1.0);
  return __builtin_convertvector(e, V) * splat<V>(0.6931471805599453094) +
         splat<V>(2.0) * sv * p;
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
template <typename V, typename VF>
inline __attribute__((always_inline)) void vstoref(float* p, const V& v) {
  const VF f = __builtin_convertvector(v, VF);
  __builtin_memcpy(p, &f, sizeof f);
}

// The inner loops, templated on the vector type so each ISA gets its own copy. Costs
// and the kernel are float32 (half the memory traffic; the sweeps are bandwidth-bound),
// widened to float64 lane by lane; everything else is float64. Every reduction has a
// fixed lane/accumulator order, so a given ISA always gives the same bits.
template <typename V, typename VI, typename VF>
struct Loops {
  static constexpr std::size_t L = sizeof(V) / sizeof(double);

  // ---- log domain ----

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

  // max_j (g_j - c_j); with g = nullptr, max_j (-c_j)
  static inline __attribute__((always_inline)) double row_max(const float* c, const double* g,
                                                              std::size_t m) {
    V m0 = splat<V>(-std::numeric_limits<double>::infinity());
    std::size_t j = 0;
    if (g) {
      for (; j + L <= m; j += L) {
        const V x = vload<V>(g + j) - vloadf<V, VF>(c + j);
        m0 = x > m0 ? x : m0;
      }
    } else {
      for (; j + L <= m; j += L) {
        const V x = -vloadf<V, VF>(c + j);
        m0 = x > m0 ? x : m0;
      }
    }
    double best = hmax(m0);
    for (; j < m; ++j) best = std::max(best, (g ? g[j] : 0.0) - static_cast<double>(c[j]));
    return best;
  }

  // max_j (c_j - g_j)
  static inline __attribute__((always_inline)) double row_max_excess(const float* c,
                                                                     const double* g,
                                                                     std::size_t m) {
    V m0 = splat<V>(-std::numeric_limits<double>::infinity());
    std::size_t j = 0;
    for (; j + L <= m; j += L) {
      const V x = vloadf<V, VF>(c + j) - vload<V>(g + j);
      m0 = x > m0 ? x : m0;
    }
    double best = hmax(m0);
    for (; j < m; ++j) best = std::max(best, static_cast<double>(c[j]) - g[j]);
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

  // ---- scaling domain ----

  // k_j = exp((f + g_j - c_j)·inv_eps) rounded to float32; values below FLT_MIN become 0
  // (float32 subnormals would only cost time in later sweeps, their mass is nil).
  static inline __attribute__((always_inline)) void kernel_row(const float* c, double f,
                                                               const double* g, float* k,
                                                               std::size_t m, double inv_eps) {
    const V vf = splat<V>(f), vi = splat<V>(inv_eps), tiny = splat<V>(FLT_MIN),
            zero = splat<V>(0.0);
    std::size_t j = 0;
    for (; j + L <= m; j += L) {
      V e = vexp<V, VI>((vf + vload<V>(g + j) - vloadf<V, VF>(c + j)) * vi);
      e = e < tiny ? zero : e;
      vstoref<V, VF>(k + j, e);
    }
    for (; j < m; ++j) {
      const double e = vexp<V, VI>(splat<V>((f + g[j] - c[j]) * inv_eps))[0];
      k[j] = e < FLT_MIN ? 0.0f : static_cast<float>(e);
    }
  }

  // sum_j k_j·v_j
  static inline __attribute__((always_inline)) double dot(const float* k, const double* v,
                                                          std::size_t m) {
    V s0 = splat<V>(0.0), s1 = s0, s2 = s0, s3 = s0;
    std::size_t j = 0;
    for (; j + 4 * L <= m; j += 4 * L) {
      s0 += vloadf<V, VF>(k + j) * vload<V>(v + j);
      s1 += vloadf<V, VF>(k + j + L) * vload<V>(v + j + L);
      s2 += vloadf<V, VF>(k + j + 2 * L) * vload<V>(v + j + 2 * L);
      s3 += vloadf<V, VF>(k + j + 3 * L) * vload<V>(v + j + 3 * L);
    }
    for (; j + L <= m; j += L) s0 += vloadf<V, VF>(k + j) * vload<V>(v + j);
    double s = hsum((s0 + s1) + (s2 + s3));
    for (; j < m; ++j) s += static_cast<double>(k[j]) * v[j];
    return s;
  }

  // x_j ← x_j·(w_j / (d_j·x_j))^ω for j < len (ω = 1: x_j ← w_j / d_j exactly).
  // Returns min and max of the new x through lo/hi.
  static inline __attribute__((always_inline)) void relax(double* x, const double* w,
                                                          const double* d, std::size_t len,
                                                          double omega, double& lo,
                                                          double& hi) {
    V vlo = splat<V>(std::numeric_limits<double>::infinity()), vhi = -vlo;
    const V om = splat<V>(omega);
    std::size_t j = 0;
    for (; j + L <= len; j += L) {
      const V plain = vload<V>(w + j) / vload<V>(d + j);
      V nx = plain;
      if (omega != 1.0) {
        const V xj = vload<V>(x + j);
        nx = xj * vexp<V, VI>(om * vlog<V, VI>(plain / xj));
      }
      vstore<V>(x + j, nx);
      vlo = nx < vlo ? nx : vlo;
      vhi = nx > vhi ? nx : vhi;
    }
    double l = -hmax(-vlo), h = hmax(vhi);
    for (; j < len; ++j) {
      const double plain = w[j] / d[j];
      double nx = plain;
      if (omega != 1.0) nx = x[j] * vexp<V, VI>(splat<V>(omega * vlog<V, VI>(splat<V>(plain / x[j]))[0]))[0];
      x[j] = nx;
      l = std::min(l, nx);
      h = std::max(h, nx);
    }
    lo = l;
    hi = h;
  }

  // colsum_j = sum over blocks of acc[blk·m + j] (in block order); returns
  // sum_j |v_j·colsum_j - b_j|.
  static inline __attribute__((always_inline)) double merge(const double* acc, std::size_t blocks,
                                                            std::size_t m, const double* v,
                                                            const double* b, double* colsum) {
    V e = splat<V>(0.0);
    std::size_t j = 0;
    for (; j + L <= m; j += L) {
      V t = vload<V>(acc + j);
      for (std::size_t blk = 1; blk < blocks; ++blk) t += vload<V>(acc + blk * m + j);
      vstore<V>(colsum + j, t);
      const V r = vload<V>(v + j) * t - vload<V>(b + j);
      e += r < splat<V>(0.0) ? -r : r;
    }
    double err = hsum(e);
    for (; j < m; ++j) {
      double t = acc[j];
      for (std::size_t blk = 1; blk < blocks; ++blk) t += acc[blk * m + j];
      colsum[j] = t;
      err += std::fabs(v[j] * t - b[j]);
    }
    return err;
  }

  // acc_j += u·k_j
  static inline __attribute__((always_inline)) void axpy(const float* k, double u, double* acc,
                                                         std::size_t m) {
    const V vu = splat<V>(u);
    std::size_t j = 0;
    for (; j + L <= m; j += L) vstore<V>(acc + j, vload<V>(acc + j) + vu * vloadf<V, VF>(k + j));
    for (; j < m; ++j) acc[j] += u * static_cast<double>(k[j]);
  }

  // sum_j k_j·v_j·c_j
  static inline __attribute__((always_inline)) double dot_cost(const float* k, const float* c,
                                                               const double* v, std::size_t m) {
    V s = splat<V>(0.0);
    std::size_t j = 0;
    for (; j + L <= m; j += L)
      s += vloadf<V, VF>(k + j) * vload<V>(v + j) * vloadf<V, VF>(c + j);
    double total = hsum(s);
    for (; j < m; ++j) total += static_cast<double>(k[j]) * v[j] * static_cast<double>(c[j]);
    return total;
  }
};

struct SinkhornKernels {
  double (*row_sum)(const float*, const double*, std::size_t, double, double);
  double (*row_max)(const float*, const double*, std::size_t);
  double (*row_max_excess)(const float*, const double*, std::size_t);
  void (*col_sum)(const float*, double, const double*, double*, std::size_t, double);
  void (*col_max)(const float*, double, double*, std::size_t);
  double (*row_cost)(const float*, const double*, std::size_t, double, double);
  void (*kernel_row)(const float*, double, const double*, float*, std::size_t, double);
  double (*dot)(const float*, const double*, std::size_t);
  void (*axpy)(const float*, double, double*, std::size_t);
  double (*dot_cost)(const float*, const float*, const double*, std::size_t);
  void (*relax)(double*, const double*, const double*, std::size_t, double, double&, double&);
  double (*merge)(const double*, std::size_t, std::size_t, const double*, const double*, double*);
  // s[r] = K_r·v and acc += sum_r u_r·K_r over `rows` consecutive rows of K (row stride
  // m); filled in by pick_kernels with the widest implementation the CPU has.
  void (*dot_rows)(const float*, std::size_t, std::size_t, const double*, double*);
  void (*axpy_rows)(const float*, std::size_t, std::size_t, const double*, double*);
};

#define P2SAM_SK_WRAPPERS(ATTR, SUFFIX, V, VI, VF)                                            \
  ATTR double row_sum_##SUFFIX(const float* c, const double* g, std::size_t m, double s,      \
                               double i) {                                                   \
    return Loops<V, VI, VF>::row_sum(c, g, m, s, i);                                         \
  }                                                                                          \
  ATTR double row_max_##SUFFIX(const float* c, const double* g, std::size_t m) {             \
    return Loops<V, VI, VF>::row_max(c, g, m);                                               \
  }                                                                                          \
  ATTR double row_max_excess_##SUFFIX(const float* c, const double* g, std::size_t m) {      \
    return Loops<V, VI, VF>::row_max_excess(c, g, m);                                        \
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
  ATTR void kernel_row_##SUFFIX(const float* c, double f, const double* g, float* k,         \
                                std::size_t m, double i) {                                   \
    Loops<V, VI, VF>::kernel_row(c, f, g, k, m, i);                                          \
  }                                                                                          \
  ATTR double dot_##SUFFIX(const float* k, const double* v, std::size_t m) {                 \
    return Loops<V, VI, VF>::dot(k, v, m);                                                   \
  }                                                                                          \
  ATTR void axpy_##SUFFIX(const float* k, double u, double* acc, std::size_t m) {            \
    Loops<V, VI, VF>::axpy(k, u, acc, m);                                                    \
  }                                                                                          \
  ATTR double dot_cost_##SUFFIX(const float* k, const float* c, const double* v,             \
                                std::size_t m) {                                             \
    return Loops<V, VI, VF>::dot_cost(k, c, v, m);                                           \
  }                                                                                          \
  ATTR void relax_##SUFFIX(double* x, const double* w, const double* d, std::size_t len,     \
                           double om, double& lo, double& hi) {                              \
    Loops<V, VI, VF>::relax(x, w, d, len, om, lo, hi);                                       \
  }                                                                                          \
  ATTR double merge_##SUFFIX(const double* acc, std::size_t blocks, std::size_t m,           \
                             const double* v, const double* b, double* colsum) {             \
    return Loops<V, VI, VF>::merge(acc, blocks, m, v, b, colsum);                            \
  }                                                                                          \
  SinkhornKernels kernels_##SUFFIX() {                                                       \
    return {row_sum_##SUFFIX,    row_max_##SUFFIX, row_max_excess_##SUFFIX, col_sum_##SUFFIX, \
            col_max_##SUFFIX,    row_cost_##SUFFIX, kernel_row_##SUFFIX,                     \
            dot_##SUFFIX,        axpy_##SUFFIX,    dot_cost_##SUFFIX,                        \
            relax_##SUFFIX,      merge_##SUFFIX,   nullptr,                                  \
            nullptr};                                                                        \
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

// Row-blocked matrix-vector kernels: four rows at a time share each load of v (dot) and
// each load/store of the accumulator (axpy), which otherwise bound these loops. The
// accumulation order is fixed by the row grouping, not by threads.
void dot_rows_portable(const float* k, std::size_t rows, std::size_t m, const double* v,
                       double* s) {
  const SinkhornKernels p = kernels_portable();
  for (std::size_t r = 0; r < rows; ++r) s[r] = p.dot(k + r * m, v, m);
}
void axpy_rows_portable(const float* k, std::size_t rows, std::size_t m, const double* u,
                        double* acc) {
  const SinkhornKernels p = kernels_portable();
  for (std::size_t r = 0; r < rows; ++r) p.axpy(k + r * m, u[r], acc, m);
}

#ifdef P2SAM_SINKHORN_DISPATCH
// GCC 12's _mm512_cvtps_pd passes an intentionally undefined source operand, which
// -Wmaybe-uninitialized reports at every use.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
__attribute__((target("avx512f"))) void dot_rows_avx512(const float* k, std::size_t rows,
                                                        std::size_t m, const double* v,
                                                        double* s) {
  std::size_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    const float* k0 = k + r * m;
    const float* k1 = k0 + m;
    const float* k2 = k1 + m;
    const float* k3 = k2 + m;
    __m512d a0 = _mm512_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    std::size_t j = 0;
    for (; j + 8 <= m; j += 8) {
      const __m512d vj = _mm512_loadu_pd(v + j);
      a0 = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm256_loadu_ps(k0 + j)), vj, a0);
      a1 = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm256_loadu_ps(k1 + j)), vj, a1);
      a2 = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm256_loadu_ps(k2 + j)), vj, a2);
      a3 = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm256_loadu_ps(k3 + j)), vj, a3);
    }
    double t0 = _mm512_reduce_add_pd(a0), t1 = _mm512_reduce_add_pd(a1),
           t2 = _mm512_reduce_add_pd(a2), t3 = _mm512_reduce_add_pd(a3);
    for (; j < m; ++j) {
      t0 += static_cast<double>(k0[j]) * v[j];
      t1 += static_cast<double>(k1[j]) * v[j];
      t2 += static_cast<double>(k2[j]) * v[j];
      t3 += static_cast<double>(k3[j]) * v[j];
    }
    s[r] = t0;
    s[r + 1] = t1;
    s[r + 2] = t2;
    s[r + 3] = t3;
  }
  for (; r < rows; ++r) {
    const float* k0 = k + r * m;
    __m512d a0 = _mm512_setzero_pd(), a1 = a0;
    std::size_t j = 0;
    for (; j + 16 <= m; j += 16) {
      a0 = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm256_loadu_ps(k0 + j)), _mm512_loadu_pd(v + j), a0);
      a1 = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm256_loadu_ps(k0 + j + 8)),
                           _mm512_loadu_pd(v + j + 8), a1);
    }
    for (; j + 8 <= m; j += 8)
      a0 = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm256_loadu_ps(k0 + j)), _mm512_loadu_pd(v + j), a0);
    double t = _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
    for (; j < m; ++j) t += static_cast<double>(k0[j]) * v[j];
    s[r] = t;
  }
}

__attribute__((target("avx512f"))) void axpy_rows_avx512(const float* k, std::size_t rows,
                                                         std::size_t m, const double* u,
                                                         double* acc) {
  std::size_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    const float* k0 = k + r * m;
    const float* k1 = k0 + m;
    const float* k2 = k1 + m;
    const float* k3 = k2 + m;
    const __m512d u0 = _mm512_set1_pd(u[r]), u1 = _mm512_set1_pd(u[r + 1]),
                  u2 = _mm512_set1_pd(u[r + 2]), u3 = _mm512_set1_pd(u[r + 3]);
    std::size_t j = 0;
    for (; j + 8 <= m; j += 8) {
      __m512d a = _mm512_loadu_pd(acc + j);
      a = _mm512_fmadd_pd(u0, _mm512_cvtps_pd(_mm256_loadu_ps(k0 + j)), a);
      a = _mm512_fmadd_pd(u1, _mm512_cvtps_pd(_mm256_loadu_ps(k1 + j)), a);
      a = _mm512_fmadd_pd(u2, _mm512_cvtps_pd(_mm256_loadu_ps(k2 + j)), a);
      a = _mm512_fmadd_pd(u3, _mm512_cvtps_pd(_mm256_loadu_ps(k3 + j)), a);
      _mm512_storeu_pd(acc + j, a);
    }
    for (; j < m; ++j) {
      double a = acc[j];
      a = std::fma(u[r], static_cast<double>(k0[j]), a);
      a = std::fma(u[r + 1], static_cast<double>(k1[j]), a);
      a = std::fma(u[r + 2], static_cast<double>(k2[j]), a);
      a = std::fma(u[r + 3], static_cast<double>(k3[j]), a);
      acc[j] = a;
    }
  }
  for (; r < rows; ++r) {
    const float* k0 = k + r * m;
    const __m512d u0 = _mm512_set1_pd(u[r]);
    std::size_t j = 0;
    for (; j + 8 <= m; j += 8)
      _mm512_storeu_pd(acc + j, _mm512_fmadd_pd(u0, _mm512_cvtps_pd(_mm256_loadu_ps(k0 + j)),
                                                _mm512_loadu_pd(acc + j)));
    for (; j < m; ++j) acc[j] = std::fma(u[r], static_cast<double>(k0[j]), acc[j]);
  }
}

#pragma GCC diagnostic pop

__attribute__((target("avx2,fma"))) void dot_rows_avx2(const float* k, std::size_t rows,
                                                       std::size_t m, const double* v,
                                                       double* s) {
  auto hsum4 = [](__m256d x) __attribute__((target("avx2,fma"))) {
    const __m128d h = _mm_add_pd(_mm256_castpd256_pd128(x), _mm256_extractf128_pd(x, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
  };
  std::size_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    const float* k0 = k + r * m;
    const float* k1 = k0 + m;
    const float* k2 = k1 + m;
    const float* k3 = k2 + m;
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    std::size_t j = 0;
    for (; j + 4 <= m; j += 4) {
      const __m256d vj = _mm256_loadu_pd(v + j);
      a0 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(k0 + j)), vj, a0);
      a1 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(k1 + j)), vj, a1);
      a2 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(k2 + j)), vj, a2);
      a3 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(k3 + j)), vj, a3);
    }
    double t0 = hsum4(a0), t1 = hsum4(a1), t2 = hsum4(a2), t3 = hsum4(a3);
    for (; j < m; ++j) {
      t0 += static_cast<double>(k0[j]) * v[j];
      t1 += static_cast<double>(k1[j]) * v[j];
      t2 += static_cast<double>(k2[j]) * v[j];
      t3 += static_cast<double>(k3[j]) * v[j];
    }
    s[r] = t0;
    s[r + 1] = t1;
    s[r + 2] = t2;
    s[r + 3] = t3;
  }
  for (; r < rows; ++r) {
    const float* k0 = k + r * m;
    __m256d a0 = _mm256_setzero_pd(), a1 = a0;
    std::size_t j = 0;
    for (; j + 8 <= m; j += 8) {
      a0 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(k0 + j)), _mm256_loadu_pd(v + j), a0);
      a1 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(k0 + j + 4)),
                           _mm256_loadu_pd(v + j + 4), a1);
    }
    for (; j + 4 <= m; j += 4)
      a0 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(k0 + j)), _mm256_loadu_pd(v + j), a0);
    double t = hsum4(_mm256_add_pd(a0, a1));
    for (; j < m; ++j) t += static_cast<double>(k0[j]) * v[j];
    s[r] = t;
  }
}

__attribute__((target("avx2,fma"))) void axpy_rows_avx2(const float* k, std::size_t rows,
                                                        std::size_t m, const double* u,
                                                        double* acc) {
  std::size_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    const float* k0 = k + r * m;
    const float* k1 = k0 + m;
    const float* k2 = k1 + m;
    const float* k3 = k2 + m;
    const __m256d u0 = _mm256_set1_pd(u[r]), u1 = _mm256_set1_pd(u[r + 1]),
                  u2 = _mm256_set1_pd(u[r + 2]), u3 = _mm256_set1_pd(u[r + 3]);
    std::size_t j = 0;
    for (; j + 4 <= m; j += 4) {
      __m256d a = _mm256_loadu_pd(acc + j);
      a = _mm256_fmadd_pd(u0, _mm256_cvtps_pd(_mm_loadu_ps(k0 + j)), a);
      a = _mm256_fmadd_pd(u1, _mm256_cvtps_pd(_mm_loadu_ps(k1 + j)), a);
      a = _mm256_fmadd_pd(u2, _mm256_cvtps_pd(_mm_loadu_ps(k2 + j)), a);
      a = _mm256_fmadd_pd(u3, _mm256_cvtps_pd(_mm_loadu_ps(k3 + j)), a);
      _mm256_storeu_pd(acc + j, a);
    }
    for (; j < m; ++j) {
      double a = acc[j];
      a = std::fma(u[r], static_cast<double>(k0[j]), a);
      a = std::fma(u[r + 1], static_cast<double>(k1[j]), a);
      a = std::fma(u[r + 2], static_cast<double>(k2[j]), a);
      a = std::fma(u[r + 3], static_cast<double>(k3[j]), a);
      acc[j] = a;
    }
  }
  for (; r < rows; ++r) {
    const float* k0 = k + r * m;
    const __m256d u0 = _mm256_set1_pd(u[r]);
    std::size_t j = 0;
    for (; j + 4 <= m; j += 4)
      _mm256_storeu_pd(acc + j, _mm256_fmadd_pd(u0, _mm256_cvtps_pd(_mm_loadu_ps(k0 + j)),
                                                _mm256_loadu_pd(acc + j)));
    for (; j < m; ++j) acc[j] = std::fma(u[r], static_cast<double>(k0[j]), acc[j]);
  }
}
#endif

SinkhornKernels pick_kernels() {
#ifdef P2SAM_SINKHORN_DISPATCH
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    SinkhornKernels k = kernels_avx512();
    k.dot_rows = dot_rows_avx512;
    k.axpy_rows = axpy_rows_avx512;
    return k;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    SinkhornKernels k = kernels_avx2();
    k.dot_rows = dot_rows_avx2;
    k.axpy_rows = axpy_rows_avx2;
    return k;
  }
#endif
  SinkhornKernels k = kernels_portable();
  k.dot_rows = dot_rows_portable;
  k.axpy_rows = axpy_rows_portable;
  return k;
}

const SinkhornKernels& kernels() {
  static const SinkhornKernels k = pick_kernels();
  return k;
}

// A sum of exponentials below this is treated as underflowed and recomputed with the
// maximum as shift (terms are clamped at e^-708, so m·e^-708 must be negligible).
constexpr double kUnderflow = 1e-250;

// Absorption threshold T: scalings outside [e^-T, e^T] are folded into the potentials.
// An entry flushed to 0 at a rebuild had mass < FLT_MIN then, and the scalings can raise
// it by e^(2T) at most before the next rebuild: < 3e-21 per entry, < 1e-13 in all even
// at 4096².
constexpr double kAbsorbHigh = 4.8e8, kAbsorbLow = 1.0 / 4.8e8;  // ≈ e^±20

// Workers that persist for one solve. The scaling iterations are short (tens of
// microseconds for small problems), so starting threads per sweep, as parallel_for
// does, would cost more than the sweep; here each sweep is a generation bump that
// spinning (then sleeping) workers pick up.
class Team {
 public:
  // When the OS refuses a thread (pids limit, ulimit -u) the team is the threads that
  // did start; size() says how many, and callers partition the work by it.
  explicit Team(int workers) : workers_(std::max(1, workers)) {
    threads_.reserve(static_cast<std::size_t>(workers_ - 1));
    for (int w = 1; w < workers_; ++w) {
      try {
        threads_.emplace_back([this, w] { loop(w); });
      } catch (const std::system_error&) {
        workers_ = w;
        break;
      }
    }
  }
  ~Team() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }
  Team(const Team&) = delete;
  Team& operator=(const Team&) = delete;

  int size() const { return workers_; }

  // Runs fn(worker) on every worker and returns when all are done. fn must not throw
  // (the sweeps only do arithmetic on preallocated buffers).
  template <typename Fn>
  void run(Fn& fn) {
    if (workers_ == 1) {
      fn(0);
      return;
    }
    job_ = [](void* ctx, int w) { (*static_cast<Fn*>(ctx))(w); };
    ctx_ = &fn;
    pending_.store(workers_ - 1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    fn(0);
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
      if (spin < 4000) {
        pause();
      } else {
        std::unique_lock<std::mutex> lock(mutex_);
        done_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
      }
    }
  }

 private:
  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  void loop(int w) {
    unsigned seen = 0;
    for (;;) {
      unsigned g = generation_.load(std::memory_order_acquire);
      for (int spin = 0; g == seen && spin < 4000; ++spin) {
        pause();
        g = generation_.load(std::memory_order_acquire);
      }
      if (g == seen) {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        g = generation_.load(std::memory_order_acquire);
      }
      seen = g;
      if (stop_) return;
      job_(ctx_, w);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_one();
      }
    }
  }

  int workers_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::atomic<unsigned> generation_{0};
  std::atomic<int> pending_{0};
  bool stop_ = false;  // written under mutex_ before the generation bump that announces it
  void (*job_)(void*, int) = nullptr;
  void* ctx_ = nullptr;
};

struct Problem {
  std::size_t n, m;
  const float* C;
  const double* wa;
  const double* wb;
  double eps, inv_eps;
  int max_iterations;
  double tolerance;
};

// Log-domain Sinkhorn from potentials (f, g), continuing the iteration count `it`.
// The column log-sum-exp also yields, for free, the column sums of the plan (f, g_old)
// that the row update just produced: colsum_j = exp((g_old_j + eps·LSE_j)/eps). Their L1
// distance to b is the stopping criterion; when it is below tolerance (or the iteration
// cap is reached) the solver stops *before* the column update, so the returned cost is
// <P, C> for a plan with exact row sums.
TransportResult log_domain(const Problem& pr, std::vector<double> f, std::vector<double> g,
                           int it, int threads) {
  const SinkhornKernels& K = kernels();
  const std::size_t n = pr.n, m = pr.m;
  const double eps = pr.eps, inv_eps = pr.inv_eps;
  const float* C = pr.C;
  std::vector<double> g_next(m), log_a(n), log_b(m);
  for (std::size_t i = 0; i < n; ++i) log_a[i] = eps * std::log(pr.wa[i]);
  for (std::size_t j = 0; j < m; ++j) log_b[j] = eps * std::log(pr.wb[j]);
  std::vector<double> colsum(m), colmax(m), colerr(m);
  // Below ~2^18 entries a pass takes well under a millisecond: spawning threads twice
  // per iteration would cost more than it saves.
  const int workers =
      n * m < (std::size_t(1) << 18) ? 1 : (threads <= 0 ? default_thread_count() : threads);

  double err = std::numeric_limits<double>::infinity();
  for (;;) {
    ++it;
    // Row update. With f_old as the shift the exponents are those of the current plan;
    // if its row sum under- or overflows, the row maximum is used as the shift instead.
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
    }, 64);
    err = 0.0;
    for (std::size_t j = 0; j < m; ++j) err += colerr[j];
    if (err < pr.tolerance || it >= pr.max_iterations) break;
    g.swap(g_next);
  }

  // Per-row costs summed in row order, so the result does not depend on the threads.
  std::vector<double> row_costs(n);
  parallel_for(0, n, workers, [&](std::size_t r0, std::size_t r1, std::size_t) {
    for (std::size_t i = r0; i < r1; ++i)
      row_costs[i] = K.row_cost(C + i * m, g.data(), m, f[i], inv_eps);
  }, 16);
  TransportResult result;
  double cost = 0.0;
  for (double v : row_costs) cost += v;
  result.cost = cost;
  result.converged = err < pr.tolerance;
  result.iterations = it;
  result.marginal_error = err;
  return result;
}

// Chooses ω from the observed convergence (see the file comment). For SOR on a 2-cyclic
// system with Gauss-Seidel rate θ² (plain Sinkhorn's), the rate λ observed under a
// relaxation ω <= ω* satisfies Young's relation (λ + ω - 1)² = λ·ω²·θ², so θ² can be
// re-estimated under relaxation too: θ² = (λ + ω - 1)² / (λ·ω²). Sinkhorn is only
// asymptotically linear (its rate creeps up as the plan settles), so ω is re-derived
// whenever the observed rate has been steady for a few sweeps.
//
// Far from the solution (small eps: a long transient where the error barely moves) a
// steady ratio near 1 can be mistaken for slow linear convergence, and the relaxed
// iteration may then diverge. So relaxed progress is watched: the error may oscillate
// (complex eigenvalues at ω near ω*), but its envelope, the maximum over a segment of
// sweeps, must shrink from segment to segment, and it must never grow far beyond the
// error at which relaxation began. On failure ω returns to 1 and later estimates are
// capped halfway between 1 and the failed ω (but not below 1.5); after a few failures
// relaxation stays off until plain sweeps have reduced the error 100-fold.
class Relaxation {
 public:
  double omega() const { return omega_; }

  // Called with the error of every sweep and the ω its row update used.
  void observe(double err, double omega_used) {
    if (!(err > 0.0)) return;
    if (given_up_) {
      // Plain sweeps got 100x further than where relaxation last failed: the transient
      // is over, try again (within the cap).
      if (!(err < 1e-2 * fail_err_)) return;
      given_up_ = false;
      failures_ = 0;
      last_ = 0.0;
      count_ = 0;
    }
    if (omega_used != omega_) {
      // A plain verification sweep amid relaxed ones: its error is not on the same
      // trajectory, so restart the rate window after it.
      last_ = 0.0;
      count_ = 0;
      return;
    }
    if (omega_ > 1.0 && !progressing(err)) {
      ++failures_;
      fail_err_ = err;
      cap_ = std::max(1.0 + 0.5 * (omega_ - 1.0), 1.5);
      omega_ = 1.0;
      last_ = 0.0;
      count_ = 0;
      given_up_ = failures_ >= kMaxFailures;
      return;
    }
    if (last_ > 0.0) {
      ratios_[count_ % kWindow] = err / last_;
      ++count_;
    }
    last_ = err;
    if (count_ < kWindow) return;
    double lo = ratios_[0], hi = ratios_[0], logsum = 0.0;
    for (double r : ratios_) {
      lo = std::min(lo, r);
      hi = std::max(hi, r);
      logsum += std::log(r);
    }
    // Steady: the last ratios agree to within 2% (an oscillating error, the sign of
    // ω >= ω*, never is).
    if (!(hi < 1.0) || hi - lo > 0.02 * hi) return;
    const double lambda = std::exp(logsum / kWindow);
    const double w = omega_;
    const double theta2 = std::min((lambda + w - 1.0) * (lambda + w - 1.0) / (lambda * w * w),
                                   1.0 - 1e-9);
    const double target = std::min(2.0 / (1.0 + std::sqrt(1.0 - theta2)), cap_);
    if (target > omega_ + 1e-3) {
      if (omega_ == 1.0) {
        start_err_ = err;
        seg_prev_ = std::numeric_limits<double>::infinity();
        seg_cur_ = 0.0;
        seg_len_ = 0;
        strikes_ = 0;
      }
      omega_ = target;
      count_ = 0;
    }
  }

 private:
  bool progressing(double err) {
    if (!std::isfinite(err) || err > 10.0 * start_err_) return false;
    seg_cur_ = std::max(seg_cur_, err);
    if (++seg_len_ < kSegment) return true;
    strikes_ = seg_cur_ > 0.9 * seg_prev_ ? strikes_ + 1 : 0;
    seg_prev_ = seg_cur_;
    seg_cur_ = 0.0;
    seg_len_ = 0;
    return strikes_ < 2;
  }

  static constexpr int kWindow = 5;
  static constexpr int kSegment = 12;
  static constexpr int kMaxFailures = 4;
  double omega_ = 1.0, cap_ = 1.95;
  double ratios_[kWindow] = {};
  int count_ = 0;
  double last_ = 0.0;
  double start_err_ = 0.0, seg_prev_ = 0.0, seg_cur_ = 0.0, fail_err_ = 0.0;
  int seg_len_ = 0, strikes_ = 0, failures_ = 0;
  bool given_up_ = false;
};

// eps-scaling schedule (see the file comment). R is the largest reduced cost
// C_ij - f̂_i - ĝ_j of the start, so the first kernel's entries lie in [e^(-R/eps), 1].
// Up to R ≈ 80·eps the plain iteration converges in well under a hundred sweeps
// (256-d Gaussian clouds at the default eps: R ≈ 50-61·eps), so there is no coarse
// stage. Beyond it (clustered features: R ≈ 110-180·eps) the first stage has
// eps ≈ R/16, where every entry is >= e^-16 and every cluster linked, and each further
// stage halves eps, so the potentials carried over are within a few eps of the new
// stage's solution. (Measured on the bench's 25 testkit problems: starting at R/32
// needs up to 735 iterations in all, R/16 up to 467, coarser starts no fewer.)
constexpr double kScalingThreshold = 80.0;
constexpr double kStartRatio = 16.0;
constexpr double kStageFactor = 0.5;
// A coarse stage ends when its marginal error drops below this, or after this many
// iterations: only its potentials matter, as the next stage's starting point.
constexpr double kStageTolerance = 1e-3;
constexpr int kStageIterations = 50;
// Newton steps: taken when the error fell less than 2x over kStallWindow sweeps; at most
// kCgMax conjugate-gradient products each, stopped at a kCgTolerance relative residual;
// a step moves no potential by more than kNewtonMaxStep·eps (the line search then
// decides how much of it to take).
constexpr int kStallWindow = 4;
constexpr int kCgMax = 50;
constexpr double kCgTolerance = 1e-3;
constexpr double kNewtonMaxStep = 8.0;

// eps of every stage, coarse to fine, ending at eps_final exactly: eps_final·2^k for
// k = K..0, K the smallest with eps_final·2^K >= R / kStartRatio.
std::vector<double> epsilon_schedule(double eps_final, double max_reduced) {
  int stages = 0;
  if (max_reduced > kScalingThreshold * eps_final) {
    const double start = max_reduced / kStartRatio;
    while (stages < 60 && eps_final * std::pow(1.0 / kStageFactor, stages) < start) ++stages;
  }
  std::vector<double> out;
  for (int k = stages; k >= 1; --k) out.push_back(eps_final * std::pow(1.0 / kStageFactor, k));
  out.push_back(eps_final);
  return out;
}

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
  const double eps_final = options.epsilon * p.mean_cost;
  if (!(eps_final >= std::numeric_limits<double>::min()))
    throw invalid_argument(std::string(solver) +
                           ": option 'epsilon' is too small for this cost scale (epsilon·mean "
                           "cost underflows float64)");
  const SinkhornKernels& K = kernels();
  const std::size_t n = p.n, m = p.m;
  const Problem pr{n,         m,
                   p.costs_f32.get(), p.wa.data(),
                   p.wb.data(),       eps_final,
                   1.0 / eps_final,   options.max_iterations,
                   options.tolerance};
  const float* C = pr.C;
  const double* a = pr.wa;
  const double* b = pr.wb;

  // Row blocks: fixed by the size alone (determinism), at least 2^17 entries each so a
  // block is worth a thread (a sweep over less takes tens of microseconds, comparable to
  // waking a thread on a busy machine), at most 16 (the merge costs blocks·m per sweep), an even
  // count when there are several so two threads get equal shares.
  const std::size_t entries = n * m;
  std::size_t blocks = std::max<std::size_t>(1, std::min<std::size_t>({n, 16, entries >> 17}));
  if (blocks > 2) blocks &= ~std::size_t(1);
  const int hw = threads <= 0 ? default_thread_count() : threads;
  Team team(static_cast<int>(std::min<std::size_t>(blocks, static_cast<std::size_t>(hw))));
  const std::size_t workers = static_cast<std::size_t>(team.size());
  auto block_rows = [&](std::size_t blk, std::size_t& r0, std::size_t& r1) {
    r0 = blk * n / blocks;
    r1 = (blk + 1) * n / blocks;
  };

  // Potentials frozen in the kernel, the kernel, scalings, per-block column sums.
  std::vector<double> fh(n), gh(m, 0.0), u(n, 1.0), v(m, 1.0), u_prev(n), s(n);
  std::unique_ptr<float[]> Kmat(new float[entries]);
  std::vector<double> acc(blocks * m), colsum(m);
  std::vector<char> block_flag(blocks);
  // Rows per chunk of the sweep: about 256 KiB of K, which stays in L2 between the
  // two uses.
  const std::size_t chunk = std::max<std::size_t>(1, (std::size_t(1) << 16) / m);

  // Reduction start: f̂_i = min_j C_ij, ĝ_j = min_i (C_ij - f̂_i).
  {
    auto rows = [&](int w) {
      for (std::size_t blk = w; blk < blocks; blk += workers) {
        std::size_t r0, r1;
        block_rows(blk, r0, r1);
        for (std::size_t i = r0; i < r1; ++i) fh[i] = -K.row_max(C + i * m, nullptr, m);
      }
    };
    team.run(rows);
    // Column minima via per-block maxima of (f̂_i - C_ij), merged in block order.
    std::fill(acc.begin(), acc.end(), -std::numeric_limits<double>::infinity());
    auto cols = [&](int w) {
      for (std::size_t blk = w; blk < blocks; blk += workers) {
        std::size_t r0, r1;
        block_rows(blk, r0, r1);
        for (std::size_t i = r0; i < r1; ++i) K.col_max(C + i * m, fh[i], acc.data() + blk * m, m);
      }
    };
    team.run(cols);
    for (std::size_t j = 0; j < m; ++j) {
      double mx = acc[j];
      for (std::size_t blk = 1; blk < blocks; ++blk) mx = std::max(mx, acc[blk * m + j]);
      gh[j] = -mx;
    }
  }
  // The kernel for the current potentials at the current stage's eps.
  double eps = 0.0, inv_eps = 0.0;
  auto rebuild = [&] {
    auto job = [&](int w) {
      for (std::size_t blk = w; blk < blocks; blk += workers) {
        std::size_t r0, r1;
        block_rows(blk, r0, r1);
        for (std::size_t i = r0; i < r1; ++i)
          K.kernel_row(C + i * m, fh[i], gh.data(), Kmat.get() + i * m, m, inv_eps);
      }
    };
    team.run(job);
  };
  // Folds the scalings into the potentials: the plan is unchanged, u = v = 1.
  auto absorb_scalings = [&] {
    for (std::size_t i = 0; i < n; ++i) {
      fh[i] += eps * std::log(u[i]);
      u[i] = 1.0;
    }
    for (std::size_t j = 0; j < m; ++j) {
      gh[j] += eps * std::log(v[j]);
      v[j] = 1.0;
    }
  };

  // Largest reduced cost C_ij - f̂_i - ĝ_j of the start (the schedule's R); a max, so
  // exact whatever the blocks' order.
  double max_reduced = 0.0;
  {
    std::vector<double> block_max(blocks, 0.0);
    auto job = [&](int w) {
      for (std::size_t blk = w; blk < blocks; blk += workers) {
        std::size_t r0, r1;
        block_rows(blk, r0, r1);
        double mx = 0.0;
        for (std::size_t i = r0; i < r1; ++i)
          mx = std::max(mx, K.row_max_excess(C + i * m, gh.data(), m) - fh[i]);
        block_max[blk] = mx;
      }
    };
    team.run(job);
    for (double x : block_max) max_reduced = std::max(max_reduced, x);
  }
  const std::vector<double> schedule = epsilon_schedule(eps_final, max_reduced);
  const int final_stage = static_cast<int>(schedule.size()) - 1;
  int stage = -1, stage_start = 0;
  std::vector<double> err_hist;  // errors of this stage's sweeps since the last Newton step
  Relaxation relaxation;
  int it = 0;
  int rebuilds = 0, last_rebuild = 0;
  double err = std::numeric_limits<double>::infinity();
  bool fallback = false;     // continue in the log domain
  bool verify_next = false;  // a relaxed sweep looked converged: next one is plain, to measure
  // Enters stage k: the current plan's potentials carry over (absorbed, then
  // extrapolated in eps), the kernel is rebuilt at the stage's eps, and the relaxation
  // starts afresh (its rate estimate belongs to the previous eps).
  std::vector<double> f_prev, g_prev;  // potentials at the end of the stage before
  double eps_prev = 0.0;
  auto enter_stage = [&](int k) {
    if (stage >= 0) {
      absorb_scalings();
      const double eps_next = schedule[static_cast<std::size_t>(k)];
      const bool geometric = k == stage + 1;
      if (geometric && !f_prev.empty()) {
        const double t = (eps_next - eps) / (eps - eps_prev);
        std::vector<double> fc = fh, gc = gh;
        for (std::size_t i = 0; i < n; ++i) fh[i] += t * (fh[i] - f_prev[i]);
        for (std::size_t j = 0; j < m; ++j) gh[j] += t * (gh[j] - g_prev[j]);
        f_prev = std::move(fc);
        g_prev = std::move(gc);
      } else {
        f_prev = fh;
        g_prev = gh;
      }
      eps_prev = eps;
      // No entry of the new kernel may exceed 1 (float32 overflow at a much smaller
      // eps): lower each row's potential to at most its c-transform bound.
      auto cap_rows = [&](int w) {
        for (std::size_t blk = w; blk < blocks; blk += workers) {
          std::size_t r0, r1;
          block_rows(blk, r0, r1);
          for (std::size_t i = r0; i < r1; ++i)
            fh[i] = std::min(fh[i], -K.row_max(C + i * m, gh.data(), m));
        }
      };
      team.run(cap_rows);
    }
    stage = k;
    eps = schedule[static_cast<std::size_t>(k)];
    inv_eps = 1.0 / eps;
    rebuild();
    relaxation = Relaxation{};
    err_hist.clear();
    rebuilds = 0;
    last_rebuild = it;
    stage_start = it;
    verify_next = false;
  };
  // With a budget of one iteration there is no room for a coarse stage: the one plan
  // returned must be at the requested eps.
  enter_stage(pr.max_iterations <= 1 ? final_stage : 0);

  // ---- Newton steps on the semi-dual (see the file comment) ----
  std::vector<double> ny(m), nr(m), nz(m), np(m), nq(m), nvp(m), nw(n), ncol(m), nv(m), ns(n);
  // q = S·p with S = diag(c) - Pᵀ·diag(1/a)·P, c the column sums of the current plan:
  // one fused sweep (row dots with v∘p, then the rows weighted by u²·dot/a summed).
  auto schur = [&](const std::vector<double>& pin, std::vector<double>& out,
                   const std::vector<double>& cfull) {
    for (std::size_t j = 0; j < m; ++j) nvp[j] = v[j] * pin[j];
    auto job = [&](int w) {
      for (std::size_t blk = w; blk < blocks; blk += workers) {
        std::size_t r0, r1;
        block_rows(blk, r0, r1);
        double* ab = acc.data() + blk * m;
        std::fill(ab, ab + m, 0.0);
        for (std::size_t c0 = r0; c0 < r1; c0 += chunk) {
          const std::size_t c1 = std::min(r1, c0 + chunk);
          K.dot_rows(Kmat.get() + c0 * m, c1 - c0, m, nvp.data(), nw.data() + c0);
          for (std::size_t i = c0; i < c1; ++i) nw[i] *= u[i] * u[i] / a[i];
          K.axpy_rows(Kmat.get() + c0 * m, c1 - c0, m, nw.data() + c0, ab);
        }
      }
    };
    team.run(job);
    K.merge(acc.data(), blocks, m, v.data(), b, out.data());
    for (std::size_t j = 0; j < m; ++j) out[j] = cfull[j] * pin[j] - v[j] * out[j];
  };
  // sum_j b_j log v_j - sum_i a_i log (K v)_i for the scalings in vv (the semi-dual
  // objective / eps up to a constant); fills ns with K·vv. -inf when a row vanishes.
  auto semidual = [&](const std::vector<double>& vv) {
    auto job = [&](int w) {
      for (std::size_t blk = w; blk < blocks; blk += workers) {
        std::size_t r0, r1;
        block_rows(blk, r0, r1);
        for (std::size_t c0 = r0; c0 < r1; c0 += chunk) {
          const std::size_t c1 = std::min(r1, c0 + chunk);
          K.dot_rows(Kmat.get() + c0 * m, c1 - c0, m, vv.data(), ns.data() + c0);
        }
      }
    };
    team.run(job);
    double F = 0.0;
    for (std::size_t j = 0; j < m; ++j) F += b[j] * std::log(vv[j]);
    for (std::size_t i = 0; i < n; ++i) {
      if (!(ns[i] > 0.0)) return -std::numeric_limits<double>::infinity();
      F -= a[i] * std::log(ns[i]);
    }
    return F;
  };
  // One damped Newton step on v after a plain row update (rows exact, colsum = Kᵀu).
  // Returns the sweeps it used; v is changed only if the step raised the objective.
  auto newton_step = [&]() -> int {
    int used = 0;
    for (std::size_t j = 0; j < m; ++j) {
      ncol[j] = v[j] * colsum[j];
      nr[j] = b[j] - ncol[j];
      ny[j] = 0.0;
    }
    double rhs1 = 0.0;
    for (std::size_t j = 0; j < m; ++j) rhs1 += std::fabs(nr[j]);
    for (std::size_t j = 0; j < m; ++j) np[j] = nz[j] = nr[j] / ncol[j];
    double rz = 0.0;
    for (std::size_t j = 0; j < m; ++j) rz += nr[j] * nz[j];
    for (int k = 0; k < kCgMax; ++k) {
      schur(np, nq, ncol);
      ++used;
      double pq = 0.0;
      for (std::size_t j = 0; j < m; ++j) pq += np[j] * nq[j];
      if (!(pq > 0.0)) break;
      const double alpha = rz / pq;
      double r1 = 0.0;
      for (std::size_t j = 0; j < m; ++j) {
        ny[j] += alpha * np[j];
        nr[j] -= alpha * nq[j];
        r1 += std::fabs(nr[j]);
      }
      if (r1 < kCgTolerance * rhs1) break;
      double rz2 = 0.0;
      for (std::size_t j = 0; j < m; ++j) {
        nz[j] = nr[j] / ncol[j];
        rz2 += nr[j] * nz[j];
      }
      const double beta = rz2 / rz;
      rz = rz2;
      for (std::size_t j = 0; j < m; ++j) np[j] = nz[j] + beta * np[j];
    }
    double ylo = ny[0], yhi = ny[0], slope = 0.0;
    for (std::size_t j = 0; j < m; ++j) {
      ylo = std::min(ylo, ny[j]);
      yhi = std::max(yhi, ny[j]);
      slope += (b[j] - ncol[j]) * ny[j];
    }
    if (!(slope > 0.0)) return used;
    double tau = std::min(1.0, 2.0 * kNewtonMaxStep / std::max(yhi - ylo, 1e-300));
    const double F0 = semidual(v);
    ++used;
    if (!std::isfinite(F0)) return used;
    for (int tries = 0; tries < 6; ++tries, tau *= 0.25) {
      for (std::size_t j = 0; j < m; ++j) nv[j] = v[j] * std::exp(tau * ny[j]);
      const double F1 = semidual(nv);
      ++used;
      if (F1 >= F0 + 0.1 * tau * slope) {
        v.swap(nv);
        return used;
      }
    }
    return used;
  };
  bool newton_next = false;

  for (;;) {
    ++it;
    const bool at_final = stage == final_stage;
    const bool last = it >= pr.max_iterations;
    const bool checking = at_final && (verify_next || last);
    const bool newton_now = newton_next;
    newton_next = false;
    const double omega = checking || newton_now ? 1.0 : relaxation.omega();
    u_prev = u;
    // Row update from (K v), then the rows' contribution to the column sums Kᵀu, chunk
    // by chunk so a chunk of K is still in cache for its second use.
    auto sweep = [&](int w) {
      for (std::size_t blk = w; blk < blocks; blk += workers) {
        std::size_t r0, r1;
        block_rows(blk, r0, r1);
        double* ab = acc.data() + blk * m;
        std::fill(ab, ab + m, 0.0);
        bool ok = true, in_range = true;
        for (std::size_t c0 = r0; c0 < r1 && ok; c0 += chunk) {
          const std::size_t c1 = std::min(r1, c0 + chunk);
          K.dot_rows(Kmat.get() + c0 * m, c1 - c0, m, v.data(), s.data() + c0);
          // A row of K that underflowed entirely: the kernel cannot be used.
          for (std::size_t i = c0; i < c1; ++i)
            ok &= s[i] > 0.0 && s[i] < std::numeric_limits<double>::infinity();
          if (!ok) break;
          double lo, hi;
          K.relax(u.data() + c0, a + c0, s.data() + c0, c1 - c0, omega, lo, hi);
          in_range &= lo > kAbsorbLow && hi < kAbsorbHigh;
          K.axpy_rows(Kmat.get() + c0 * m, c1 - c0, m, u.data() + c0, ab);
        }
        block_flag[blk] = !ok ? 2 : (in_range ? 0 : 1);
      }
    };
    team.run(sweep);
    bool bad = false, absorb = false;
    for (std::size_t blk = 0; blk < blocks; ++blk) {
      bad |= block_flag[blk] == 2;
      absorb |= block_flag[blk] == 1;
    }
    if (!bad) {
      err = K.merge(acc.data(), blocks, m, v.data(), b, colsum.data());
      // A column of K that underflowed entirely shows as a zero column sum.
      bad = !std::isfinite(err) ||
            *std::min_element(colsum.begin(), colsum.end()) <= 0.0;
    }
    if (bad) {
      // Continue in the log domain from the state before this sweep.
      u = u_prev;
      --it;
      fallback = true;
      break;
    }
    relaxation.observe(err, omega);
    if (checking && (err < pr.tolerance || last)) break;
    verify_next = at_final && !checking && err < pr.tolerance;
    // A coarse stage ends at its loose tolerance or its share of the iterations; and
    // the last iteration of the budget always runs at the requested eps, so the plan
    // returned is of the documented form.
    int next_stage = stage;
    if (!at_final) {
      if (it + 1 >= pr.max_iterations)
        next_stage = final_stage;
      else if (err < kStageTolerance || it - stage_start >= kStageIterations)
        next_stage = stage + 1;
    }
    double vlo, vhi;
    if (newton_now && !verify_next && next_stage == stage) {
      it += newton_step();
      relaxation = Relaxation{};
      err_hist.clear();
      vlo = *std::min_element(v.begin(), v.end());
      vhi = *std::max_element(v.begin(), v.end());
    } else {
      const double omega_v = verify_next ? 1.0 : relaxation.omega();
      K.relax(v.data(), b, colsum.data(), m, omega_v, vlo, vhi);
    }
    absorb |= !(vlo > kAbsorbLow && vhi < kAbsorbHigh);
    // Stalled: the error fell less than 2x over the last kStallWindow sweeps of this
    // stage since the last Newton step (which must fit in the budget, with room after).
    err_hist.push_back(err);
    const std::size_t window = static_cast<std::size_t>(kStallWindow);
    if (!verify_next && next_stage == stage && err_hist.size() > window &&
        it + kCgMax + 10 < pr.max_iterations &&
        err > 0.5 * err_hist[err_hist.size() - 1 - window])
      newton_next = true;
    if (next_stage != stage) {
      enter_stage(next_stage);
    } else if (absorb) {
      // Potentials move by more than ~30·eps per iteration: tiny eps, where rebuilding
      // K every sweep would cost as much as the log domain; switch to it.
      if (rebuilds >= 4 && it - last_rebuild <= 2) {
        fallback = true;
        break;
      }
      absorb_scalings();
      rebuild();
      ++rebuilds;
      last_rebuild = it;
    }
  }
  if (fallback) {
    // The log domain finishes at the requested eps from the current potentials (those
    // of a coarser stage are a warm start there too).
    std::vector<double> f(n), g(m);
    for (std::size_t i = 0; i < n; ++i) f[i] = fh[i] + eps * std::log(u[i]);
    for (std::size_t j = 0; j < m; ++j) g[j] = gh[j] + eps * std::log(v[j]);
    return log_domain(pr, std::move(f), std::move(g), it, threads);
  }

  // <P, C> for P = diag(u)·K·diag(v), rows summed in order (thread-independent).
  auto costs = [&](int w) {
    for (std::size_t blk = w; blk < blocks; blk += workers) {
      std::size_t r0, r1;
      block_rows(blk, r0, r1);
      for (std::size_t i = r0; i < r1; ++i)
        s[i] = u[i] * K.dot_cost(Kmat.get() + i * m, C + i * m, v.data(), m);
    }
  };
  team.run(costs);
  double cost = 0.0;
  for (std::size_t i = 0; i < n; ++i) cost += s[i];
  result.cost = cost;
  result.converged = err < pr.tolerance;
  result.iterations = it;
  result.marginal_error = err;
  return result;
}

}  // namespace p2sam::core
