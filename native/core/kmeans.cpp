// k-means (scikit-learn "lloyd" semantics) for the part prototypes; see kmeans.hpp for
// the contract and the deliberate deviations.
//
// Numerics
//   * The data are centred once (x - mean, mean in float64) like scikit-learn does: the
//     assignment step compares ||c||² - 2 x·c, whose cancellation error grows with the
//     distance of the cloud from the origin.
//   * Dot products and squared distances run in float32 over 8 independent lanes that
//     are summed in a fixed order: the compiler can vectorise lane-wise loops without
//     -ffast-math (no reassociation is needed) and the result does not depend on the
//     thread count or on alignment.
//   * Cluster sums, D² potentials, the centre shift and the inertia are float64.
//   * Input magnitudes are bounded (see magnitude_limit) so no float32 square or dot
//     product can overflow; together with finite inputs this rules out inf/NaN.
//
// Why one file of ~740 lines: it is one algorithm (a restart: seeding, Lloyd, Hamerly's
// bounds, empty-cluster repair) whose pieces share the Workspace and lane kernels; the
// batch around the restarts lives in kmeans_driver.hpp, the random streams in
// kmeans_random.hpp and the scikit-learn-compatible seeding in kmeans_sklearn.cpp.
#include "kmeans.hpp"

#include <algorithm>
#include <atomic>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "cancel.hpp"
#include "errors.hpp"
#include "kmeans_driver.hpp"
#include "kmeans_random.hpp"
#include "kmeans_same_clustering.hpp"
#include "kmeans_sklearn.hpp"
#include "parallel.hpp"

namespace p2sam::core {
namespace {

// ---------------------------------------------------------------- kernels
// Every kernel keeps 8 partial sums per output ("lanes": element t goes to lane t % 8)
// and combines them in one fixed order, plus a scalar tail for d % 8. With GCC/Clang
// the lanes are two 4-float vectors (SSE on x86-64, NEON on arm64) held in registers;
// the portable fallback performs the very same float operations in the same order, so
// both paths give bit-identical results (-DP2SAM_KMEANS_SCALAR forces the fallback).
// Plain loops over an acc[G][8] array were not kept in registers by g++ 12 (spilled
// every iteration, ~2x slower).
#if (defined(__GNUC__) || defined(__clang__)) && !defined(P2SAM_KMEANS_SCALAR)
#define P2SAM_KMEANS_VECTOR 1
typedef float V4 __attribute__((vector_size(16), aligned(4)));
inline V4 load4(const float* p) {
  V4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
#endif

constexpr std::size_t kLanes = 8;

// Fixed-order reduction of lanes a = {a0..a3} and b = {a4..a7}.
inline float reduce_lanes(const float* a) { return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7])); }

// out[g] = x · c_g for G centres stored at c, c + d, ... (G*d floats).
template <int G>
inline void dots(const float* __restrict x, const float* __restrict c, std::size_t d, float* out) {
  std::size_t j = 0;
  float lanes[G][kLanes];
#ifdef P2SAM_KMEANS_VECTOR
  V4 lo[G], hi[G];
  for (int g = 0; g < G; ++g) lo[g] = hi[g] = V4{0.0f, 0.0f, 0.0f, 0.0f};
  for (; j + kLanes <= d; j += kLanes) {
    const V4 xl = load4(x + j), xh = load4(x + j + 4);
    for (int g = 0; g < G; ++g) {
      const float* cg = c + static_cast<std::size_t>(g) * d + j;
      lo[g] += xl * load4(cg);
      hi[g] += xh * load4(cg + 4);
    }
  }
  for (int g = 0; g < G; ++g) {
    std::memcpy(lanes[g], &lo[g], 4 * sizeof(float));
    std::memcpy(lanes[g] + 4, &hi[g], 4 * sizeof(float));
  }
#else
  for (int g = 0; g < G; ++g)
    for (std::size_t l = 0; l < kLanes; ++l) lanes[g][l] = 0.0f;
  for (; j + kLanes <= d; j += kLanes)
    for (int g = 0; g < G; ++g) {
      const float* cg = c + static_cast<std::size_t>(g) * d + j;
      for (std::size_t l = 0; l < kLanes; ++l) lanes[g][l] += x[j + l] * cg[l];
    }
#endif
  for (int g = 0; g < G; ++g) {
    float tail = 0.0f;
    const float* cg = c + static_cast<std::size_t>(g) * d;
    for (std::size_t t = j; t < d; ++t) tail += x[t] * cg[t];
    out[g] = reduce_lanes(lanes[g]) + tail;
  }
}

