// The Sinkhorn kernels per ISA and their runtime dispatch.
//
// The lane-wise loops (sinkhorn_vector_math.hpp) are instantiated three times, for the
// portable baseline, AVX2+FMA and AVX-512, through target attributes: the binary is
// built for x86-64-v2 and picks the widest set the CPU has at run time. The row-blocked
// matrix-vector products (dot_rows, axpy_rows), the hottest loops, are written once as
// templates over a small table of intrinsics per ISA (Avx2Ops, Avx512Ops) because they
// need FMA, which GCC's generic vector types cannot request.
#include "sinkhorn_kernels.hpp"

#include <cfloat>
#include <cmath>
#include <cstddef>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(P2SAM_NO_SIMD_DISPATCH)
#include <immintrin.h>
#endif

// Vector types wider than the baseline ISA only appear inside functions compiled for
// that ISA (target attributes); the ABI note GCC emits for the templates is moot.
#pragma GCC diagnostic ignored "-Wpsabi"

#include "sinkhorn_vector_math.hpp"

namespace p2sam::core::sinkhorn_detail {
namespace {

#define P2SAM_SK_WRAPPERS(ATTR, SUFFIX, V, VI, VF)                                                                    \
  ATTR double row_sum_##SUFFIX(const float* c, const double* g, std::size_t m, double s, double i) {                  \
    return Loops<V, VI, VF>::row_sum(c, g, m, s, i);                                                                  \
  }                                                                                                                   \
  ATTR double row_max_##SUFFIX(const float* c, const double* g, std::size_t m) {                                      \
    return Loops<V, VI, VF>::row_max(c, g, m);                                                                        \
  }                                                                                                                   \
  ATTR double row_max_excess_##SUFFIX(const float* c, const double* g, std::size_t m) {                               \
    return Loops<V, VI, VF>::row_max_excess(c, g, m);                                                                 \
  }                                                                                                                   \
  ATTR void col_sum_##SUFFIX(const float* c, double f, const double* sh, double* cs, std::size_t n, double i) {       \
    Loops<V, VI, VF>::col_sum(c, f, sh, cs, n, i);                                                                    \
  }                                                                                                                   \
  ATTR void col_max_##SUFFIX(const float* c, double f, double* cm, std::size_t n) {                                   \
    Loops<V, VI, VF>::col_max(c, f, cm, n);                                                                           \
  }                                                                                                                   \
  ATTR double row_cost_##SUFFIX(const float* c, const double* g, std::size_t m, double f, double i) {                 \
    return Loops<V, VI, VF>::row_cost(c, g, m, f, i);                                                                 \
  }                                                                                                                   \
  ATTR void kernel_row_##SUFFIX(const float* c, double f, const double* g, float* k, std::size_t m, double i) {       \
    Loops<V, VI, VF>::kernel_row(c, f, g, k, m, i);                                                                   \
  }                                                                                                                   \
  ATTR double dot_##SUFFIX(const float* k, const double* v, std::size_t m) { return Loops<V, VI, VF>::dot(k, v, m); } \
  ATTR void axpy_##SUFFIX(const float* k, double u, double* acc, std::size_t m) {                                     \
    Loops<V, VI, VF>::axpy(k, u, acc, m);                                                                             \
  }                                                                                                                   \
  ATTR double dot_cost_##SUFFIX(const float* k, const float* c, const double* v, std::size_t m) {                     \
    return Loops<V, VI, VF>::dot_cost(k, c, v, m);                                                                    \
  }                                                                                                                   \
  ATTR void relax_##SUFFIX(double* x, const double* w, const double* d, std::size_t len, double om, double& lo,       \
                           double& hi) {                                                                              \
    Loops<V, VI, VF>::relax(x, w, d, len, om, lo, hi);                                                                \
  }                                                                                                                   \
  ATTR double merge_##SUFFIX(const double* acc, std::size_t blocks, std::size_t m, const double* v, const double* b,  \
                             double* colsum) {                                                                        \
    return Loops<V, VI, VF>::merge(acc, blocks, m, v, b, colsum);                                                     \
  }                                                                                                                   \
  SinkhornKernels kernels_##SUFFIX() {                                                                                \
    return {row_sum_##SUFFIX,                                                                                         \
            row_max_##SUFFIX,                                                                                         \
            row_max_excess_##SUFFIX,                                                                                  \
            col_sum_##SUFFIX,                                                                                         \
            col_max_##SUFFIX,                                                                                         \
            row_cost_##SUFFIX,                                                                                        \
            kernel_row_##SUFFIX,                                                                                      \
            dot_##SUFFIX,                                                                                             \
            axpy_##SUFFIX,                                                                                            \
            dot_cost_##SUFFIX,                                                                                        \
            relax_##SUFFIX,                                                                                           \
            merge_##SUFFIX,                                                                                           \
            nullptr,                                                                                                  \
            nullptr};                                                                                                 \
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
void dot_rows_portable(const float* k, std::size_t rows, std::size_t m, const double* v, double* s) {
  const SinkhornKernels p = kernels_portable();
  for (std::size_t r = 0; r < rows; ++r) s[r] = p.dot(k + r * m, v, m);
}
void axpy_rows_portable(const float* k, std::size_t rows, std::size_t m, const double* u, double* acc) {
  const SinkhornKernels p = kernels_portable();
  for (std::size_t r = 0; r < rows; ++r) p.axpy(k + r * m, u[r], acc, m);
}

