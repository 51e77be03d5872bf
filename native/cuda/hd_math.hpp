// The arithmetic of the CUDA kernels, written once for the host and the device.
//
// Every function here is `P2SAM_HD`: __host__ __device__ under nvcc, a plain inline
// function under g++. The GPU kernels (native/cuda/*.cu) call them per thread; the CPU
// test suite (native/core/tests/test_hd_math.cpp) runs the very same functions on the
// host and compares them with the CPU core, so a change that breaks parity with the
// core fails on a machine without a GPU.
//
// Parity rules (why the code looks the way it does):
//  * float32 products and sums go through f_mul/f_add: on the device these are the
//    __fmul_rn/__fadd_rn intrinsics, which nvcc never contracts into an FMA. The CPU core
//    is built for x86-64-v2 (no FMA instruction), so its a*b+c is two roundings; an FMA
//    on the GPU would round once and drift from the core's maps and distances.
//  * Float64 products of two float32 values are exact, so a float64 FMA of such a product
//    equals the separate multiply-add: no intrinsic is needed there.
//  * The order of every sum matches the core's (k-means' 8 lanes, the channel order of
//    the similarity maps, PyTorch's bilinear expressions), which makes the GPU's labels,
//    maps and points bit-identical to the CPU's, not merely close.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)
#define P2SAM_HD __host__ __device__
#else
#define P2SAM_HD
#endif

#include <cfloat>
#include <climits>
#include <cmath>
#include <string>
#include <vector>

#include "errors.hpp"
#include "kmeans.hpp"

