// The k-means restart of the GPU (greedy k-means++ seeding, plain Lloyd, empty-cluster
// handling, inertia), written once against an execution policy so one thread block per
// (k, restart) runs it on the device (kmeans.cu) and a single worker runs it on the
// host in the CUDA-side tests (native/cuda/tests), where it must reproduce the core's
// plain Lloyd (KMeansOptions::accelerate = false) bit for bit. The random stream is the
// core's own (native/core/kmeans_random.hpp) and the batch around the restarts is the
// core's kmeans_batch_with (native/core/kmeans_driver.hpp); only the per-thread
// arithmetic lives here. Parity rules: see hd_math.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "errors.hpp"
#include "hd_math.hpp"
#include "kmeans.hpp"
#include "kmeans_driver.hpp"
#include "kmeans_random.hpp"

namespace p2sam::cuda::hd {

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
  if (!(potential > 0.0))
    return static_cast<int>(static_cast<std::uint64_t>(u * static_cast<double>(n)) % static_cast<std::uint64_t>(n));
  const double target = u * potential;
  int lo = 0, hi = n;  // upper_bound: first cumulative[i] > target
  while (lo < hi) {
    const int mid = lo + (hi - lo) / 2;
    if (cumulative[mid] > target)
      hi = mid;
    else
      lo = mid + 1;
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
  double tolerance = 0.0;  // absolute (relative × mean feature variance)
};

struct KmWork {
  float* centres;        // k×d
  float* centres_new;    // k×d
  float* cnorm;          // k
  double* sums;          // k×d
  int* counts;           // k
  int* labels;           // n
  int* labels_old;       // n
  double* closest;       // n
  double* cumulative;    // n
  double* trial;         // n
  double* best_trial;    // n
  unsigned char* taken;  // n
  int* shared_int;       // 1 leader -> all broadcast slot
  double* shared_dbl;    // kMaxTrials leader -> all broadcast slots (the trial uniforms)
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
    const double dist =
        sq_dist_lanes(v.x + static_cast<std::size_t>(i) * v.d, w.centres + static_cast<std::size_t>(l) * v.d, v.d);
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
      w.centres[static_cast<std::size_t>(j) * v.d + t] =
          static_cast<float>(s * (1.0 / static_cast<double>(w.counts[j])));
    }
  }
}

template <class Exec>
P2SAM_HD inline void km_seed(Exec& ex, const KmView& v, KmWork& w, core::Xoshiro256StarStar& rng) {
  const int n = v.n, d = v.d;
  if (ex.tid == 0) w.shared_int[0] = rng.index(n);
  ex.sync();
  const int first = w.shared_int[0];
  const float* xf = v.x + static_cast<std::size_t>(first) * d;
  for (int t = ex.tid; t < d; t += ex.nthreads) w.centres[t] = xf[t];
  for (int i = ex.tid; i < n; i += ex.nthreads)
    w.closest[i] = sq_dist_lanes(v.x + static_cast<std::size_t>(i) * d, xf, d);
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
  core::Xoshiro256StarStar rng(stream_seed);
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
    part += sq_dist_lanes(v.x + static_cast<std::size_t>(i) * v.d,
                          w.centres + static_cast<std::size_t>(w.labels[i]) * v.d, v.d);
  const double inertia = ex.sum(part);
  if (ex.tid == 0) {
    *w.inertia = inertia;
    *w.iterations = it;
  }
  ex.sync();
}

// ------------------------------------------------------------------ host side
// One worker that runs every "parallel" loop itself; sums are therefore the ordered
// sums of the core (the host runs of native/cuda/tests).
struct SerialExec {
  int tid = 0, nthreads = 1;
  P2SAM_HD void sync() {}
  P2SAM_HD double sum(double v) { return v; }
};

inline KmView km_view(const core::KMeansInput& p, int k, const core::KMeansOptions& o) {
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

// The GPU's own limits on top of the core's contract (validate_kmeans_arguments): n·d
// and k·d must fit the kernels' int indexing and k is bounded by kMaxK.
inline void km_check_gpu_limits(const char* fn, std::size_t n, std::size_t d, const std::vector<int>& ks) {
  const std::string where = std::string(fn) + ": ";
  auto bad = [&](const std::string& m) { return core::invalid_argument(where + m); };
  if (n > static_cast<std::size_t>(INT_MAX) || d > static_cast<std::size_t>(INT_MAX) ||
      (n > 0 && d > static_cast<std::size_t>(INT_MAX) / n))
    throw bad("parameters 'n' × 'd' must be < 2^31 on the GPU, got n = " + std::to_string(n) +
              ", d = " + std::to_string(d));
  for (std::size_t q = 0; q < ks.size(); ++q) {
    if (ks[q] > kMaxK)
      throw bad("parameter 'ks' must contain part counts in 1.." + std::to_string(kMaxK) + ", got ks[" +
                std::to_string(q) + "] = " + std::to_string(ks[q]));
    if (static_cast<std::size_t>(ks[q]) * d > static_cast<std::size_t>(INT_MAX))
      throw bad("parameter 'ks' × 'd' must be < 2^31 on the GPU, got ks[" + std::to_string(q) +
                "] = " + std::to_string(ks[q]));
  }
}

}  // namespace p2sam::cuda::hd