// ||x - c||² in float32 lanes, returned as double. Identical rows give exactly 0.
inline double squared_distance(const float* __restrict x, const float* __restrict c, std::size_t d) {
  std::size_t j = 0;
  float lanes[kLanes];
#ifdef P2SAM_KMEANS_VECTOR
  V4 lo{0.0f, 0.0f, 0.0f, 0.0f}, hi{0.0f, 0.0f, 0.0f, 0.0f};
  for (; j + kLanes <= d; j += kLanes) {
    const V4 dl = load4(x + j) - load4(c + j), dh = load4(x + j + 4) - load4(c + j + 4);
    lo += dl * dl;
    hi += dh * dh;
  }
  std::memcpy(lanes, &lo, 4 * sizeof(float));
  std::memcpy(lanes + 4, &hi, 4 * sizeof(float));
#else
  for (std::size_t l = 0; l < kLanes; ++l) lanes[l] = 0.0f;
  for (; j + kLanes <= d; j += kLanes)
    for (std::size_t l = 0; l < kLanes; ++l) {
      const float diff = x[j + l] - c[j + l];
      lanes[l] += diff * diff;
    }
#endif
  float tail = 0.0f;
  for (std::size_t t = j; t < d; ++t) {
    const float diff = x[t] - c[t];
    tail += diff * diff;
  }
  return static_cast<double>(reduce_lanes(lanes)) + static_cast<double>(tail);
}

// ---------------------------------------------------------------- shared input
using Prepared = KMeansInput;

// Largest |x| accepted: centred values are at most 2|x|, and the worst intermediate,
// 2 x·c over d terms, is then <= 8 d |x|²; keep 16 d |x|² <= FLT_MAX for headroom.
double magnitude_limit(std::size_t d) {
  return std::sqrt(static_cast<double>(FLT_MAX) / (16.0 * static_cast<double>(d)));
}

Prepared prepare(const float* x, std::size_t n, std::size_t d, double relative_tolerance) {
  Prepared p;
  p.n = n;
  p.d = d;
  p.mean.assign(d, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t t = 0; t < d; ++t) p.mean[t] += static_cast<double>(x[i * d + t]);
  for (std::size_t t = 0; t < d; ++t) p.mean[t] /= static_cast<double>(n);
  // Two-pass variance (population, ddof = 0, as numpy's var) from the centred values.
  std::vector<double> var(d, 0.0);
  p.centred.resize(n * d);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t t = 0; t < d; ++t) {
      double c = static_cast<double>(x[i * d + t]) - p.mean[t];
      var[t] += c * c;
      p.centred[i * d + t] = static_cast<float>(c);
    }
  }
  double mean_var = 0.0;
  for (std::size_t t = 0; t < d; ++t) mean_var += var[t] / static_cast<double>(n);
  mean_var /= static_cast<double>(d);
  p.tolerance = relative_tolerance * mean_var;
  p.norms.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const float* r = p.centred.data() + i * d;
    dots<1>(r, r, d, &p.norms[i]);
  }
  return p;
}

// ---------------------------------------------------------------- one restart
using RestartResult = KMeansRestartResult;

// Scratch buffers of one worker, reused across the restarts it runs.
struct Workspace {
  std::vector<float> centres, centres_new, centre_norms;
  std::vector<double> sums, closest, cumulative, trial, best_trial, uniforms;
  std::vector<std::int64_t> counts;
  std::vector<std::int32_t> labels, labels_old;
  // Hamerly bounds: upper[i] >= ||x_i - c_labels[i]||, lower[i] <= distance to the
  // second-closest centre; member[i] = cluster whose running sum currently holds x_i.
  std::vector<double> upper, lower, half_gap, moved;
  std::vector<std::int32_t> member;
  std::vector<unsigned char> taken;
};