namespace p2sam::cuda::hd {

// ------------------------------------------------------------------ rounding helpers
P2SAM_HD inline float f_mul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
P2SAM_HD inline float f_add(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
P2SAM_HD inline float f_sub(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
P2SAM_HD inline double d_sqrt(double x) {
#if defined(__CUDA_ARCH__)
  return ::sqrt(x);
#else
  return std::sqrt(x);
#endif
}
P2SAM_HD inline double d_exp(double x) {
#if defined(__CUDA_ARCH__)
  return ::exp(x);
#else
  return std::exp(x);
#endif
}
P2SAM_HD inline double d_log(double x) {
#if defined(__CUDA_ARCH__)
  return ::log(x);
#else
  return std::log(x);
#endif
}
P2SAM_HD inline bool d_isfinite(double x) { return x - x == 0.0; }  // false for inf and NaN

// ------------------------------------------------------------------ k-means distances
// The core's k-means keeps 8 float32 partial sums ("lanes": element t goes to lane
// t % 8 for the part of d that is a multiple of 8), combines them in one fixed tree and
// adds a separately summed scalar tail. Reproducing that order is what makes the GPU's
// assignment step pick the same centre as the CPU on every point.
P2SAM_HD inline float reduce_lanes(const float* a) {
  return f_add(f_add(f_add(a[0], a[4]), f_add(a[2], a[6])), f_add(f_add(a[1], a[5]), f_add(a[3], a[7])));
}

// x · c in the core's lane order (float32).
P2SAM_HD inline float dot_lanes(const float* x, const float* c, int d) {
  float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int j = 0;
  for (; j + 8 <= d; j += 8)
    for (int l = 0; l < 8; ++l) lanes[l] = f_add(lanes[l], f_mul(x[j + l], c[j + l]));
  float tail = 0.0f;
  for (int t = j; t < d; ++t) tail = f_add(tail, f_mul(x[t], c[t]));
  return f_add(reduce_lanes(lanes), tail);
}

// ||x - c||² in the core's lane order, returned in float64 (lanes and tail are added
// in float64, as the core does). Identical rows give exactly 0.
P2SAM_HD inline double sq_dist_lanes(const float* x, const float* c, int d) {
  float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int j = 0;
  for (; j + 8 <= d; j += 8)
    for (int l = 0; l < 8; ++l) {
      const float diff = f_sub(x[j + l], c[j + l]);
      lanes[l] = f_add(lanes[l], f_mul(diff, diff));
    }
  float tail = 0.0f;
  for (int t = j; t < d; ++t) {
    const float diff = f_sub(x[t], c[t]);
    tail = f_add(tail, f_mul(diff, diff));
  }
  return static_cast<double>(reduce_lanes(lanes)) + static_cast<double>(tail);
}

// The assignment score ||c||² - 2 x·c (||x||² is common to all centres, so it is left
// out, as in the core). 2·dot is exact in float32, so only the subtraction rounds.
P2SAM_HD inline float assign_score(float centre_norm, float dot) { return f_sub(centre_norm, 2.0f * dot); }

// k-means++ potential update of one point for a candidate centre: the new D² is the
// smaller of its current D² and its distance to the candidate.
P2SAM_HD inline double potential_update(double closest, double dist) { return dist < closest ? dist : closest; }

// ------------------------------------------------------------------ random numbers
// The core's streams: splitmix64 expands seeds, xoshiro256** generates. A restart's
// stream depends only on (seed, k, restart), so the GPU's restart r of part count k
// draws exactly the numbers the CPU's does.
P2SAM_HD inline std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

P2SAM_HD inline std::uint64_t rotl64(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

struct Xoshiro {
  std::uint64_t s[4];
  P2SAM_HD explicit Xoshiro(std::uint64_t seed) {
    for (int i = 0; i < 4; ++i) s[i] = splitmix64(seed);
  }
  P2SAM_HD std::uint64_t next() {
    const std::uint64_t result = rotl64(s[1] * 5, 7) * 9;
    const std::uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
  }
  // Top 53 bits scaled by 2^-53: exactly representable, in [0, 1).
  P2SAM_HD double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  P2SAM_HD int index(int n) {
    const int i = static_cast<int>(uniform() * static_cast<double>(n));
    return i < n ? i : n - 1;
  }
};

P2SAM_HD inline std::uint64_t kmeans_stream_seed(std::uint64_t seed, int k, int restart) {
  std::uint64_t s = seed;
  std::uint64_t a = splitmix64(s);
  std::uint64_t t = a ^ (static_cast<std::uint64_t>(static_cast<std::uint32_t>(k)) << 32);
  std::uint64_t b = splitmix64(t);
  std::uint64_t u = b ^ static_cast<std::uint64_t>(static_cast<std::uint32_t>(restart));
  return splitmix64(u);
}

// Greedy k-means++ trials per new centre (scikit-learn's 2 + floor(ln k)). The GPU
// keeps the trial uniforms in kMaxTrials slots, which bounds k at e^7 - 1 = 1095.
constexpr int kMaxTrials = 8;
constexpr int kMaxK = 1095;
P2SAM_HD inline int kmeanspp_trials(int k) {
#if defined(__CUDA_ARCH__)
  return 2 + static_cast<int>(::log(static_cast<double>(k)));
#else
  return 2 + static_cast<int>(std::log(static_cast<double>(k)));
#endif
}

// First index whose cumulative D² exceeds u·potential (never a point with zero D², i.e.
// one already equal to a centre). cumulative[n-1] is the potential.
P2SAM_HD inline int sample_by_potential(const double* cumulative, const double* closest, int n, double u) {
  const double potential = cumulative[n - 1];
  if (!(potential > 0.0)) return static_cast<int>(static_cast<std::uint64_t>(u * static_cast<double>(n)) % static_cast<std::uint64_t>(n));
  const double target = u * potential;
  int lo = 0, hi = n;  // upper_bound: first cumulative[i] > target
  while (lo < hi) {
    const int mid = lo + (hi - lo) / 2;
    if (cumulative[mid] > target) hi = mid;
    else lo = mid + 1;
  }
  int idx = lo;
  if (idx >= n) {
    idx = n - 1;
    while (idx > 0 && !(closest[idx] > 0.0)) --idx;
  }
  return idx;
}

// ------------------------------------------------------------------ one k-means restart
// A restart (greedy k-means++ seeding, plain Lloyd, empty-cluster handling, inertia) as
// the core runs it with accelerate = false, written against an execution policy:
//   ex.tid, ex.nthreads  this worker and the worker count (loops stride by nthreads)
//   ex.sync()            all workers reach this point; global writes become visible
//   ex.sum(v)            sum of every worker's v, returned to all (fixed tree order)
// The GPU runs it with one thread block per (k, restart) (ex = the block); the CPU test
// runs it with one worker, where every sum is the ordered sum the core computes, so the
// host run must reproduce the core bit for bit. Only the leader (tid 0) touches the RNG
// and the rare sequential paths (empty clusters).
struct KmView {
  const float* x = nullptr;      // n×d, centred (x - mean), float32
  const float* norms = nullptr;  // n, ||x_i||² by dot_lanes
  int n = 0, d = 0, k = 0;
  int max_iterations = 300;
  double tolerance = 0.0;        // absolute (relative × mean feature variance)
};

struct KmWork {
  float* centres;       // k×d
  float* centres_new;   // k×d
  float* cnorm;         // k
  double* sums;         // k×d
  int* counts;          // k
  int* labels;          // n
  int* labels_old;      // n
  double* closest;      // n
  double* cumulative;   // n
  double* trial;        // n
  double* best_trial;   // n
  unsigned char* taken; // n
  int* shared_int;      // 1 leader -> all broadcast slot
  double* shared_dbl;   // kMaxTrials leader -> all broadcast slots (the trial uniforms)
  // outputs
  double* inertia;
  int* iterations;
};

template <class Exec>
P2SAM_HD inline void km_update_norms(Exec& ex, const KmView& v, KmWork& w) {
  for (int j = ex.tid; j < v.k; j += ex.nthreads) {
    const float* c = w.centres + static_cast<std::size_t>(j) * v.d;
    w.cnorm[j] = dot_lanes(c, c, v.d);
  }
  ex.sync();
}

// Nearest centre by assign_score, ties to the lower index. Returns whether any label
// differs from labels_old (only meaningful when the caller keeps labels_old).
template <class Exec>
P2SAM_HD inline void km_assign(Exec& ex, const KmView& v, KmWork& w) {
  for (int i = ex.tid; i < v.n; i += ex.nthreads) {
    const float* x = v.x + static_cast<std::size_t>(i) * v.d;
    float best = 0.0f;
    int best_j = -1;
    for (int j = 0; j < v.k; ++j) {
      const float s = assign_score(w.cnorm[j], dot_lanes(x, w.centres + static_cast<std::size_t>(j) * v.d, v.d));
      if (best_j < 0 || s < best) {
        best = s;
        best_j = j;
      }
    }
    w.labels[i] = best_j;
  }
  ex.sync();
}

// Cluster sums in float64, each (cluster, feature) summed over points in increasing
// index order — the order in which the core's assignment loop accumulates them.
template <class Exec>
P2SAM_HD inline void km_accumulate(Exec& ex, const KmView& v, KmWork& w) {
  const int kd = v.k * v.d;
  for (int q = ex.tid; q < kd; q += ex.nthreads) {
    const int j = q / v.d, t = q % v.d;
    double s = 0.0;
    for (int i = 0; i < v.n; ++i)
      if (w.labels[i] == j) s += static_cast<double>(v.x[static_cast<std::size_t>(i) * v.d + t]);
    w.sums[q] = s;
  }
  for (int j = ex.tid; j < v.k; j += ex.nthreads) {
    int c = 0;
    for (int i = 0; i < v.n; ++i) c += w.labels[i] == j;
    w.counts[j] = c;
  }
  ex.sync();
}

// Point not yet taken that is farthest from its labelled centre, among clusters that
// keep another member; ties to the lower index. Sequential (leader only, rare path).
P2SAM_HD inline int km_farthest_movable(const KmView& v, const KmWork& w) {
  double best = -1.0;
  int best_i = v.n;
  for (int i = 0; i < v.n; ++i) {
    if (w.taken[i]) continue;
    const int l = w.labels[i];
    if (w.counts[l] < 2) continue;
    const double dist = sq_dist_lanes(v.x + static_cast<std::size_t>(i) * v.d, w.centres + static_cast<std::size_t>(l) * v.d, v.d);
    if (dist > best) {
      best = dist;
      best_i = i;
    }
  }
  return best_i;
}

// During Lloyd: an empty cluster's sum becomes the farthest point (scikit-learn's
// relocation); labels stay as they are. Leader only.
P2SAM_HD inline void km_relocate_empty(const KmView& v, KmWork& w) {
  bool any = false;
  for (int j = 0; j < v.k; ++j) any = any || w.counts[j] == 0;
  if (!any) return;
  for (int i = 0; i < v.n; ++i) w.taken[i] = 0;
  for (int j = 0; j < v.k; ++j) {
    if (w.counts[j] != 0) continue;
    const int i = km_farthest_movable(v, w);
    if (i >= v.n) break;
    const int old = w.labels[i];
    const float* x = v.x + static_cast<std::size_t>(i) * v.d;
    for (int t = 0; t < v.d; ++t) {
      w.sums[static_cast<std::size_t>(old) * v.d + t] -= static_cast<double>(x[t]);
      w.sums[static_cast<std::size_t>(j) * v.d + t] = static_cast<double>(x[t]);
    }
    --w.counts[old];
    w.counts[j] = 1;
    w.taken[i] = 1;
  }
}

// After the final assignment: every empty cluster gets its own point and the touched
// centroids become the means of their labels. Leader only.
P2SAM_HD inline void km_repair_empty(const KmView& v, KmWork& w) {
  for (int j = 0; j < v.k; ++j) w.counts[j] = 0;
  for (int i = 0; i < v.n; ++i) ++w.counts[w.labels[i]];
  bool any = false;
  for (int j = 0; j < v.k; ++j) any = any || w.counts[j] == 0;
  if (!any) return;
  for (int i = 0; i < v.n; ++i) w.taken[i] = 0;
  // cnorm doubles as the "touched" flags here: it is recomputed before any later use.
  for (int j = 0; j < v.k; ++j) w.cnorm[j] = 0.0f;
  for (int j = 0; j < v.k; ++j) {
    if (w.counts[j] != 0) continue;
    const int i = km_farthest_movable(v, w);
    if (i >= v.n) break;
    const int old = w.labels[i];
    --w.counts[old];
    w.counts[j] = 1;
    w.labels[i] = j;
    w.taken[i] = 1;
    w.cnorm[old] = w.cnorm[j] = 1.0f;
  }
  for (int j = 0; j < v.k; ++j) {
    if (w.cnorm[j] == 0.0f) continue;
    for (int t = 0; t < v.d; ++t) {
      double s = 0.0;
      for (int i = 0; i < v.n; ++i)
        if (w.labels[i] == j) s += static_cast<double>(v.x[static_cast<std::size_t>(i) * v.d + t]);
      w.centres[static_cast<std::size_t>(j) * v.d + t] = static_cast<float>(s * (1.0 / static_cast<double>(w.counts[j])));
    }
  }
}

template <class Exec>
P2SAM_HD inline void km_seed(Exec& ex, const KmView& v, KmWork& w, Xoshiro& rng) {
  const int n = v.n, d = v.d;
  if (ex.tid == 0) w.shared_int[0] = rng.index(n);
  ex.sync();
  const int first = w.shared_int[0];
  const float* xf = v.x + static_cast<std::size_t>(first) * d;
  for (int t = ex.tid; t < d; t += ex.nthreads) w.centres[t] = xf[t];
  for (int i = ex.tid; i < n; i += ex.nthreads) w.closest[i] = sq_dist_lanes(v.x + static_cast<std::size_t>(i) * d, xf, d);
  ex.sync();
  const int trials = kmeanspp_trials(v.k);
  for (int c = 1; c < v.k; ++c) {
    // The leader draws the trial candidates exactly as the core does: cumulative D²,
    // then all uniforms, then one upper_bound per uniform.
    if (ex.tid == 0) {
      double running = 0.0;
      for (int i = 0; i < n; ++i) {
        running += w.closest[i];
        w.cumulative[i] = running;
      }
      for (int t = 0; t < trials; ++t) w.shared_dbl[t] = rng.uniform();
    }
    ex.sync();
    double best_potential = 0.0;
    int best_candidate = 0;
    for (int t = 0; t < trials; ++t) {
      const int cand = sample_by_potential(w.cumulative, w.closest, n, w.shared_dbl[t]);
      const float* xc = v.x + static_cast<std::size_t>(cand) * d;
      double part = 0.0;
      for (int i = ex.tid; i < n; i += ex.nthreads) {
        const double m = potential_update(w.closest[i], sq_dist_lanes(v.x + static_cast<std::size_t>(i) * d, xc, d));
        w.trial[i] = m;
        part += m;
      }
      const double pot = ex.sum(part);
      if (t == 0 || pot < best_potential) {
        best_potential = pot;
        best_candidate = cand;
        for (int i = ex.tid; i < n; i += ex.nthreads) w.best_trial[i] = w.trial[i];
      }
      ex.sync();
    }
    for (int i = ex.tid; i < n; i += ex.nthreads) w.closest[i] = w.best_trial[i];
    const float* xb = v.x + static_cast<std::size_t>(best_candidate) * d;
    for (int t = ex.tid; t < d; t += ex.nthreads) w.centres[static_cast<std::size_t>(c) * d + t] = xb[t];
    ex.sync();
  }
}

template <class Exec>
P2SAM_HD inline void kmeans_restart(Exec& ex, const KmView& v, KmWork& w, std::uint64_t stream_seed) {
  Xoshiro rng(stream_seed);
  km_seed(ex, v, w, rng);
  for (int i = ex.tid; i < v.n; i += ex.nthreads) w.labels_old[i] = -1;
  ex.sync();
  bool strict = false;
  int it = 0;
  while (it < v.max_iterations) {
    km_update_norms(ex, v, w);
    km_assign(ex, v, w);
    km_accumulate(ex, v, w);
    if (ex.tid == 0) km_relocate_empty(v, w);
    ex.sync();
    // New centres (float32 means of the float64 sums) and the squared shift, summed
    // per cluster over features, then over clusters in order.
    double part = 0.0;
    for (int j = ex.tid; j < v.k; j += ex.nthreads) {
      const double inv = 1.0 / static_cast<double>(w.counts[j]);
      double moved = 0.0;
      for (int t = 0; t < v.d; ++t) {
        const std::size_t q = static_cast<std::size_t>(j) * v.d + t;
        const float c = static_cast<float>(w.sums[q] * inv);
        const double diff = static_cast<double>(c) - static_cast<double>(w.centres[q]);
        moved += diff * diff;
        w.centres_new[q] = c;
      }
      part += moved;
    }
    const double shift = ex.sum(part);
    const int kd = v.k * v.d;
    for (int q = ex.tid; q < kd; q += ex.nthreads) w.centres[q] = w.centres_new[q];
    int changed = 0;
    for (int i = ex.tid; i < v.n; i += ex.nthreads) changed |= w.labels[i] != w.labels_old[i];
    const double any_changed = ex.sum(static_cast<double>(changed));
    ++it;
    if (any_changed == 0.0) {
      strict = true;
      break;
    }
    if (shift <= v.tolerance) break;
    for (int i = ex.tid; i < v.n; i += ex.nthreads) w.labels_old[i] = w.labels[i];
    ex.sync();
  }
  if (!strict) {
    km_update_norms(ex, v, w);
    km_assign(ex, v, w);
  }
  if (ex.tid == 0) km_repair_empty(v, w);
  ex.sync();
  double part = 0.0;
  for (int i = ex.tid; i < v.n; i += ex.nthreads)
    part += sq_dist_lanes(v.x + static_cast<std::size_t>(i) * v.d, w.centres + static_cast<std::size_t>(w.labels[i]) * v.d, v.d);
  const double inertia = ex.sum(part);
  if (ex.tid == 0) {
    *w.inertia = inertia;
    *w.iterations = it;
  }
  ex.sync();
}

// ------------------------------------------------------------------ similarity maps
// Cell normalisation of the target embedding: norm² accumulated in float64 over the
// 256 channels in order (returned as float64 so the caller can reject a non-finite sum
// exactly where the core does), then rounded to float32, and each value divided in
// float32 (a zero norm leaves the cell zero). `plane` is the channel stride (4096).
P2SAM_HD inline double cell_norm_sq(const float* embedding, int cell, int channels, int plane) {
  double acc = 0.0;
  for (int c = 0; c < channels; ++c) {
    const double v = static_cast<double>(embedding[static_cast<std::size_t>(c) * plane + cell]);
    acc += v * v;
  }
  return acc;
}
P2SAM_HD inline float cell_norm_from_sq(double acc) { return static_cast<float>(d_sqrt(acc)); }
P2SAM_HD inline float normalised_value(float v, float norm) { return norm > 0.0f ? v / norm : 0.0f; }

// One cell of a raw 64×64 similarity map: prototype · normalised features, float32,
// channels in order (the core's channel-outer accumulation yields this per-cell order).
P2SAM_HD inline float similarity_cell(const float* target_normalized, const float* prototype, int cell, int channels,
                                      int plane) {
  float s = 0.0f;
  for (int c = 0; c < channels; ++c)
    s = f_add(s, f_mul(prototype[c], target_normalized[static_cast<std::size_t>(c) * plane + cell]));
  return s;
}

// One tap pair of PyTorch's bilinear resize (align_corners = false, no antialias) for
// output index `d` of an in_size -> out_size axis: out = in[i0]*w0 + in[i1]*w1.
// Ratio and source index are float32 as in PyTorch's kernel; equal sizes copy.
struct Tap {
  int i0, i1;
  float w0, w1;
};
P2SAM_HD inline Tap torch_tap(int in_size, int out_size, int d) {
  Tap t;
  if (in_size == out_size) {
    t.i0 = t.i1 = d;
    t.w0 = 1.0f;
    t.w1 = 0.0f;
    return t;
  }
  const float ratio = static_cast<float>(in_size) / static_cast<float>(out_size);
  float src = f_sub(f_mul(ratio, f_add(static_cast<float>(d), 0.5f)), 0.5f);
  if (src < 0.0f) src = 0.0f;
#if defined(__CUDA_ARCH__)
  int i0 = static_cast<int>(::floorf(src));
#else
  int i0 = static_cast<int>(std::floor(src));
#endif
  if (i0 > in_size - 1) i0 = in_size - 1;
  float lambda1 = f_sub(src, static_cast<float>(i0));
  lambda1 = lambda1 < 0.0f ? 0.0f : (lambda1 > 1.0f ? 1.0f : lambda1);
  t.i0 = i0;
  t.i1 = i0 < in_size - 1 ? i0 + 1 : i0;
  t.w1 = lambda1;
  t.w0 = f_sub(1.0f, lambda1);
  return t;
}

// PyTorch's CPU kernel choice (see geometry.hpp): small outputs sum four combined
// weights left to right, larger ones interpolate along the width, then the height.
P2SAM_HD inline bool uses_combined_weights(int out_h, int out_w) { return out_h + out_w <= 128; }

P2SAM_HD inline float lerp_taps(float a, float wa, float b, float wb) { return f_add(f_mul(a, wa), f_mul(b, wb)); }

// One output value from the four inputs x[row][col] at the taps ty (rows), tx (cols).
P2SAM_HD inline float bilinear_value(float x00, float x01, float x10, float x11, const Tap& ty, const Tap& tx,
                                     bool combined) {
  if (combined) {
    const float w00 = f_mul(ty.w0, tx.w0), w01 = f_mul(ty.w0, tx.w1);
    const float w10 = f_mul(ty.w1, tx.w0), w11 = f_mul(ty.w1, tx.w1);
    return f_add(f_add(f_add(f_mul(x00, w00), f_mul(x01, w01)), f_mul(x10, w10)), f_mul(x11, w11));
  }
  return lerp_taps(lerp_taps(x00, tx.w0, x01, tx.w1), ty.w0, lerp_taps(x10, tx.w0, x11, tx.w1), ty.w1);
}

// Value (y, x) of a resize of the plane `src` (in_h×in_w, row stride `stride`).
P2SAM_HD inline float resize_value(const float* src, int stride, int in_h, int in_w, int out_h, int out_w, int y,
                                   int x) {
  const Tap ty = torch_tap(in_h, out_h, y), tx = torch_tap(in_w, out_w, x);
  const float* ra = src + static_cast<std::size_t>(ty.i0) * stride;
  const float* rb = src + static_cast<std::size_t>(ty.i1) * stride;
  return bilinear_value(ra[tx.i0], ra[tx.i1], rb[tx.i0], rb[tx.i1], ty, tx, uses_combined_weights(out_h, out_w));
}

// The SPEC chain after the ×4 stage, for one pixel (y, x) of the H×W output: the 1024
// frame crop values it needs are evaluated on the fly from the 256×256 plane `s256`
// (each by the same float expression the core's streamed chain uses), so no 1024-frame
// plane is ever stored.
P2SAM_HD inline float chain_value(const float* s256, int new_w, int new_h, int orig_w, int orig_h, int y, int x) {
  const Tap ty = torch_tap(new_h, orig_h, y), tx = torch_tap(new_w, orig_w, x);
  // Crop stage: 256 -> 1024 (only rows < new_h / cols < new_w are ever addressed).
  const float c00 = resize_value(s256, 256, 256, 256, 1024, 1024, ty.i0, tx.i0);
  const float c01 = resize_value(s256, 256, 256, 256, 1024, 1024, ty.i0, tx.i1);
  const float c10 = resize_value(s256, 256, 256, 256, 1024, 1024, ty.i1, tx.i0);
  const float c11 = resize_value(s256, 256, 256, 256, 1024, 1024, ty.i1, tx.i1);
  return bilinear_value(c00, c01, c10, c11, ty, tx, uses_combined_weights(orig_h, orig_w));
}

// Extreme tracking with the first-index tie rule of torch.argmax/argmin on a flattened
// map: a candidate replaces the current one when strictly better, or equally good at a
// lower index (the latter makes the rule order-independent, so a parallel reduction
// finds the same point as the core's row-major scan).
P2SAM_HD inline bool better_max(float v, long long idx, float best, long long best_idx) {
  return best_idx < 0 || v > best || (v == best && idx < best_idx);
}
P2SAM_HD inline bool better_min(float v, long long idx, float best, long long best_idx) {
  return best_idx < 0 || v < best || (v == best && idx < best_idx);
}

// ------------------------------------------------------------------ transport
// Squared Euclidean cost from float64 squared norms and dot product, clamped at 0
// (a zero distance can come out slightly negative). Same expression as the core.
P2SAM_HD inline double cost_entry(double norm_a, double norm_b, double dot) {
  const double v = norm_a + norm_b - 2.0 * dot;
  return v > 0.0 ? v : 0.0;
}
// Float64 squared norm / dot of float32 rows, summed in feature order.
P2SAM_HD inline double sq_norm_f64(const float* x, int d) {
  double s = 0.0;
  for (int t = 0; t < d; ++t) s += static_cast<double>(x[t]) * static_cast<double>(x[t]);
  return s;
}
P2SAM_HD inline double dot_f64(const float* a, const float* b, int d) {
  double s = 0.0;
  for (int t = 0; t < d; ++t) s += static_cast<double>(a[t]) * static_cast<double>(b[t]);
  return s;
}

// Log-domain Sinkhorn pieces (see native/core/sinkhorn.cpp for the derivation):
//   row   f_i = eps·log a_i - (M_i + eps·log sum_j exp((g_j - C_ij - M_i)/eps)),  M_i = max_j (g_j - C_ij)
//   col   lse_j = M_j + eps·log sum_i exp((f_i - C_ij - M_j)/eps),             M_j = max_i (f_i - C_ij)
// Subtracting the maximum keeps every exponent <= 0: nothing overflows for any eps.
P2SAM_HD inline double lse_term(double value, double shift, double inv_eps) { return d_exp((value - shift) * inv_eps); }
P2SAM_HD inline double lse_finish(double shift, double sum, double eps) { return shift + eps * d_log(sum); }
// |column sum of the plan - b_j|, the column sum being exp((g_j + lse_j)/eps) (capped
// exponent: an error that large only has to read as "not converged").
P2SAM_HD inline double marginal_term(double g, double lse, double inv_eps, double b) {
  double e = (g + lse) * inv_eps;
  e = e < 700.0 ? e : 700.0;
  const double diff = d_exp(e) - b;
  return diff < 0.0 ? -diff : diff;
}
// One entry of <P, C>: exp((f + g - c)/eps)·c.
P2SAM_HD inline double plan_cost_term(double f, double g, double c, double inv_eps) {
  return d_exp((f + g - c) * inv_eps) * c;
}

// ====================================================================================
// Host side of the GPU k-means: input checks, centring, restart bookkeeping and the
// choice of the best restart — plain host C++ (never called from device code) shared
// by the CUDA driver (kmeans.cu) and the CPU tests, which run the restarts with
// SerialExec and must reproduce the core.
// ====================================================================================

// One worker that runs every "parallel" loop itself; sums are therefore the ordered
// sums of the core.
struct SerialExec {
  int tid = 0, nthreads = 1;
  P2SAM_HD void sync() {}
  P2SAM_HD double sum(double v) { return v; }
};

struct KmPrepared {
  std::size_t n = 0, d = 0;
  std::vector<double> mean;    // d
  std::vector<float> centred;  // n×d
  std::vector<float> norms;    // n
  double tolerance = 0.0;
};

// Same centring, variance and norms as the core's prepare().
inline KmPrepared km_prepare(const float* x, std::size_t n, std::size_t d, double relative_tolerance) {
  KmPrepared p;
  p.n = n;
  p.d = d;
  p.mean.assign(d, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t t = 0; t < d; ++t) p.mean[t] += static_cast<double>(x[i * d + t]);
  for (std::size_t t = 0; t < d; ++t) p.mean[t] /= static_cast<double>(n);
  std::vector<double> var(d, 0.0);
  p.centred.resize(n * d);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t t = 0; t < d; ++t) {
      const double c = static_cast<double>(x[i * d + t]) - p.mean[t];
      var[t] += c * c;
      p.centred[i * d + t] = static_cast<float>(c);
    }
  double mean_var = 0.0;
  for (std::size_t t = 0; t < d; ++t) mean_var += var[t] / static_cast<double>(n);
  mean_var /= static_cast<double>(d);
  p.tolerance = relative_tolerance * mean_var;
  p.norms.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const float* r = p.centred.data() + i * d;
    p.norms[i] = dot_lanes(r, r, static_cast<int>(d));
  }
  return p;
}

// The core's argument contract (kmeans.hpp), plus the GPU's own limits: n·d and n·k·d
// must fit the kernels' int indexing and k is bounded by kMaxK.
inline void km_validate(const char* fn, const float* x, std::size_t n, std::size_t d, const std::vector<int>& ks,
                        const core::KMeansOptions& o) {
  const std::string where = std::string(fn) + ": ";
  auto bad = [&](const std::string& m) { return core::invalid_argument(where + m); };
  if (d == 0) throw bad("parameter 'd' (feature dimension) must be >= 1, got 0");
  if (n > 0 && x == nullptr) throw bad("parameter 'features' must not be null when n = " + std::to_string(n) + " > 0");
  if (n > static_cast<std::size_t>(INT_MAX) || d > static_cast<std::size_t>(INT_MAX) ||
      (n > 0 && d > static_cast<std::size_t>(INT_MAX) / n))
    throw bad("parameters 'n' × 'd' must be < 2^31 on the GPU, got n = " + std::to_string(n) + ", d = " + std::to_string(d));
  if (ks.empty()) throw bad("parameter 'ks' must list at least one part count, got an empty list");
  for (std::size_t q = 0; q < ks.size(); ++q) {
    if (ks[q] < 1 || ks[q] > kMaxK)
      throw bad("parameter 'ks' must contain part counts in 1.." + std::to_string(kMaxK) + ", got ks[" +
                std::to_string(q) + "] = " + std::to_string(ks[q]));
    if (static_cast<std::size_t>(ks[q]) * d > static_cast<std::size_t>(INT_MAX))
      throw bad("parameter 'ks' × 'd' must be < 2^31 on the GPU, got ks[" + std::to_string(q) + "] = " + std::to_string(ks[q]));
  }
  if (o.restarts < 1) throw bad("option 'restarts' must be >= 1, got " + std::to_string(o.restarts));
  if (o.max_iterations < 1) throw bad("option 'max_iterations' must be >= 1, got " + std::to_string(o.max_iterations));
  if (!(o.relative_tolerance >= 0.0) || !d_isfinite(o.relative_tolerance))
    throw bad("option 'relative_tolerance' must be a finite number >= 0, got " + std::to_string(o.relative_tolerance));
  const double limit = std::sqrt(static_cast<double>(FLT_MAX) / (16.0 * static_cast<double>(d)));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t t = 0; t < d; ++t) {
      const float v = x[i * d + t];
      if (!std::isfinite(v))
        throw bad("parameter 'features' must be finite, got " + std::to_string(v) + " at row " + std::to_string(i) +
                  ", column " + std::to_string(t));
      if (std::fabs(static_cast<double>(v)) > limit)
        throw bad("parameter 'features' must have magnitude <= " + std::to_string(limit) + " for d = " +
                  std::to_string(d) + ", got " + std::to_string(v) + " at row " + std::to_string(i) + ", column " +
                  std::to_string(t));
    }
}

struct KmTask {
  std::size_t q;  // index into ks
  int k;
  int restart;
};

struct KmRestartResult {
  std::vector<std::int32_t> labels;
  std::vector<float> centres;  // centred coordinates
  double inertia = 0.0;
  int iterations = 0;
};

// Host buffers for one restart, laid out as KmWork expects.
struct KmHostWork {
  std::vector<float> centres, centres_new, cnorm;
  std::vector<double> sums, closest, cumulative, trial, best_trial, shared_dbl;
  std::vector<int> counts, labels, labels_old, shared_int;
  std::vector<unsigned char> taken;
  double inertia = 0.0;
  int iterations = 0;
  KmWork view(std::size_t n, std::size_t d, int k) {
    const std::size_t kd = static_cast<std::size_t>(k) * d;
    centres.assign(kd, 0.0f);
    centres_new.assign(kd, 0.0f);
    cnorm.assign(k, 0.0f);
    sums.assign(kd, 0.0);
    counts.assign(k, 0);
    labels.assign(n, 0);
    labels_old.assign(n, -1);
    closest.assign(n, 0.0);
    cumulative.assign(n, 0.0);
    trial.assign(n, 0.0);
    best_trial.assign(n, 0.0);
    taken.assign(n, 0);
    shared_int.assign(1, 0);
    shared_dbl.assign(kMaxTrials, 0.0);
    return KmWork{centres.data(), centres_new.data(), cnorm.data(), sums.data(), counts.data(), labels.data(),
                  labels_old.data(), closest.data(), cumulative.data(), trial.data(), best_trial.data(),
                  taken.data(), shared_int.data(), shared_dbl.data(), &inertia, &iterations};
  }
};

inline KmView km_view(const KmPrepared& p, int k, const core::KMeansOptions& o) {
  KmView v;
  v.x = p.centred.data();
  v.norms = p.norms.data();
  v.n = static_cast<int>(p.n);
  v.d = static_cast<int>(p.d);
  v.k = k;
  v.max_iterations = o.max_iterations;
  v.tolerance = p.tolerance;
  return v;
}

// scikit-learn keeps a later restart only when it is strictly better AND a different
// partition, so rounding noise on one partition cannot flip the choice.
inline bool km_same_partition(const std::vector<std::int32_t>& a, const std::vector<std::int32_t>& b, int k) {
  std::vector<std::int32_t> map(static_cast<std::size_t>(k), -1);
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto& m = map[static_cast<std::size_t>(a[i])];
    if (m < 0) m = b[i];
    else if (m != b[i]) return false;
  }
  return true;
}

