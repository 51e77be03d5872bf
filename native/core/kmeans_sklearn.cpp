// scikit-learn-compatible k-means (KMeansSeeding::Sklearn); see kmeans_sklearn.hpp for
// the facts reproduced and where exact equality ends.
//
// Numerics: float32 wherever scikit-learn computes in float32 for float32 input; the
// k-means++ distances in float64 and then rounded to float32 (euclidean_distances
// upcasts float32 chunks). Fused multiply-adds would round differently from
// scikit-learn's separately rounded float32 operations, so contraction is switched off
// for this file whatever -march the build uses.
//
// Why one file of ~650 lines: the fp-contract setting above must cover every operation
// whose rounding has to match scikit-learn's (k-means++, Lloyd, inertia), so they stay in
// the one translation unit the pragma governs.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "kmeans_sklearn.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "kmeans_same_clustering.hpp"
#include "numpy_random.hpp"
#include "parallel.hpp"

namespace p2sam::core::detail {

float numpy_pairwise_sum(const float* a, std::size_t n) {
  if (n < 8) {
    float r = 0.0f;
    for (std::size_t i = 0; i < n; ++i) r += a[i];
    return r;
  }
  if (n <= 128) {
    float r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    std::size_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    float res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  std::size_t half = n / 2;
  half -= half % 8;
  return numpy_pairwise_sum(a, half) + numpy_pairwise_sum(a + half, n - half);
}

namespace {

// add.reduce starts from the identity 0 (which changes nothing but -0.0).
float numpy_sum(const float* a, std::size_t n) { return 0.0f + numpy_pairwise_sum(a, n); }

// Dot products as the BLAS behind numpy/scikit-learn computes them (OpenBLAS 0.3.x
// sgemm/dgemm micro-kernels: every output element accumulates its K products in order
// in one register lane with fused multiply-adds; checked against Debian's OpenBLAS
// 0.3.21 on AVX2 and AVX-512 machines: identical in every element).
//
// gemm_rows(x, rows, cT, d, kp, out): out[r * kp + j] = fused in-order x_r · c_j for
// rows (1..8) consecutive data rows and the kp (multiple of 8) centres stored
// transposed, cT[t * kp + j] = c_j[t]. The AVX2 path runs 8 centres per vector and four
// rows at once (independent chains hide the FMA latency); the portable path does the
// same fused operations one at a time.
void gemm_rows_portable(const float* x, std::size_t rows, const float* cT, std::size_t d, std::size_t kp, float* out) {
  for (std::size_t r = 0; r < rows; ++r) {
    float* o = out + r * kp;
    const float* xr = x + r * d;
    for (std::size_t j = 0; j < kp; ++j) o[j] = 0.0f;
    for (std::size_t t = 0; t < d; ++t)
      for (std::size_t j = 0; j < kp; ++j) o[j] = std::fma(xr[t], cT[t * kp + j], o[j]);
  }
}

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define P2SAM_SKLEARN_FMA_DISPATCH 1
typedef float v8f __attribute__((vector_size(32)));
// R rows × V vectors of accumulators; all indices compile-time so they stay in registers.
template <std::size_t R, std::size_t V>
__attribute__((target("avx2,fma"), always_inline)) inline void gemm_tile_fma(const float* x, const float* cT,
                                                                             std::size_t d, std::size_t kp,
                                                                             std::size_t j0, float* out) {
  v8f acc[R][V];
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t v = 0; v < V; ++v) acc[r][v] = v8f{0, 0, 0, 0, 0, 0, 0, 0};
  for (std::size_t t = 0; t < d; ++t) {
    const float* c = cT + t * kp + j0;
    v8f cv[V];
    for (std::size_t v = 0; v < V; ++v) std::memcpy(&cv[v], c + 8 * v, sizeof(v8f));
    for (std::size_t r = 0; r < R; ++r) {
      const float xt = x[r * d + t];
      const v8f xb = {xt, xt, xt, xt, xt, xt, xt, xt};
      for (std::size_t v = 0; v < V; ++v) acc[r][v] = __builtin_ia32_vfmaddps256(xb, cv[v], acc[r][v]);
    }
  }
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t v = 0; v < V; ++v) std::memcpy(out + r * kp + j0 + 8 * v, &acc[r][v], sizeof(v8f));
}
// Up to 8 rows: single-vector tiles run 8 rows (8 independent FMA chains keep both
// FMA ports busy), two-vector tiles 4 rows at a time (16 registers of accumulators
// would leave none for the operands).
template <std::size_t R>
__attribute__((target("avx2,fma"))) void gemm_block_fma(const float* x, const float* cT, std::size_t d, std::size_t kp,
                                                        float* out) {
  std::size_t j0 = 0;
  for (; j0 + 16 <= kp; j0 += 16) {
    if constexpr (R > 4) {
      gemm_tile_fma<4, 2>(x, cT, d, kp, j0, out);
      gemm_tile_fma<R - 4, 2>(x + 4 * d, cT, d, kp, j0, out + 4 * kp);
    } else {
      gemm_tile_fma<R, 2>(x, cT, d, kp, j0, out);
    }
  }
  if (j0 < kp) gemm_tile_fma<R, 1>(x, cT, d, kp, j0, out);
}
__attribute__((target("avx2,fma"))) void gemm_rows_fma(const float* x, std::size_t rows, const float* cT, std::size_t d,
                                                       std::size_t kp, float* out) {
  switch (rows) {
    case 8:
      gemm_block_fma<8>(x, cT, d, kp, out);
      break;
    case 7:
      gemm_block_fma<7>(x, cT, d, kp, out);
      break;
    case 6:
      gemm_block_fma<6>(x, cT, d, kp, out);
      break;
    case 5:
      gemm_block_fma<5>(x, cT, d, kp, out);
      break;
    case 4:
      gemm_block_fma<4>(x, cT, d, kp, out);
      break;
    case 3:
      gemm_block_fma<3>(x, cT, d, kp, out);
      break;
    case 2:
      gemm_block_fma<2>(x, cT, d, kp, out);
      break;
    default:
      gemm_block_fma<1>(x, cT, d, kp, out);
      break;
  }
}
#endif

using GemmRowsFn = void (*)(const float*, std::size_t, const float*, std::size_t, std::size_t, float*);
GemmRowsFn pick_gemm_rows() {
#ifdef P2SAM_SKLEARN_FMA_DISPATCH
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return gemm_rows_fma;
#endif
  return gemm_rows_portable;
}
const GemmRowsFn gemm_rows = pick_gemm_rows();

// x · c of float32 vectors in float64, accumulated in order: each product is exact in
// float64, so this equals dgemm's fused sequential accumulation bit for bit.
inline double dot_f64(const float* __restrict x, const float* __restrict c, std::size_t d) {
  double acc = 0.0;
  for (std::size_t t = 0; t < d; ++t) acc += static_cast<double>(x[t]) * static_cast<double>(c[t]);
  return acc;
}

// numpy 1.24's einsum('ij,ij->i') (row_norms(squared=True)), built for x86-64's SSE
// baseline: L lanes (4 floats / 2 doubles), blocks of 4 vectors multiplied and added
// without fusing from the last vector of the block to the first, a zero-padded tail
// vector, then the lanes summed pairwise ((l0 + l1) + (l2 + l3)) and added to 0.
template <typename T, int L>
T einsum_squared_norm(const float* v, std::size_t d) {
  T acc[L] = {};
  std::size_t i = 0;
  for (; i + 4 * L <= d; i += 4 * L)
    for (int q = 3; q >= 0; --q)
      for (int l = 0; l < L; ++l) {
        const T a = static_cast<T>(v[i + static_cast<std::size_t>(q * L + l)]);
        acc[l] = a * a + acc[l];
      }
  for (; i < d; i += L)
    for (int l = 0; l < L; ++l) {
      const T a = i + static_cast<std::size_t>(l) < d ? static_cast<T>(v[i + static_cast<std::size_t>(l)]) : T(0);
      acc[l] = a * a + acc[l];
    }
  T sum;
  if constexpr (L == 4)
    sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  else
    sum = acc[0] + acc[1];
  return sum + T(0);
}

// scikit-learn's _euclidean_dense_dense: float32, four terms per step added left to
// right into one accumulator.
inline float euclidean_sq_f32(const float* a, const float* b, std::size_t d) {
  float result = 0.0f;
  std::size_t t = 0;
  for (; t + 4 <= d; t += 4) {
    const float e0 = a[t] - b[t], e1 = a[t + 1] - b[t + 1], e2 = a[t + 2] - b[t + 2], e3 = a[t + 3] - b[t + 3];
    result += e0 * e0 + e1 * e1 + e2 * e2 + e3 * e3;
  }
  for (; t < d; ++t) {
    const float e = a[t] - b[t];
    result += e * e;
  }
  return result;
}

// k-means++ distances of the n points to one centre c: sixteen points at a time from
// the blocked data (16-point blocks, each d × 16), each point's products added in feature order (so
// every value equals dot_f64 bit for bit), then upcast_distance. Compiled for the SSE2
// baseline and, behind a run-time check, AVX2.
inline float upcast_distance(double dot, double cc, double xx) {
  // ((-2 c·x) + ||c||²) + ||x||² in float64, rounded to float32, clipped at 0.
  double v = -2.0 * dot;
  v += cc;
  v += xx;
  const float f = static_cast<float>(v);
  return f > 0.0f ? f : 0.0f;
}
typedef float v4f __attribute__((vector_size(16)));
typedef double v4d __attribute__((vector_size(32)));
__attribute__((always_inline)) inline void distances_impl(const float* c, const float* blocked, std::size_t n,
                                                          std::size_t d, double cc, const double* norms, float* out) {
  for (std::size_t i0 = 0; i0 < n; i0 += 16) {
    v4d a0 = {0, 0, 0, 0}, a1 = a0, a2 = a0, a3 = a0;
    const float* xs = blocked + i0 * d;
    for (std::size_t t = 0; t < d; ++t, xs += 16) {
      const double ct = static_cast<double>(c[t]);
      v4f f0, f1, f2, f3;
      std::memcpy(&f0, xs, sizeof f0);
      std::memcpy(&f1, xs + 4, sizeof f1);
      std::memcpy(&f2, xs + 8, sizeof f2);
      std::memcpy(&f3, xs + 12, sizeof f3);
      a0 += ct * __builtin_convertvector(f0, v4d);
      a1 += ct * __builtin_convertvector(f1, v4d);
      a2 += ct * __builtin_convertvector(f2, v4d);
      a3 += ct * __builtin_convertvector(f3, v4d);
    }
    double dots[16];
    std::memcpy(dots, &a0, sizeof a0);
    std::memcpy(dots + 4, &a1, sizeof a1);
    std::memcpy(dots + 8, &a2, sizeof a2);
    std::memcpy(dots + 12, &a3, sizeof a3);
    const std::size_t m = std::min<std::size_t>(16, n - i0);
    for (std::size_t r = 0; r < m; ++r) out[i0 + r] = upcast_distance(dots[r], cc, norms[i0 + r]);
  }
}
using DistancesFn = void (*)(const float*, const float*, std::size_t, std::size_t, double, const double*, float*);
void distances_portable(const float* c, const float* blocked, std::size_t n, std::size_t d, double cc,
                        const double* norms, float* out) {
  distances_impl(c, blocked, n, d, cc, norms, out);
}
#ifdef P2SAM_SKLEARN_FMA_DISPATCH
// No FMA here: the float64 products are exact, so fused or not gives the same sums,
// but "avx2" alone keeps that explicit.
__attribute__((target("avx2"))) void distances_avx2(const float* c, const float* blocked, std::size_t n, std::size_t d,
                                                    double cc, const double* norms, float* out) {
  distances_impl(c, blocked, n, d, cc, norms, out);
}
#endif
DistancesFn pick_distances() {
#ifdef P2SAM_SKLEARN_FMA_DISPATCH
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) return distances_avx2;
#endif
  return distances_portable;
}
DistancesFn distances_kernel() {
  static const DistancesFn fn = pick_distances();
  return fn;
}

