// scikit-learn-compatible k-means (KMeansSeeding::Sklearn); see kmeans_sklearn.hpp for
// the facts reproduced and where exact equality ends.
//
// Numerics: float32 wherever scikit-learn computes in float32 for float32 input; the
// k-means++ distances in float64 and then rounded to float32 (euclidean_distances
// upcasts float32 chunks). Fused multiply-adds would round differently from
// scikit-learn's separately rounded float32 operations, so contraction is switched off
// for this file whatever -march the build uses.
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

// x · c in float32 over 8 independent lanes summed in a fixed order. scikit-learn's
// sgemm sums in OpenBLAS's own order; both are float32 dot products, so they agree to
// a few ulps and labels only differ on such ties.
inline float dot_f32(const float* __restrict x, const float* __restrict c, std::size_t d) {
  float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::size_t t = 0;
  for (; t + 8 <= d; t += 8)
    for (int l = 0; l < 8; ++l) lane[l] += x[t + l] * c[t + l];
  float tail = 0.0f;
  for (; t < d; ++t) tail += x[t] * c[t];
  return (((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]))) +
         tail;
}

// x · c of float32 vectors in float64: every product is exact in float64, so the
// order only matters at the 1e-16 level, far below the float32 rounding that follows.
inline double dot_f64(const float* __restrict x, const float* __restrict c, std::size_t d) {
  double lane[4] = {0, 0, 0, 0};
  std::size_t t = 0;
  for (; t + 4 <= d; t += 4)
    for (int l = 0; l < 4; ++l)
      lane[l] += static_cast<double>(x[t + l]) * static_cast<double>(c[t + l]);
  double tail = 0.0;
  for (; t < d; ++t) tail += static_cast<double>(x[t]) * static_cast<double>(c[t]);
  return ((lane[0] + lane[2]) + (lane[1] + lane[3])) + tail;
}

// scikit-learn's _euclidean_dense_dense: float32, four terms per step added left to
// right into one accumulator.
inline float euclidean_sq_f32(const float* a, const float* b, std::size_t d) {
  float result = 0.0f;
  std::size_t t = 0;
  for (; t + 4 <= d; t += 4) {
    const float e0 = a[t] - b[t], e1 = a[t + 1] - b[t + 1], e2 = a[t + 2] - b[t + 2],
                e3 = a[t + 3] - b[t + 3];
    result += e0 * e0 + e1 * e1 + e2 * e2 + e3 * e3;
  }
  for (; t < d; ++t) {
    const float e = a[t] - b[t];
    result += e * e;
  }
  return result;
}

struct Prepared {
  std::size_t n = 0, d = 0;
  std::vector<float> mean;     // d, float32 as X.mean(axis=0)
  std::vector<float> x;        // n×d, X - mean in float32
  std::vector<double> norms;   // n, ||x||² of the float64 upcast (k-means++ distances)
  double tolerance = 0.0;      // absolute, as KMeans._tol
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
    p.norms[i] = dot_f64(r, r, d);
  }
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
    for (std::size_t i = 0; i < n_; ++i) {
      double v = -2.0 * dot_f64(c, row(i), d_);
      v += cc;
      v += p_.norms[i];
      const float f = static_cast<float>(v);
      out[i] = f > 0.0f ? f : 0.0f;
    }
  }

  void plus_plus(const SeedDraws& draws) {
    const auto trials = static_cast<std::size_t>(local_trials(static_cast<int>(k_)));
    std::vector<float> closest(n_), candidate(n_), best_candidate(n_);
    std::vector<double> cumulative(n_);
    std::memcpy(centres_.data(), row(draws.first), d_ * sizeof(float));
    distances_to(row(draws.first), p_.norms[draws.first], closest.data());
    float potential = numpy_sum(closest.data(), n_);
    for (std::size_t c = 1; c < k_; ++c) {
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
    std::vector<float> cn(k_);
    for (std::size_t j = 0; j < k_; ++j) cn[j] = dot_f32(centres.data() + j * d_, centres.data() + j * d_, d_);
    if (out) {
      std::fill(out->begin(), out->end(), 0.0f);
      std::fill(weight.begin(), weight.end(), 0.0f);
    }
    for (std::size_t i = 0; i < n_; ++i) {
      const float* x = row(i);
      float best = 0.0f;
      std::int32_t label = 0;
      for (std::size_t j = 0; j < k_; ++j) {
        const float v = cn[j] + -2.0f * dot_f32(x, centres.data() + j * d_, d_);
        if (j == 0 || v < best) {
          best = v;
          label = static_cast<std::int32_t>(j);
        }
      }
      labels_[i] = label;
      if (out) {
        const auto l = static_cast<std::size_t>(label);
        weight[l] += 1.0f;
        float* s = out->data() + l * d_;
        for (std::size_t t = 0; t < d_; ++t) s[t] += x[t];
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

// _is_same_clustering: equal up to a renaming of the labels.
bool same_clustering(const std::vector<std::int32_t>& a, const std::vector<std::int32_t>& b, std::size_t k) {
  std::vector<std::int32_t> map(k, -1);
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto& m = map[static_cast<std::size_t>(a[i])];
    if (m < 0) m = b[i];
    else if (m != b[i]) return false;
  }
  return true;
}

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

  std::vector<std::vector<std::size_t>> by_q(ks.size());
  for (std::size_t t = 0; t < tasks.size(); ++t) by_q[tasks[t].q].push_back(t);
  for (std::size_t q = 0; q < ks.size(); ++q) {
    auto& idx = by_q[q];
    if (idx.empty()) continue;
    std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return tasks[a].restart < tasks[b].restart; });
    const auto k = static_cast<std::size_t>(ks[q]);
    std::size_t best = idx[0];
    for (std::size_t m = 1; m < idx.size(); ++m) {
      const RestartResult& cand = results[idx[m]];
      if (cand.inertia32 < results[best].inertia32 && !same_clustering(cand.labels, results[best].labels, k))
        best = idx[m];
    }
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