// Safety slack of the Hamerly tests, relative to sqrt(||x||² + max ||c||²): it exceeds
// the float32 rounding error of a dot-product distance (~ sqrt(d·eps) of that scale for
// d up to a few thousand), so a point is only skipped when full evaluation could not
// pick another centre; accelerated and plain Lloyd then agree except on rounding-level
// ties.
constexpr double kBoundSlack = 4e-3;

class Restart {
 public:
  Restart(const Prepared& p, int k, const KMeansOptions& o, Workspace& w)
      : p_(p), n_(p.n), d_(p.d), k_(static_cast<std::size_t>(k)), opt_(o), w_(w) {
    w_.centres.assign(k_ * d_, 0.0f);
    w_.centres_new.assign(k_ * d_, 0.0f);
    w_.centre_norms.assign(k_, 0.0f);
    w_.sums.assign(k_ * d_, 0.0);
    w_.counts.assign(k_, 0);
    w_.upper.assign(n_, 0.0);
    w_.lower.assign(n_, 0.0);
    w_.member.assign(n_, -1);
    w_.half_gap.assign(k_, 0.0);
    w_.moved.assign(k_, 0.0);
    w_.labels.assign(n_, 0);
    w_.labels_old.assign(n_, -1);
    w_.taken.assign(n_, 0);
  }

  RestartResult run(std::uint64_t seed) {
    Xoshiro256StarStar rng(seed);
    seed_plus_plus(rng);

    // Lloyd. labels_old starts at -1 so the first iteration can never look converged.
    // With opt_.accelerate, Hamerly's bounds (Hamerly 2010, "Making k-means even
    // faster") skip the distance computations of points that provably keep their
    // centre, and cluster sums are updated only for points that changed cluster.
    const bool bounded = opt_.accelerate;
    bool strict = false;
    int it = 0;
    while (it < opt_.max_iterations) {
      throw_if_cancelled();  // an aborted call stops between Lloyd iterations
      update_norms(w_.centres);
      if (bounded) {
        if (it == 0) {
          std::fill(w_.sums.begin(), w_.sums.end(), 0.0);
          std::fill(w_.counts.begin(), w_.counts.end(), 0);
          std::fill(w_.member.begin(), w_.member.end(), -1);
        }
        assign_bounded(/*first=*/it == 0, /*update_sums=*/true);
      } else {
        std::fill(w_.sums.begin(), w_.sums.end(), 0.0);
        std::fill(w_.counts.begin(), w_.counts.end(), 0);
        assign(w_.centres, /*accumulate=*/true);
      }
      relocate_empty_clusters();
      double shift = 0.0;
      for (std::size_t j = 0; j < k_; ++j) {
        const double inv = 1.0 / static_cast<double>(w_.counts[j]);  // counts >= 1 here
        double moved = 0.0;
        for (std::size_t t = 0; t < d_; ++t) {
          float c = static_cast<float>(w_.sums[j * d_ + t] * inv);
          double diff = static_cast<double>(c) - static_cast<double>(w_.centres[j * d_ + t]);
          moved += diff * diff;
          w_.centres_new[j * d_ + t] = c;
        }
        shift += moved;
        w_.moved[j] = std::sqrt(moved);
      }
      w_.centres.swap(w_.centres_new);
      if (bounded) loosen_bounds();
      ++it;
      if (w_.labels == w_.labels_old) {
        strict = true;
        break;
      }
      if (shift <= p_.tolerance) break;
      w_.labels_old = w_.labels;
    }
    if (!strict) {
      // Tolerance (or iteration-cap) stop: the labels still refer to the previous
      // centres; relabel against the final ones.
      update_norms(w_.centres);
      if (bounded)
        assign_bounded(/*first=*/false, /*update_sums=*/false);
      else
        assign(w_.centres, /*accumulate=*/false);
    }
    repair_empty_clusters();

    RestartResult r;
    r.iterations = it;
    r.labels = w_.labels;
    r.centres = w_.centres;
    r.inertia = inertia();
    return r;
  }

 private:
  const float* row(std::size_t i) const { return p_.centred.data() + i * d_; }