struct Prepared {
  std::size_t n = 0, d = 0;
  std::vector<float> mean;    // d, float32 as X.mean(axis=0)
  std::vector<float> x;       // n×d, X - mean in float32
  std::vector<double> norms;  // n, ||x||² of the float64 upcast (k-means++ distances)
  // The centred data in blocks of 16 points, each block feature-major (d × 16): the
  // k-means++ distance kernel then reads one contiguous run per block.
  std::vector<float> blocked;
  double tolerance = 0.0;  // absolute, as KMeans._tol
};

Prepared prepare(const float* x, std::size_t n, std::size_t d, double relative_tolerance) {
  Prepared p;
  p.n = n;
  p.d = d;
  const float nf = static_cast<float>(n);
  // np.mean / np.var along axis 0 of a C-ordered float32 array: float32 sums in row
  // order (the reduction runs row by row), then a float32 division by n.
  p.mean.assign(d, 0.0f);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t t = 0; t < d; ++t) p.mean[t] += x[i * d + t];
  for (std::size_t t = 0; t < d; ++t) p.mean[t] /= nf;
  if (relative_tolerance > 0.0) {
    std::vector<float> var(d, 0.0f);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t t = 0; t < d; ++t) {
        const float c = x[i * d + t] - p.mean[t];
        var[t] += c * c;
      }
    for (std::size_t t = 0; t < d; ++t) var[t] /= nf;
    const float mean_var = numpy_sum(var.data(), d) / static_cast<float>(d);
    p.tolerance = static_cast<double>(mean_var) * relative_tolerance;
  }
  p.x.resize(n * d);
  p.norms.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    float* r = p.x.data() + i * d;
    for (std::size_t t = 0; t < d; ++t) r[t] = x[i * d + t] - p.mean[t];
    p.norms[i] = einsum_squared_norm<double, 2>(r, d);
  }
  p.blocked.assign((n + 15) / 16 * 16 * d, 0.0f);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t t = 0; t < d; ++t) p.blocked[(i / 16) * 16 * d + t * 16 + i % 16] = p.x[i * d + t];
  return p;
}

