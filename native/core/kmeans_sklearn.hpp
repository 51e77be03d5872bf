// scikit-learn-compatible k-means: the partition that
//   sklearn.cluster.KMeans(n_clusters=k, random_state=seed, n_init=restarts,
//                          algorithm="lloyd").fit(X)           (X a float32 array)
// finds, reproduced draw for draw (KMeansSeeding::Sklearn, the default of
// KMeansOptions). Facts from scikit-learn 1.2.1's KMeans.fit and numpy 1.24:
//   * float32 input stays float32: the mean is a float32 column sum in row order
//     divided by n, X - mean is float32, the Lloyd steps (distances ||c||² - 2 x·c,
//     cluster sums, centre shifts, inertia) are float32;
//   * the tolerance is tol · mean(np.var(X, axis=0)) on the uncentred data (float32
//     variances, float64 product), compared with the float32 sum of squared centre
//     shifts (<=); the labels are checked for strict convergence first;
//   * one numpy RandomState(seed) serves all restarts in turn (no per-restart seeds):
//     restart r's k-means++ continues the stream where restart r - 1 stopped. Each k
//     gets a fresh RandomState(seed), as a new KMeans object per k does;
//   * greedy k-means++ (_kmeans_plusplus): first centre randint(n); then per centre
//     2 + floor(ln k) uniforms scaled by the current potential, searchsorted (left) in
//     the float64 cumulative sum of the float32 D² (clipped to n - 1), candidate D² by
//     the float64 upcast of euclidean_distances rounded to float32, the candidate with
//     the lowest float32 (pairwise-summed) potential wins, first on ties;
//   * the kept restart is the first one unless a later one has a strictly lower
//     inertia and a different partition.
// Where exact equality is out of reach: OpenBLAS sums dot products in an order of its
// own, so distances may differ in the last float32 bit; the partition only changes on
// such rounding-level ties. Restarts run in parallel (their random draws are taken
// from the stream up front: they do not depend on the data), each single-threaded
// with cluster sums in row order — sklearn with OMP_NUM_THREADS=1 — so results are
// identical for every thread count. Like the rest of kmeans.hpp, a final labelling
// that leaves a cluster empty (fewer than k distinct points) is repaired so every
// label occurs; scikit-learn would return the empty cluster.
//
// scikit-learn versions (verified here: 1.2.1 with numpy 1.24, by running it; the rest
// from the scikit-learn source and its docstrings, not run):
//   * 1.1 and 1.2 run exactly this Lloyd by default; 1.0.x (the authors pinned 1.0.2)
//     defaulted to algorithm="auto" = Elkan for dense data: the same draws and, in
//     exact arithmetic, the same iterations; measured against 1.2.1's Elkan, 135 of 138
//     fits gave the same partition (the others: duplicated points, k = 45).
//   * 1.3 and later pass sample_weight into k-means++ (potentials become dot products
//     with the weights): the same draws, float32 potentials rounded differently.
//   * 1.4 and later default to n_init="auto", one k-means++ run: KMeans(n_clusters=k,
//     random_state=seed) without n_init then equals restarts = 1 here.
//   * Before 0.23 (as recalled from the source history, not checked here) every
//     restart got its own seed from randint(2^31 - 1): another sequence.
#pragma once

#include <cstddef>
#include <vector>

#include "kmeans.hpp"

namespace p2sam::core::detail {

// kmeans_batch for KMeansSeeding::Sklearn; arguments already validated by kmeans_batch.
std::vector<KMeansResult> kmeans_batch_sklearn(const float* features, std::size_t n, std::size_t d,
                                               const std::vector<int>& ks, const KMeansOptions& options);

// numpy's float32 add.reduce of a contiguous array: 0 + pairwise sum (blocks of at
// most 128 summed over 8 lanes, halves split at multiples of 8). Exposed for tests.
float numpy_pairwise_sum(const float* a, std::size_t n);

}  // namespace p2sam::core::detail
