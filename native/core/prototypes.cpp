#include "prototypes.hpp"

#include <cmath>
#include <utility>

namespace p2sam::core {

void normalise_in_place(float* v, std::size_t d) {
  double sq = 0.0;
  for (std::size_t t = 0; t < d; ++t) sq += static_cast<double>(v[t]) * static_cast<double>(v[t]);
  const double norm = std::sqrt(sq);
  // Every |v[t]| <= norm, so for any positive norm the quotients are finite and <= 1;
  // only the exact zero vector needs a rule (it stays zero).
  if (!(norm > 0.0)) return;
  for (std::size_t t = 0; t < d; ++t) v[t] = static_cast<float>(static_cast<double>(v[t]) / norm);
}

std::vector<PrototypeSet> part_prototypes(const float* features, std::size_t n, std::size_t d,
                                          const std::vector<int>& ks, const KMeansOptions& options) {
  // kmeans_batch validates everything and solves k = 1 in closed form (labels all 0),
  // so one code path turns labels into prototypes for every k.
  return prototypes_from_clusters(features, n, d, kmeans_batch(features, n, d, ks, options));
}

std::vector<PrototypeSet> prototypes_from_clusters(const float* features, std::size_t n, std::size_t d,
                                                   std::vector<KMeansResult> clusters) {
  std::vector<PrototypeSet> out(clusters.size());
  for (std::size_t q = 0; q < clusters.size(); ++q) {
    KMeansResult& c = clusters[q];
    PrototypeSet& p = out[q];
    p.k = c.k;
    p.skipped = c.skipped;
    if (c.skipped) continue;
    const auto k = static_cast<std::size_t>(c.k);
    // Means of the original (uncentred) features per label, in float64.
    std::vector<double> sums(k * d, 0.0);
    std::vector<std::size_t> counts(k, 0);
    for (std::size_t i = 0; i < n; ++i) {
      const auto l = static_cast<std::size_t>(c.labels[i]);
      ++counts[l];
      const float* x = features + i * d;
      double* s = sums.data() + l * d;
      for (std::size_t t = 0; t < d; ++t) s[t] += static_cast<double>(x[t]);
    }
    p.prototypes.assign(k * d, 0.0f);
    for (std::size_t j = 0; j < k; ++j) {
      // kmeans_batch guarantees counts[j] >= 1; the guard keeps an impossible empty
      // cluster at a zero prototype rather than 0/0.
      if (counts[j] == 0) continue;
      double sq = 0.0;
      for (std::size_t t = 0; t < d; ++t) {
        const double m = sums[j * d + t] / static_cast<double>(counts[j]);
        sums[j * d + t] = m;
        sq += m * m;
      }
      // Normalise the float64 mean directly (one rounding to float at the end).
      const double norm = std::sqrt(sq);
      if (!(norm > 0.0)) continue;
      for (std::size_t t = 0; t < d; ++t) p.prototypes[j * d + t] = static_cast<float>(sums[j * d + t] / norm);
    }
    p.labels = std::move(c.labels);
    p.inertia = c.inertia;
  }
  return out;
}

}  // namespace p2sam::core