// The random draws of one restart's k-means++, taken from the shared stream in order.
struct SeedDraws {
  std::size_t first = 0;
  std::vector<double> uniforms;  // (k - 1) × trials
};

int local_trials(int k) { return 2 + static_cast<int>(std::log(static_cast<double>(k))); }

std::vector<SeedDraws> draw_seeds(std::uint64_t seed, std::size_t n, int k, int restarts) {
  NumpyRandomState rs(seed);
  const auto trials = static_cast<std::size_t>(local_trials(k));
  std::vector<SeedDraws> out(static_cast<std::size_t>(restarts));
  for (auto& s : out) {
    s.first = static_cast<std::size_t>(rs.randint(n));
    s.uniforms.resize(static_cast<std::size_t>(k - 1) * trials);
    for (auto& u : s.uniforms) u = rs.random_sample();
  }
  return out;
}

struct RestartResult {
  std::vector<std::int32_t> labels;
  std::vector<float> centres;  // centred coordinates
  float inertia32 = 0.0f;      // as scikit-learn compares restarts
  int iterations = 0;
};

class Restart {
 public:
  Restart(const Prepared& p, int k, const KMeansOptions& o)
      : p_(p), n_(p.n), d_(p.d), k_(static_cast<std::size_t>(k)), opt_(o) {}