  // Greedy k-means++ (Arthur & Vassilvitskii 2007, with scikit-learn's local trials).
  void seed_plus_plus(Xoshiro256StarStar& rng) {
    const std::size_t trials = 2 + static_cast<std::size_t>(std::log(static_cast<double>(k_)));
    w_.closest.resize(n_);
    w_.cumulative.resize(n_);
    w_.trial.resize(n_);
    w_.best_trial.resize(n_);
    w_.uniforms.resize(trials);

    std::size_t first = rng.index(n_);
    std::memcpy(w_.centres.data(), row(first), d_ * sizeof(float));
    double potential = 0.0;
    for (std::size_t i = 0; i < n_; ++i) {
      w_.closest[i] = squared_distance(row(i), row(first), d_);
      potential += w_.closest[i];
    }

    for (std::size_t c = 1; c < k_; ++c) {
      double running = 0.0;
      for (std::size_t i = 0; i < n_; ++i) {
        running += w_.closest[i];
        w_.cumulative[i] = running;
      }
      // Like numpy, draw all trial uniforms first, then evaluate the candidates.
      for (std::size_t t = 0; t < trials; ++t) w_.uniforms[t] = rng.uniform();
      double best_potential = 0.0;
      std::size_t best_candidate = 0;
      for (std::size_t t = 0; t < trials; ++t) {
        std::size_t cand = sample_candidate(w_.uniforms[t], potential);
        double pot = 0.0;
        const float* xc = row(cand);
        for (std::size_t i = 0; i < n_; ++i) {
          double dist = squared_distance(row(i), xc, d_);
          double m = dist < w_.closest[i] ? dist : w_.closest[i];
          w_.trial[i] = m;
          pot += m;
        }
        if (t == 0 || pot < best_potential) {
          best_potential = pot;
          best_candidate = cand;
          w_.best_trial.swap(w_.trial);
        }
      }
      w_.closest.swap(w_.best_trial);
      potential = best_potential;
      std::memcpy(w_.centres.data() + c * d_, row(best_candidate), d_ * sizeof(float));
    }
  }

  // Index drawn with probability closest[i] / potential. Uses the first cumulative sum
  // strictly above u·potential, which (unlike numpy's side="left") can never return a
  // point with zero D², i.e. a point already equal to a centre.
  std::size_t sample_candidate(double u, double potential) const {
    if (!(potential > 0.0)) return static_cast<std::size_t>(u * static_cast<double>(n_)) % n_;
    const double target = u * potential;
    auto it = std::upper_bound(w_.cumulative.begin(), w_.cumulative.end(), target);
    std::size_t idx = static_cast<std::size_t>(it - w_.cumulative.begin());
    if (idx >= n_) {  // rounding put target at/after the total: take the last positive
      idx = n_ - 1;
      while (idx > 0 && !(w_.closest[idx] > 0.0)) --idx;
    }
    return idx;
  }

  void update_norms(const std::vector<float>& centres) {
    for (std::size_t j = 0; j < k_; ++j) {
      const float* c = centres.data() + j * d_;
      dots<1>(c, c, d_, &w_.centre_norms[j]);
    }
  }

  // Nearest and second-nearest centre of x by ||c||² - 2 x·c (||x||² is common to all
  // centres), centres taken four at a time; ties go to the lower index. Shared by the
  // plain and the bounded assignment so both give bit-identical labels.
  struct Nearest {
    std::int32_t index = -1;
    float best = 0.0f;
    float second = std::numeric_limits<float>::infinity();
  };
  Nearest nearest(const float* x, const float* C, const float* cn) const {
    Nearest r;
    float dot[4];
    for (std::size_t j = 0; j < k_; j += 4) {
      const std::size_t g = std::min<std::size_t>(4, k_ - j);
      const float* cj = C + j * d_;
      switch (g) {
        case 4:
          dots<4>(x, cj, d_, dot);
          break;
        case 3:
          dots<3>(x, cj, d_, dot);
          break;
        case 2:
          dots<2>(x, cj, d_, dot);
          break;
        default:
          dots<1>(x, cj, d_, dot);
          break;
      }
      for (std::size_t q = 0; q < g; ++q) {
        const float v = cn[j + q] - 2.0f * dot[q];
        if (r.index < 0 || v < r.best) {
          if (r.index >= 0) r.second = r.best;
          r.best = v;
          r.index = static_cast<std::int32_t>(j + q);
        } else if (v < r.second) {
          r.second = v;
        }
      }
    }
    return r;
  }