#ifdef P2SAM_SINKHORN_DISPATCH
// The intrinsics the row kernels need, per ISA: L float64 lanes in a register D. The
// members carry their ISA's target and are plain `inline`, not always_inline: GCC will
// not force a target function into the ISA-neutral templates below, but inlines these
// normally once a template has been inlined into its target-attributed entry point.
struct Avx2Ops {
  using D = __m256d;
  static constexpr std::size_t L = 4;
  __attribute__((target("avx2,fma"))) static inline D zero() { return _mm256_setzero_pd(); }
  __attribute__((target("avx2,fma"))) static inline D set1(double x) { return _mm256_set1_pd(x); }
  __attribute__((target("avx2,fma"))) static inline D load(const double* p) { return _mm256_loadu_pd(p); }
  __attribute__((target("avx2,fma"))) static inline D loadf(const float* p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }
  __attribute__((target("avx2,fma"))) static inline void store(double* p, D x) { _mm256_storeu_pd(p, x); }
  __attribute__((target("avx2,fma"))) static inline D fmadd(D a, D b, D c) { return _mm256_fmadd_pd(a, b, c); }
  __attribute__((target("avx2,fma"))) static inline D add(D a, D b) { return _mm256_add_pd(a, b); }
  // (lane0 + lane2) + (lane1 + lane3)
  __attribute__((target("avx2,fma"))) static inline double sum(D x) {
    const __m128d h = _mm_add_pd(_mm256_castpd256_pd128(x), _mm256_extractf128_pd(x, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
  }
};

struct Avx512Ops {
  using D = __m512d;
  static constexpr std::size_t L = 8;
  __attribute__((target("avx512f"))) static inline D zero() { return _mm512_setzero_pd(); }
  __attribute__((target("avx512f"))) static inline D set1(double x) { return _mm512_set1_pd(x); }
  __attribute__((target("avx512f"))) static inline D load(const double* p) { return _mm512_loadu_pd(p); }
  __attribute__((target("avx512f"))) static inline D loadf(const float* p) {
    return _mm512_cvtps_pd(_mm256_loadu_ps(p));
  }
  __attribute__((target("avx512f"))) static inline void store(double* p, D x) { _mm512_storeu_pd(p, x); }
  __attribute__((target("avx512f"))) static inline D fmadd(D a, D b, D c) { return _mm512_fmadd_pd(a, b, c); }
  __attribute__((target("avx512f"))) static inline D add(D a, D b) { return _mm512_add_pd(a, b); }
  __attribute__((target("avx512f"))) static inline double sum(D x) { return _mm512_reduce_add_pd(x); }
};

// s[r] = K_r·v for `rows` consecutive rows of K (row stride m).
template <class O>
inline __attribute__((always_inline)) void dot_rows(const float* k, std::size_t rows, std::size_t m, const double* v,
                                                    double* s) {
  using D = typename O::D;
  constexpr std::size_t L = O::L;
  std::size_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    const float* k0 = k + r * m;
    const float* k1 = k0 + m;
    const float* k2 = k1 + m;
    const float* k3 = k2 + m;
    D a0 = O::zero(), a1 = a0, a2 = a0, a3 = a0;
    std::size_t j = 0;
    for (; j + L <= m; j += L) {
      const D vj = O::load(v + j);
      a0 = O::fmadd(O::loadf(k0 + j), vj, a0);
      a1 = O::fmadd(O::loadf(k1 + j), vj, a1);
      a2 = O::fmadd(O::loadf(k2 + j), vj, a2);
      a3 = O::fmadd(O::loadf(k3 + j), vj, a3);
    }
    double t0 = O::sum(a0), t1 = O::sum(a1), t2 = O::sum(a2), t3 = O::sum(a3);
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
    D a0 = O::zero(), a1 = a0;
    std::size_t j = 0;
    for (; j + 2 * L <= m; j += 2 * L) {
      a0 = O::fmadd(O::loadf(k0 + j), O::load(v + j), a0);
      a1 = O::fmadd(O::loadf(k0 + j + L), O::load(v + j + L), a1);
    }
    for (; j + L <= m; j += L) a0 = O::fmadd(O::loadf(k0 + j), O::load(v + j), a0);
    double t = O::sum(O::add(a0, a1));
    for (; j < m; ++j) t += static_cast<double>(k0[j]) * v[j];
    s[r] = t;
  }
}

// acc += sum_r u_r·K_r over `rows` consecutive rows of K (row stride m).
template <class O>
inline __attribute__((always_inline)) void axpy_rows(const float* k, std::size_t rows, std::size_t m, const double* u,
                                                     double* acc) {
  using D = typename O::D;
  constexpr std::size_t L = O::L;
  std::size_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    const float* k0 = k + r * m;
    const float* k1 = k0 + m;
    const float* k2 = k1 + m;
    const float* k3 = k2 + m;
    const D u0 = O::set1(u[r]), u1 = O::set1(u[r + 1]), u2 = O::set1(u[r + 2]), u3 = O::set1(u[r + 3]);
    std::size_t j = 0;
    for (; j + L <= m; j += L) {
      D a = O::load(acc + j);
      a = O::fmadd(u0, O::loadf(k0 + j), a);
      a = O::fmadd(u1, O::loadf(k1 + j), a);
      a = O::fmadd(u2, O::loadf(k2 + j), a);
      a = O::fmadd(u3, O::loadf(k3 + j), a);
      O::store(acc + j, a);
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
    const D u0 = O::set1(u[r]);
    std::size_t j = 0;
    for (; j + L <= m; j += L) O::store(acc + j, O::fmadd(u0, O::loadf(k0 + j), O::load(acc + j)));
    for (; j < m; ++j) acc[j] = std::fma(u[r], static_cast<double>(k0[j]), acc[j]);
  }
}

// GCC 12's _mm512_cvtps_pd and _mm512_reduce_add_pd pass intentionally undefined
// operands, which -W(maybe-)uninitialized reports at every use.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
__attribute__((target("avx512f"))) void dot_rows_avx512(const float* k, std::size_t rows, std::size_t m,
                                                        const double* v, double* s) {
  dot_rows<Avx512Ops>(k, rows, m, v, s);
}
__attribute__((target("avx512f"))) void axpy_rows_avx512(const float* k, std::size_t rows, std::size_t m,
                                                         const double* u, double* acc) {
  axpy_rows<Avx512Ops>(k, rows, m, u, acc);
}
#pragma GCC diagnostic pop
__attribute__((target("avx2,fma"))) void dot_rows_avx2(const float* k, std::size_t rows, std::size_t m, const double* v,
                                                       double* s) {
  dot_rows<Avx2Ops>(k, rows, m, v, s);
}
__attribute__((target("avx2,fma"))) void axpy_rows_avx2(const float* k, std::size_t rows, std::size_t m,
                                                        const double* u, double* acc) {
  axpy_rows<Avx2Ops>(k, rows, m, u, acc);
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

}  // namespace

const SinkhornKernels& sinkhorn_kernels() {
  static const SinkhornKernels k = pick_kernels();
  return k;
}

}  // namespace p2sam::core::sinkhorn_detail