  RestartResult run(const SeedDraws& draws) {
    centres_.assign(k_ * d_, 0.0f);
    plus_plus(draws);
    return lloyd();
  }

 private:
  const float* row(std::size_t i) const { return p_.x.data() + i * d_; }

  // euclidean_distances(c, X, squared=True) for float32 data: float64 upcast,
  // ((-2 c·x) + ||c||²) + ||x||², rounded to float32, negatives clipped to 0.
  void distances_to(const float* c, double cc, float* out) const {
    distances_kernel()(c, p_.blocked.data(), n_, d_, cc, p_.norms.data(), out);
  }

  void plus_plus(const SeedDraws& draws) {
    const auto trials = static_cast<std::size_t>(local_trials(static_cast<int>(k_)));
    std::vector<float> closest(n_), candidate(n_), best_candidate(n_);
    std::vector<double> cumulative(n_);
    std::memcpy(centres_.data(), row(draws.first), d_ * sizeof(float));
    distances_to(row(draws.first), p_.norms[draws.first], closest.data());
    float potential = numpy_sum(closest.data(), n_);
    for (std::size_t c = 1; c < k_; ++c) {
      throw_if_cancelled();  // an aborted call stops between seeds (k-means++ is O(n·k·trials))
      // stable_cumsum: np.cumsum in float64 of the float32 values.
      double running = 0.0;
      for (std::size_t i = 0; i < n_; ++i) {
        running += static_cast<double>(closest[i]);
        cumulative[i] = running;
      }
      float best_pot = 0.0f;
      std::size_t best_id = 0;
      for (std::size_t t = 0; t < trials; ++t) {
        const double target = draws.uniforms[(c - 1) * trials + t] * static_cast<double>(potential);
        // searchsorted side='left': first cumulative >= target; clipped to n - 1.
        auto it = std::lower_bound(cumulative.begin(), cumulative.end(), target);
        const std::size_t id = std::min<std::size_t>(static_cast<std::size_t>(it - cumulative.begin()), n_ - 1);
        distances_to(row(id), p_.norms[id], candidate.data());
        for (std::size_t i = 0; i < n_; ++i) candidate[i] = std::min(closest[i], candidate[i]);
        const float pot = numpy_sum(candidate.data(), n_);
        // np.argmin over the candidates' potentials: the first minimum wins.
        if (t == 0 || pot < best_pot) {
          best_pot = pot;
          best_id = id;
          best_candidate.swap(candidate);
        }
      }
      potential = best_pot;
      closest.swap(best_candidate);
      std::memcpy(centres_.data() + c * d_, row(best_id), d_ * sizeof(float));
    }
  }