  // Nearest centre by ||c||² - 2 x·c (||x||² is common to all centres); ties go to the
  // lower index. Optionally accumulates float64 cluster sums and counts.
  void assign(const std::vector<float>& centres, bool accumulate) {
    const float* C = centres.data();
    const float* cn = w_.centre_norms.data();
    for (std::size_t i = 0; i < n_; ++i) {
      const float* x = row(i);
      const std::int32_t best_j = nearest(x, C, cn).index;
      w_.labels[i] = best_j;
      if (accumulate) {
        const auto l = static_cast<std::size_t>(best_j);
        double* s = w_.sums.data() + l * d_;
        for (std::size_t t = 0; t < d_; ++t) s[t] += static_cast<double>(x[t]);
        ++w_.counts[l];
      }
    }
  }

  // Assignment with Hamerly's test: keep label a when
  //   ||x - c_a|| <= max(half_gap[a], lower)   (half_gap[a] = ½ min_j ||c_a - c_j||),
  // first with the stored upper bound, then with the exact distance to c_a; otherwise
  // scan all centres exactly like assign() (same kernel, same tie rule) and reset both
  // bounds. With update_sums, points whose label differs from their sum membership are
  // moved between the float64 sums.
  void assign_bounded(bool first, bool update_sums) {
    const float* C = w_.centres.data();
    const float* cn = w_.centre_norms.data();
    double cn_max = 0.0;
    for (std::size_t j = 0; j < k_; ++j) cn_max = std::max(cn_max, static_cast<double>(cn[j]));
    if (!first) {
      std::fill(w_.half_gap.begin(), w_.half_gap.end(), std::numeric_limits<double>::infinity());
      for (std::size_t a = 0; a < k_; ++a)
        for (std::size_t b = a + 1; b < k_; ++b) {
          const double g = 0.5 * std::sqrt(squared_distance(C + a * d_, C + b * d_, d_));
          w_.half_gap[a] = std::min(w_.half_gap[a], g);
          w_.half_gap[b] = std::min(w_.half_gap[b], g);
        }
    }
    float dot[4];
    for (std::size_t i = 0; i < n_; ++i) {
      const float* x = row(i);
      const double xn = static_cast<double>(p_.norms[i]);
      if (!first) {
        const auto a = static_cast<std::size_t>(w_.labels[i]);
        const double slack = kBoundSlack * std::sqrt(xn + cn_max);
        const double keep_below = std::max(w_.half_gap[a], w_.lower[i]) - slack;
        if (w_.upper[i] + slack <= keep_below) continue;
        dots<1>(x, C + a * d_, d_, dot);
        w_.upper[i] = std::sqrt(std::max(0.0, xn + static_cast<double>(cn[a] - 2.0f * dot[0])));
        if (w_.upper[i] + slack <= keep_below) continue;
      }
      const Nearest near = nearest(x, C, cn);
      w_.labels[i] = near.index;
      w_.upper[i] = std::sqrt(std::max(0.0, xn + static_cast<double>(near.best)));
      w_.lower[i] = std::sqrt(std::max(0.0, xn + static_cast<double>(near.second)));
    }
    if (!update_sums) return;
    for (std::size_t i = 0; i < n_; ++i) {
      const std::int32_t l = w_.labels[i], m = w_.member[i];
      if (l == m) continue;
      const float* x = row(i);
      if (m >= 0) {
        double* s = w_.sums.data() + static_cast<std::size_t>(m) * d_;
        for (std::size_t t = 0; t < d_; ++t) s[t] -= static_cast<double>(x[t]);
        --w_.counts[static_cast<std::size_t>(m)];
      }
      double* s = w_.sums.data() + static_cast<std::size_t>(l) * d_;
      for (std::size_t t = 0; t < d_; ++t) s[t] += static_cast<double>(x[t]);
      ++w_.counts[static_cast<std::size_t>(l)];
      w_.member[i] = l;
    }
  }

