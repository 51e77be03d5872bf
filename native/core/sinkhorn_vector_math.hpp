// The float64 SIMD arithmetic of the Sinkhorn sweeps, written once for every vector
// width: GCC vector types (2, 4 or 8 doubles) with lane-wise operators, so the same
// source compiles to SSE, AVX2 or AVX-512 depending on the target of the function it is
// inlined into (sinkhorn_kernels.cpp instantiates it per ISA). Internal to the Sinkhorn
// solver; include it from exactly one translation unit.
#pragma once

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <limits>

namespace p2sam::core::sinkhorn_detail {

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
  return __builtin_convertvector(e, V) * splat<V>(0.6931471805599453094) + splat<V>(2.0) * sv * p;
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
  static inline __attribute__((always_inline)) double row_sum(const float* c, const double* g, std::size_t m,
                                                              double shift, double inv_eps) {
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
  static inline __attribute__((always_inline)) double row_max(const float* c, const double* g, std::size_t m) {
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
  static inline __attribute__((always_inline)) double row_max_excess(const float* c, const double* g, std::size_t m) {
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
  static inline __attribute__((always_inline)) void col_sum(const float* c, double f, const double* sh, double* colsum,
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
  static inline __attribute__((always_inline)) void col_max(const float* c, double f, double* colmax, std::size_t len) {
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
  static inline __attribute__((always_inline)) double row_cost(const float* c, const double* g, std::size_t m, double f,
                                                               double inv_eps) {
    const V vf = splat<V>(f), vi = splat<V>(inv_eps);
    V s = splat<V>(0.0);
    std::size_t j = 0;
    for (; j + L <= m; j += L) {
      const V cj = vloadf<V, VF>(c + j);
      s += vexp<V, VI>((vf + vload<V>(g + j) - cj) * vi) * cj;
    }
    double total = hsum(s);
    for (; j < m; ++j) total += vexp<V, VI>(splat<V>((f + g[j] - c[j]) * inv_eps))[0] * static_cast<double>(c[j]);
    return total;
  }

  // ---- scaling domain ----

  // k_j = exp((f + g_j - c_j)·inv_eps) rounded to float32; values below FLT_MIN become 0
  // (float32 subnormals would only cost time in later sweeps, their mass is nil).
  static inline __attribute__((always_inline)) void kernel_row(const float* c, double f, const double* g, float* k,
                                                               std::size_t m, double inv_eps) {
    const V vf = splat<V>(f), vi = splat<V>(inv_eps), tiny = splat<V>(FLT_MIN), zero = splat<V>(0.0);
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
  static inline __attribute__((always_inline)) double dot(const float* k, const double* v, std::size_t m) {
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
  static inline __attribute__((always_inline)) void relax(double* x, const double* w, const double* d, std::size_t len,
                                                          double omega, double& lo, double& hi) {
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
  static inline __attribute__((always_inline)) double merge(const double* acc, std::size_t blocks, std::size_t m,
                                                            const double* v, const double* b, double* colsum) {
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
  static inline __attribute__((always_inline)) void axpy(const float* k, double u, double* acc, std::size_t m) {
    const V vu = splat<V>(u);
    std::size_t j = 0;
    for (; j + L <= m; j += L) vstore<V>(acc + j, vload<V>(acc + j) + vu * vloadf<V, VF>(k + j));
    for (; j < m; ++j) acc[j] += u * static_cast<double>(k[j]);
  }

  // sum_j k_j·v_j·c_j
  static inline __attribute__((always_inline)) double dot_cost(const float* k, const float* c, const double* v,
                                                               std::size_t m) {
    V s = splat<V>(0.0);
    std::size_t j = 0;
    for (; j + L <= m; j += L) s += vloadf<V, VF>(k + j) * vload<V>(v + j) * vloadf<V, VF>(c + j);
    double total = hsum(s);
    for (; j < m; ++j) total += static_cast<double>(k[j]) * v[j] * static_cast<double>(c[j]);
    return total;
  }
};

}  // namespace p2sam::core::sinkhorn_detail
