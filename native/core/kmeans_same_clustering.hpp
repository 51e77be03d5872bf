// Whether two k-means labelings are the same partition up to a renaming of the labels
// (scikit-learn's _is_same_clustering). Both restart pickers use it: the float64 core
// (kmeans.cpp) and the float32 sklearn-exact path (kmeans_sklearn.cpp) keep a later
// restart only if it is strictly better AND a different partition, so rounding noise on
// the same partition cannot flip the choice. Integer logic only, so one copy serves both.
#pragma once

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

}  // namespace p2sam::core::detail