  // After the centres moved by moved[j]: by the triangle inequality the distance to
  // the own centre grows by at most moved[a], the one to any other by at most the
  // largest move among the other centres.
  void loosen_bounds() {
    std::size_t top = 0;
    for (std::size_t j = 1; j < k_; ++j)
      if (w_.moved[j] > w_.moved[top]) top = j;
    double runner_up = 0.0;
    for (std::size_t j = 0; j < k_; ++j)
      if (j != top) runner_up = std::max(runner_up, w_.moved[j]);
    for (std::size_t i = 0; i < n_; ++i) {
      const auto a = static_cast<std::size_t>(w_.labels[i]);
      w_.upper[i] += w_.moved[a];
      w_.lower[i] -= (a == top ? runner_up : w_.moved[top]);
    }
  }

  // Point (not yet taken) farthest from the centre it is labelled with, among points
  // whose cluster keeps at least one other member; ties go to the lower index.
  std::size_t farthest_movable_point(const std::vector<float>& centres) const {
    double best = -1.0;
    std::size_t best_i = n_;
    for (std::size_t i = 0; i < n_; ++i) {
      if (w_.taken[i]) continue;
      const auto l = static_cast<std::size_t>(w_.labels[i]);
      if (w_.counts[l] < 2) continue;
      double dist = squared_distance(row(i), centres.data() + l * d_, d_);
      if (dist > best) {
        best = dist;
        best_i = i;
      }
    }
    return best_i;  // exists whenever some cluster is empty and n >= k (pigeonhole)
  }

  // During Lloyd (scikit-learn's _relocate_empty_clusters_dense): an empty cluster's
  // sum becomes the farthest point, which is removed from its old cluster's sum. The
  // labels are left as they are (as scikit-learn does); only the sums/counts move.
  void relocate_empty_clusters() {
    bool any_empty = false;
    for (std::size_t j = 0; j < k_; ++j) any_empty = any_empty || w_.counts[j] == 0;
    if (!any_empty) return;
    std::fill(w_.taken.begin(), w_.taken.end(), 0);
    for (std::size_t j = 0; j < k_; ++j) {
      if (w_.counts[j] != 0) continue;
      // Distances are measured to the centres the labels were computed with.
      std::size_t i = farthest_movable_point(w_.centres);
      if (i >= n_) break;  // unreachable for n >= k
      const auto old = static_cast<std::size_t>(w_.labels[i]);
      const float* x = row(i);
      for (std::size_t t = 0; t < d_; ++t) {
        w_.sums[old * d_ + t] -= static_cast<double>(x[t]);
        w_.sums[j * d_ + t] = static_cast<double>(x[t]);
      }
      --w_.counts[old];
      w_.counts[j] = 1;
      w_.taken[i] = 1;
      w_.member[i] = static_cast<std::int32_t>(j);
    }
  }

  // After the final assignment: give every empty cluster its own point (moved from a
  // cluster with >= 2 members) and make the touched centroids the means of their
  // labels, so labels and centroids stay consistent and no cluster is empty.
  void repair_empty_clusters() {
    std::fill(w_.counts.begin(), w_.counts.end(), 0);
    for (std::size_t i = 0; i < n_; ++i) ++w_.counts[static_cast<std::size_t>(w_.labels[i])];
    bool any_empty = false;
    for (std::size_t j = 0; j < k_; ++j) any_empty = any_empty || w_.counts[j] == 0;
    if (!any_empty) return;
    std::fill(w_.taken.begin(), w_.taken.end(), 0);
    std::vector<unsigned char> touched(k_, 0);
    for (std::size_t j = 0; j < k_; ++j) {
      if (w_.counts[j] != 0) continue;
      std::size_t i = farthest_movable_point(w_.centres);
      if (i >= n_) break;  // unreachable for n >= k
      const auto old = static_cast<std::size_t>(w_.labels[i]);
      --w_.counts[old];
      w_.counts[j] = 1;
      w_.labels[i] = static_cast<std::int32_t>(j);
      w_.taken[i] = 1;
      touched[old] = touched[j] = 1;
    }
    std::fill(w_.sums.begin(), w_.sums.end(), 0.0);
    for (std::size_t i = 0; i < n_; ++i) {
      const auto l = static_cast<std::size_t>(w_.labels[i]);
      if (!touched[l]) continue;
      const float* x = row(i);
      for (std::size_t t = 0; t < d_; ++t) w_.sums[l * d_ + t] += static_cast<double>(x[t]);
    }
    for (std::size_t j = 0; j < k_; ++j) {
      if (!touched[j]) continue;
      const double inv = 1.0 / static_cast<double>(w_.counts[j]);
      for (std::size_t t = 0; t < d_; ++t) w_.centres[j * d_ + t] = static_cast<float>(w_.sums[j * d_ + t] * inv);
    }
  }