  // One E step (labels from `centres`) and, with update, the M step into `out`:
  // scikit-learn's lloyd_iter_chunked_dense with one thread.
  void lloyd_step(const std::vector<float>& centres, std::vector<float>* out, std::vector<float>& weight) {
    const std::size_t kp = (k_ + 7) / 8 * 8;
    std::vector<float> cn(k_), cT(d_ * kp, 0.0f), dist(8 * kp);
    for (std::size_t j = 0; j < k_; ++j) {
      cn[j] = einsum_squared_norm<float, 4>(centres.data() + j * d_, d_);
      for (std::size_t t = 0; t < d_; ++t) cT[t * kp + j] = centres[j * d_ + t];
    }
    if (out) {
      std::fill(out->begin(), out->end(), 0.0f);
      std::fill(weight.begin(), weight.end(), 0.0f);
    }
    for (std::size_t i0 = 0; i0 < n_; i0 += 8) {
      const std::size_t rows = std::min<std::size_t>(8, n_ - i0);
      gemm_rows(row(i0), rows, cT.data(), d_, kp, dist.data());
      for (std::size_t r = 0; r < rows; ++r) {
        const std::size_t i = i0 + r;
        const float* x = row(i);
        const float* g = dist.data() + r * kp;
        // sgemm with alpha = -2, beta = 1 onto ||c||²: -2·acc is exact, one rounding.
        float best = cn[0] + -2.0f * g[0];
        std::int32_t label = 0;
        for (std::size_t j = 1; j < k_; ++j) {
          const float v = cn[j] + -2.0f * g[j];
          if (v < best) {
            best = v;
            label = static_cast<std::int32_t>(j);
          }
        }
        labels_[i] = label;
        if (out) {
          const auto l = static_cast<std::size_t>(label);
          weight[l] += 1.0f;
          float* sum = out->data() + l * d_;
          for (std::size_t t = 0; t < d_; ++t) sum[t] += x[t];
        }
      }
    }
    if (!out) return;
    relocate_empty(centres, *out, weight);
    for (std::size_t j = 0; j < k_; ++j) {
      if (!(weight[j] > 0.0f)) continue;
      const auto alpha = static_cast<float>(1.0 / static_cast<double>(weight[j]));
      for (std::size_t t = 0; t < d_; ++t) (*out)[j * d_ + t] *= alpha;
    }
  }