// The whole batch around a restart runner: run_restarts(prepared, tasks) returns one
// KmRestartResult per task. k = 1 is the closed-form mean, n < k is skipped, and the
// best restart per k is chosen in restart order, exactly like the core.
template <class RunRestarts>
std::vector<core::KMeansResult> km_batch(const char* fn, const float* x, std::size_t n, std::size_t d,
                                         const std::vector<int>& ks, const core::KMeansOptions& o,
                                         RunRestarts&& run_restarts) {
  km_validate(fn, x, n, d, ks, o);
  std::vector<core::KMeansResult> out(ks.size());
  for (std::size_t q = 0; q < ks.size(); ++q) {
    out[q].k = ks[q];
    out[q].skipped = static_cast<std::size_t>(ks[q]) > n;
  }
  if (n == 0) return out;
  const KmPrepared p = km_prepare(x, n, d, o.relative_tolerance);
  std::vector<KmTask> tasks;
  for (std::size_t q = 0; q < ks.size(); ++q) {
    if (out[q].skipped) continue;
    if (ks[q] == 1) {
      core::KMeansResult& r = out[q];
      r.labels.assign(n, 0);
      r.centroids.resize(d);
      for (std::size_t t = 0; t < d; ++t) r.centroids[t] = static_cast<float>(p.mean[t]);
      double inertia = 0.0;
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t t = 0; t < d; ++t) {
          const double diff = static_cast<double>(x[i * d + t]) - p.mean[t];
          inertia += diff * diff;
        }
      r.inertia = inertia;
      continue;
    }
    for (int rs = 0; rs < o.restarts; ++rs) tasks.push_back({q, ks[q], rs});
  }
  if (tasks.empty()) return out;
  std::vector<KmRestartResult> results = run_restarts(p, tasks);
  for (std::size_t q = 0; q < ks.size(); ++q) {
    std::size_t best = tasks.size();
    for (std::size_t t = 0; t < tasks.size(); ++t) {  // tasks are in restart order per q
      if (tasks[t].q != q) continue;
      if (best == tasks.size() ||
          (results[t].inertia < results[best].inertia && !km_same_partition(results[t].labels, results[best].labels, ks[q])))
        best = t;
    }
    if (best == tasks.size()) continue;
    KmRestartResult& r = results[best];
    core::KMeansResult& o_ = out[q];
    const std::size_t k = static_cast<std::size_t>(ks[q]);
    o_.labels = std::move(r.labels);
    o_.inertia = r.inertia;
    o_.iterations = r.iterations;
    o_.restart = tasks[best].restart;
    o_.centroids.resize(k * d);
    for (std::size_t j = 0; j < k; ++j)
      for (std::size_t t = 0; t < d; ++t)
        o_.centroids[j * d + t] = static_cast<float>(static_cast<double>(r.centres[j * d + t]) + p.mean[t]);
  }
  return out;
}

// The GPU algorithm run on the host, one restart after the other (tests, and a
// debugging aid for the kernels: same code path, no device).
inline std::vector<core::KMeansResult> kmeans_batch_serial(const float* x, std::size_t n, std::size_t d,
                                                           const std::vector<int>& ks, const core::KMeansOptions& o) {
  return km_batch("kmeans_batch_serial", x, n, d, ks, o, [&](const KmPrepared& p, const std::vector<KmTask>& tasks) {
    std::vector<KmRestartResult> res(tasks.size());
    KmHostWork hw;
    SerialExec ex;
    for (std::size_t t = 0; t < tasks.size(); ++t) {
      const KmView v = km_view(p, tasks[t].k, o);
      KmWork w = hw.view(p.n, p.d, tasks[t].k);
      kmeans_restart(ex, v, w, kmeans_stream_seed(o.seed, tasks[t].k, tasks[t].restart));
      res[t].labels.assign(hw.labels.begin(), hw.labels.end());
      res[t].centres = hw.centres;
      res[t].inertia = hw.inertia;
      res[t].iterations = hw.iterations;
    }
    return res;
  });
}

}  // namespace p2sam::cuda::hd