  double inertia() const {
    double total = 0.0;
    for (std::size_t i = 0; i < n_; ++i) {
      const auto l = static_cast<std::size_t>(w_.labels[i]);
      total += squared_distance(row(i), w_.centres.data() + l * d_, d_);
    }
    return total;
  }

  const Prepared& p_;
  const std::size_t n_, d_, k_;
  const KMeansOptions& opt_;
  Workspace& w_;
};

std::string describe_ks(const std::vector<int>& ks, std::size_t bad) {
  return "ks[" + std::to_string(bad) + "] = " + std::to_string(ks[bad]);
}

void validate(const char* fn, const float* x, std::size_t n, std::size_t d, const std::vector<int>& ks,
              const KMeansOptions& o) {
  const std::string where = std::string(fn) + ": ";
  if (d == 0) throw invalid_argument(where + "parameter 'd' (feature dimension) must be >= 1, got 0");
  if (n > 0 && x == nullptr)
    throw invalid_argument(where + "parameter 'features' must not be null when n = " + std::to_string(n) + " > 0");
  if (n > 0 && d > std::numeric_limits<std::size_t>::max() / sizeof(double) / n)
    throw invalid_argument(where + "parameters 'n' × 'd' overflow the address space (n = " + std::to_string(n) +
                           ", d = " + std::to_string(d) + ")");
  if (ks.empty()) throw invalid_argument(where + "parameter 'ks' must list at least one part count, got an empty list");
  for (std::size_t q = 0; q < ks.size(); ++q)
    if (ks[q] < 1)
      throw invalid_argument(where + "parameter 'ks' must contain part counts >= 1, got " + describe_ks(ks, q));
  if (o.restarts < 1)
    throw invalid_argument(where + "option 'restarts' must be >= 1, got " + std::to_string(o.restarts));
  if (o.max_iterations < 1)
    throw invalid_argument(where + "option 'max_iterations' must be >= 1, got " + std::to_string(o.max_iterations));
  if (!(o.relative_tolerance >= 0.0) || !std::isfinite(o.relative_tolerance))
    throw invalid_argument(where + "option 'relative_tolerance' must be a finite number >= 0, got " +
                           std::to_string(o.relative_tolerance));
  const double limit = magnitude_limit(d);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t t = 0; t < d; ++t) {
      const float v = x[i * d + t];
      if (!std::isfinite(v))
        throw invalid_argument(where + "parameter 'features' must be finite, got " + std::to_string(v) + " at row " +
                               std::to_string(i) + ", column " + std::to_string(t));
      if (std::fabs(static_cast<double>(v)) > limit)
        throw invalid_argument(where + "parameter 'features' must have magnitude <= " + std::to_string(limit) +
                               " for d = " + std::to_string(d) + ", got " + std::to_string(v) + " at row " +
                               std::to_string(i) + ", column " + std::to_string(t));
    }
  }
}

KMeansResult closed_form_single_cluster(const float* x, const Prepared& p) {
  KMeansResult r;
  r.k = 1;
  r.labels.assign(p.n, 0);
  r.centroids.resize(p.d);
  for (std::size_t t = 0; t < p.d; ++t) r.centroids[t] = static_cast<float>(p.mean[t]);
  double inertia = 0.0;
  for (std::size_t i = 0; i < p.n; ++i)
    for (std::size_t t = 0; t < p.d; ++t) {
      double diff = static_cast<double>(x[i * p.d + t]) - p.mean[t];
      inertia += diff * diff;
    }
  r.inertia = inertia;
  return r;
}

}  // namespace

