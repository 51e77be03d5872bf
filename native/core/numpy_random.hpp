// numpy's legacy random stream (numpy.random.RandomState), the draws scikit-learn's
// KMeans makes through check_random_state(seed): the MT19937 generator (Matsumoto &
// Nishimura 1998) with numpy's seeding, and the three draws k-means++ needs.
//
// Facts reproduced (numpy 1.17+ legacy RandomState, unchanged since; verified against
// Debian's numpy 1.24 by test/kmeans-sklearn.test.ts):
//   * RandomState(s) for an integer 0 <= s < 2^32 is MT19937's init_genrand(s);
//     RandomState(array of uint32) is init_by_array(key). The first output comes from a
//     full twist of the 624-word state.
//   * random_sample(): 53-bit double from two 32-bit outputs a, b:
//     ((a >> 5) · 2^26 + (b >> 6)) / 2^53, so every value is a multiple of 2^-53 in
//     [0, 1). uniform(0, 1) is low + (high - low) · random_sample() = the same value.
//   * randint(0, n) (default int64 dtype, n - 1 < 2^32): masked rejection sampling on
//     32-bit outputs: mask = smallest 2^b - 1 >= n - 1, draw (next32 & mask) until it is
//     <= n - 1. n = 1 draws nothing.
#pragma once

#include <cstddef>
#include <cstdint>

namespace p2sam::core {

class NumpyRandomState {
 public:
  // RandomState(seed) for seed < 2^32; larger seeds are taken as the two-word key
  // [low 32 bits, high 32 bits] (numpy: RandomState([lo, hi])), since numpy refuses
  // integer seeds >= 2^32.
  explicit NumpyRandomState(std::uint64_t seed);
  // RandomState(np.array(key, dtype=uint32)): init_by_array. length >= 1.
  NumpyRandomState(const std::uint32_t* key, std::size_t length);

  std::uint32_t next_uint32();
  double random_sample();
  // randint(0, n) for 1 <= n <= 2^32.
  std::uint64_t randint(std::uint64_t n);

 private:
  void init_genrand(std::uint32_t seed);
  void twist();

  static constexpr int kN = 624;
  std::uint32_t mt_[kN];
  int pos_ = kN;
};

}  // namespace p2sam::core