  // _relocate_empty_clusters_dense: every empty cluster takes one of the points
  // farthest from their (old) centres, largest distance first (ties: lower index).
  void relocate_empty(const std::vector<float>& old, std::vector<float>& sums, std::vector<float>& weight) {
    std::vector<std::size_t> empty;
    for (std::size_t j = 0; j < k_; ++j)
      if (weight[j] == 0.0f) empty.push_back(j);
    if (empty.empty()) return;
    std::vector<float> dist(n_), sq(d_);
    for (std::size_t i = 0; i < n_; ++i) {
      const float* x = row(i);
      const float* c = old.data() + static_cast<std::size_t>(labels_[i]) * d_;
      for (std::size_t t = 0; t < d_; ++t) sq[t] = (x[t] - c[t]) * (x[t] - c[t]);
      dist[i] = numpy_sum(sq.data(), d_);
    }
    std::vector<std::size_t> order(n_);
    for (std::size_t i = 0; i < n_; ++i) order[i] = i;
    const std::size_t take = std::min(empty.size(), n_);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(take), order.end(),
                      [&](std::size_t a, std::size_t b) { return dist[a] > dist[b] || (dist[a] == dist[b] && a < b); });
    for (std::size_t e = 0; e < take; ++e) {
      const std::size_t far = order[e], to = empty[e];
      const auto from = static_cast<std::size_t>(labels_[far]);
      const float* x = row(far);
      for (std::size_t t = 0; t < d_; ++t) {
        sums[from * d_ + t] -= x[t];
        sums[to * d_ + t] = x[t];
      }
      weight[to] = 1.0f;
      weight[from] -= 1.0f;
    }
  }

  RestartResult lloyd() {
    labels_.assign(n_, -1);
    std::vector<std::int32_t> labels_old(n_, -1);
    std::vector<float> next(k_ * d_), weight(k_), shift(k_);
    bool strict = false;
    int it = 0;
    for (; it < opt_.max_iterations; ++it) {
      throw_if_cancelled();  // and between Lloyd iterations
      lloyd_step(centres_, &next, weight);
      for (std::size_t j = 0; j < k_; ++j) {
        const float s = std::sqrt(euclidean_sq_f32(next.data() + j * d_, centres_.data() + j * d_, d_));
        shift[j] = s * s;
      }
      centres_.swap(next);
      if (labels_ == labels_old) {
        strict = true;
        break;
      }
      if (static_cast<double>(numpy_sum(shift.data(), k_)) <= p_.tolerance) break;
      labels_old = labels_;
    }
    const int iterations = std::min(it + 1, opt_.max_iterations);
    // Rerun the E step so that the labels belong to the final centres.
    if (!strict) lloyd_step(centres_, nullptr, weight);
    repair_empty();
    RestartResult r;
    float inertia = 0.0f;
    for (std::size_t i = 0; i < n_; ++i)
      inertia += euclidean_sq_f32(row(i), centres_.data() + static_cast<std::size_t>(labels_[i]) * d_, d_);
    r.inertia32 = inertia;
    r.iterations = iterations;
    r.labels = std::move(labels_);
    r.centres = std::move(centres_);
    return r;
  }

  // The project's contract (every label occurs): only reachable with fewer distinct
  // points than k. An empty cluster takes the point farthest from its centre among
  // clusters with >= 2 members; touched centres become the means of their labels.
  void repair_empty() {
    std::vector<std::size_t> count(k_, 0);
    for (auto l : labels_) ++count[static_cast<std::size_t>(l)];
    std::vector<unsigned char> touched(k_, 0), taken(n_, 0);
    bool any = false;
    for (std::size_t j = 0; j < k_; ++j) {
      if (count[j] != 0) continue;
      float best = -1.0f;
      std::size_t far = n_;
      for (std::size_t i = 0; i < n_; ++i) {
        const auto l = static_cast<std::size_t>(labels_[i]);
        if (taken[i] || count[l] < 2) continue;
        const float dist = euclidean_sq_f32(row(i), centres_.data() + l * d_, d_);
        if (dist > best) {
          best = dist;
          far = i;
        }
      }
      if (far == n_) break;  // unreachable for n >= k (pigeonhole)
      const auto from = static_cast<std::size_t>(labels_[far]);
      --count[from];
      count[j] = 1;
      labels_[far] = static_cast<std::int32_t>(j);
      taken[far] = 1;
      touched[from] = touched[j] = 1;
      any = true;
    }
    if (!any) return;
    std::vector<double> sums(k_ * d_, 0.0);
    for (std::size_t i = 0; i < n_; ++i) {
      const auto l = static_cast<std::size_t>(labels_[i]);
      if (!touched[l]) continue;
      for (std::size_t t = 0; t < d_; ++t) sums[l * d_ + t] += static_cast<double>(row(i)[t]);
    }
    for (std::size_t j = 0; j < k_; ++j)
      if (touched[j])
        for (std::size_t t = 0; t < d_; ++t)
          centres_[j * d_ + t] = static_cast<float>(sums[j * d_ + t] / static_cast<double>(count[j]));
  }

  const Prepared& p_;
  const std::size_t n_, d_, k_;
  const KMeansOptions& opt_;
  std::vector<float> centres_;
  std::vector<std::int32_t> labels_;
};

