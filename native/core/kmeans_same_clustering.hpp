// Whether two k-means labelings are the same partition up to a renaming of the labels
// (scikit-learn's _is_same_clustering), and the restart picker built on it. Both k-means
// paths use them: the float64 core (kmeans.cpp) and the float32 sklearn-exact path
// (kmeans_sklearn.cpp) keep a later restart only if it is strictly better AND a different
// partition, so rounding noise on the same partition cannot flip the choice. Integer logic
// and a caller-given inertia, so one copy serves both precisions.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace p2sam::core::detail {

// a and b hold labels in [0, k) for the same points; map[l] is the label in b that label
// l of a was first seen with, and any later disagreement means a different partition.
inline bool same_clustering(const std::vector<std::int32_t>& a, const std::vector<std::int32_t>& b, std::size_t k) {
  std::vector<std::int32_t> map(k, -1);
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto& m = map[static_cast<std::size_t>(a[i])];
    if (m < 0)
      m = b[i];
    else if (m != b[i])
      return false;
  }
  return true;
}

// For each requested k (index q into ks), the index into tasks/results of the restart to
// keep, or -1 when no task ran for it (skipped or closed-form k). Restarts are compared in
// restart order, not scheduling order, so the pick is the same for any thread count.
// Task has .q and .restart; Result has .labels; inertia(result) gives the comparable value.
template <class Task, class Result, class Inertia>
std::vector<std::ptrdiff_t> best_restart_per_k(const std::vector<Task>& tasks, const std::vector<Result>& results,
                                               const std::vector<int>& ks, Inertia inertia) {
  std::vector<std::vector<std::size_t>> by_q(ks.size());
  for (std::size_t t = 0; t < tasks.size(); ++t) by_q[tasks[t].q].push_back(t);
  std::vector<std::ptrdiff_t> best(ks.size(), -1);
  for (std::size_t q = 0; q < ks.size(); ++q) {
    auto& idx = by_q[q];
    if (idx.empty()) continue;
    std::sort(idx.begin(), idx.end(),
              [&](std::size_t a, std::size_t b) { return tasks[a].restart < tasks[b].restart; });
    const auto k = static_cast<std::size_t>(ks[q]);
    std::size_t b = idx[0];
    for (std::size_t m = 1; m < idx.size(); ++m) {
      const Result& cand = results[idx[m]];
      if (inertia(cand) < inertia(results[b]) && !same_clustering(cand.labels, results[b].labels, k)) b = idx[m];
    }
    best[q] = static_cast<std::ptrdiff_t>(b);
  }
  return best;
}

}  // namespace p2sam::core::detail
