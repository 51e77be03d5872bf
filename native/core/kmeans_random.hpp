// The random streams of k-means, shared by the CPU core (kmeans.cpp) and the GPU
// kernels (native/cuda/hd_kmeans.hpp), so restart r of part count k draws exactly the
// same numbers on both.
//
// splitmix64 (Steele, Lea, Flood 2014) expands seeds; xoshiro256** (Blackman, Vigna
// 2018) is the stream. Both are fully specified, unlike std::*_distribution.
#pragma once

#include <cstdint>

#include "host_device.hpp"

namespace p2sam::core {

P2SAM_HD inline std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

P2SAM_HD inline std::uint64_t rotl64(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

class Xoshiro256StarStar {
 public:
  P2SAM_HD explicit Xoshiro256StarStar(std::uint64_t seed) {
    for (int i = 0; i < 4; ++i) s_[i] = splitmix64(seed);
  }
  P2SAM_HD std::uint64_t next() {
    const std::uint64_t result = rotl64(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl64(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1): the top 53 bits scaled by 2^-53, exactly representable.
  P2SAM_HD double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform index in [0, n), n >= 1 (Index: std::size_t on the CPU, int on the GPU).
  template <typename Index>
  P2SAM_HD Index index(Index n) {
    const auto i = static_cast<Index>(uniform() * static_cast<double>(n));
    return i < n ? i : n - 1;
  }

 private:
  std::uint64_t s_[4];
};

// Seed of restart r for part count k: chained splitmix64 so that neighbouring
// (seed, k, r) triples give unrelated streams.
P2SAM_HD inline std::uint64_t kmeans_stream_seed(std::uint64_t seed, int k, int restart) {
  std::uint64_t s = seed;
  std::uint64_t a = splitmix64(s);
  std::uint64_t t = a ^ (static_cast<std::uint64_t>(static_cast<std::uint32_t>(k)) << 32);
  std::uint64_t b = splitmix64(t);
  std::uint64_t u = b ^ static_cast<std::uint64_t>(static_cast<std::uint32_t>(restart));
  return splitmix64(u);
}

}  // namespace p2sam::core