double inertia_f64(const Prepared& p, const std::vector<std::int32_t>& labels, const std::vector<float>& centres) {
  double total = 0.0;
  for (std::size_t i = 0; i < p.n; ++i) {
    const float* x = p.x.data() + i * p.d;
    const float* c = centres.data() + static_cast<std::size_t>(labels[i]) * p.d;
    for (std::size_t t = 0; t < p.d; ++t) {
      const double e = static_cast<double>(x[t]) - static_cast<double>(c[t]);
      total += e * e;
    }
  }
  return total;
}

}  // namespace

std::vector<KMeansResult> kmeans_batch_sklearn(const float* features, std::size_t n, std::size_t d,
                                               const std::vector<int>& ks, const KMeansOptions& options) {
  std::vector<KMeansResult> out(ks.size());
  for (std::size_t q = 0; q < ks.size(); ++q) {
    out[q].k = ks[q];
    out[q].skipped = static_cast<std::size_t>(ks[q]) > n;
  }
  if (n == 0) return out;
  const Prepared prepared = prepare(features, n, d, options.relative_tolerance);

  struct Task {
    std::size_t q;
    int restart;
  };
  std::vector<Task> tasks;
  std::vector<std::vector<SeedDraws>> draws(ks.size());
  for (std::size_t q = 0; q < ks.size(); ++q) {
    if (out[q].skipped) continue;
    if (ks[q] == 1) {
      // Closed form, as kmeans.hpp documents for k = 1 (the mean; float64 inertia).
      KMeansResult& r = out[q];
      r.labels.assign(n, 0);
      r.centroids = prepared.mean;
      r.inertia = inertia_f64(prepared, r.labels, std::vector<float>(d, 0.0f));
      continue;
    }
    draws[q] = draw_seeds(options.seed, n, ks[q], options.restarts);
    for (int r = 0; r < options.restarts; ++r) tasks.push_back({q, r});
  }
  // Larger k first so the last tasks to finish are short ones.
  std::stable_sort(tasks.begin(), tasks.end(), [&](const Task& a, const Task& b) { return ks[a.q] > ks[b.q]; });

  std::vector<RestartResult> results(tasks.size());
  if (!tasks.empty()) {
    const int threads = options.threads > 0 ? options.threads : default_thread_count();
    const auto workers = std::min<std::size_t>(static_cast<std::size_t>(threads), tasks.size());
    std::atomic<std::size_t> next{0};
    parallel_for(0, workers, static_cast<int>(workers), [&](std::size_t, std::size_t, std::size_t) {
      for (std::size_t t = next.fetch_add(1); t < tasks.size(); t = next.fetch_add(1)) {
        Restart restart(prepared, ks[tasks[t].q], options);
        results[t] = restart.run(draws[tasks[t].q][static_cast<std::size_t>(tasks[t].restart)]);
      }
    });
  }

  const auto picks = best_restart_per_k(tasks, results, ks, [](const RestartResult& r) { return r.inertia32; });
  for (std::size_t q = 0; q < ks.size(); ++q) {
    if (picks[q] < 0) continue;
    const auto best = static_cast<std::size_t>(picks[q]);
    const auto k = static_cast<std::size_t>(ks[q]);
    RestartResult& r = results[best];
    KMeansResult& o = out[q];
    o.inertia = inertia_f64(prepared, r.labels, r.centres);
    o.labels = std::move(r.labels);
    o.iterations = r.iterations;
    o.restart = tasks[best].restart;
    // best_centers += X_mean, in float32.
    o.centroids.resize(k * d);
    for (std::size_t j = 0; j < k; ++j)
      for (std::size_t t = 0; t < d; ++t) o.centroids[j * d + t] = r.centres[j * d + t] + prepared.mean[t];
  }
  return out;
}

}  // namespace p2sam::core::detail