void validate_kmeans_arguments(const char* fn, const float* features, std::size_t n, std::size_t d,
                               const std::vector<int>& ks, const KMeansOptions& options) {
  validate(fn, features, n, d, ks, options);
}

KMeansInput prepare_kmeans_input(const float* features, std::size_t n, std::size_t d, double relative_tolerance) {
  return prepare(features, n, d, relative_tolerance);
}

std::vector<KMeansResult> kmeans_batch_with(const float* features, std::size_t n, std::size_t d,
                                            const std::vector<int>& ks, const KMeansOptions& options,
                                            const KMeansRestartRunner& run) {
  std::vector<KMeansResult> out(ks.size());
  for (std::size_t q = 0; q < ks.size(); ++q) {
    out[q].k = ks[q];
    out[q].skipped = static_cast<std::size_t>(ks[q]) > n;
  }
  if (n == 0) return out;

  const Prepared prepared = prepare(features, n, d, options.relative_tolerance);

  // One task per (k, restart), heavier (larger k) tasks first.
  std::vector<KMeansRestartTask> tasks;
  for (std::size_t q = 0; q < ks.size(); ++q) {
    if (out[q].skipped) continue;
    if (ks[q] == 1) {
      out[q] = closed_form_single_cluster(features, prepared);
      continue;
    }
    for (int r = 0; r < options.restarts; ++r) tasks.push_back({q, ks[q], r});
  }
  std::stable_sort(tasks.begin(), tasks.end(),
                   [](const KMeansRestartTask& a, const KMeansRestartTask& b) { return a.k > b.k; });

  std::vector<RestartResult> results;
  if (!tasks.empty()) results = run(prepared, tasks);

  const auto picks = detail::best_restart_per_k(tasks, results, ks, [](const RestartResult& r) { return r.inertia; });
  for (std::size_t q = 0; q < ks.size(); ++q) {
    if (picks[q] < 0) continue;
    const auto best = static_cast<std::size_t>(picks[q]);
    const auto k = static_cast<std::size_t>(ks[q]);
    RestartResult& r = results[best];
    KMeansResult& o = out[q];
    o.labels = std::move(r.labels);
    o.inertia = r.inertia;
    o.iterations = r.iterations;
    o.restart = tasks[best].restart;
    o.centroids.resize(k * d);
    for (std::size_t j = 0; j < k; ++j)
      for (std::size_t t = 0; t < d; ++t)
        o.centroids[j * d + t] = static_cast<float>(static_cast<double>(r.centres[j * d + t]) + prepared.mean[t]);
  }
  return out;
}

std::vector<KMeansResult> kmeans_batch(const float* features, std::size_t n, std::size_t d, const std::vector<int>& ks,
                                       const KMeansOptions& options) {
  validate("kmeans", features, n, d, ks, options);
  if (options.seeding == KMeansSeeding::Sklearn) return detail::kmeans_batch_sklearn(features, n, d, ks, options);
  // The CPU restarts: workers pull tasks from a shared counter, so 2 cores stay
  // balanced on k = 2..5.
  return kmeans_batch_with(
      features, n, d, ks, options, [&](const Prepared& prepared, const std::vector<KMeansRestartTask>& tasks) {
        std::vector<RestartResult> results(tasks.size());
        int threads = options.threads > 0 ? options.threads : default_thread_count();
        const auto workers = std::min<std::size_t>(static_cast<std::size_t>(threads), tasks.size());
        std::atomic<std::size_t> next{0};
        parallel_for(0, workers, static_cast<int>(workers), [&](std::size_t, std::size_t, std::size_t) {
          Workspace ws;
          for (std::size_t t = next.fetch_add(1); t < tasks.size(); t = next.fetch_add(1)) {
            Restart restart(prepared, tasks[t].k, options, ws);
            results[t] = restart.run(kmeans_stream_seed(options.seed, tasks[t].k, tasks[t].restart));
          }
        });
        return results;
      });
}

KMeansResult kmeans(const float* features, std::size_t n, std::size_t d, int k, const KMeansOptions& options) {
  return std::move(kmeans_batch(features, n, d, std::vector<int>{k}, options).front());
}

}  // namespace p2sam::core
