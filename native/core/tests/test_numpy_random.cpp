// Tests of the numpy RandomState port (numpy_random.hpp) and of numpy's float32
// pairwise summation (kmeans_sklearn.hpp). Expected draws are numpy's own outputs
// (numpy 1.24: np.random.RandomState(seed).random_sample() etc.) and the published
// init_by_array test vector of the MT19937 reference code (mt19937ar.out).
#include <cmath>
#include <cstdint>
#include <vector>

#include "errors.hpp"
#include "harness.hpp"
#include "kmeans_sklearn.hpp"
#include "numpy_random.hpp"

using p2sam::core::NumpyRandomState;

TEST_CASE(numpy_random_matches_mt19937_reference_vector) {
  const std::uint32_t key[4] = {0x123, 0x234, 0x345, 0x456};
  NumpyRandomState rs(key, 4);
  const std::uint32_t expected[5] = {1067595299U, 955945823U, 477289528U, 4107218783U, 4228976476U};
  for (std::uint32_t e : expected) CHECK(rs.next_uint32() == e);
}

TEST_CASE(numpy_random_matches_numpy_random_state) {
  // np.random.RandomState(0): random_sample, randint(7), randint(1000), randint(2**32),
  // random_sample.
  NumpyRandomState a(0);
  CHECK(a.random_sample() == 0.5488135039273248);
  CHECK(a.randint(7) == 5);
  CHECK(a.randint(1000) == 192);
  CHECK(a.randint(std::uint64_t(1) << 32) == 2588848963ULL);
  CHECK(a.random_sample() == 0.8579456176227568);
  // The largest integer seed numpy accepts.
  NumpyRandomState b(4294967295ULL);
  CHECK(b.random_sample() == 0.0976320289940138);
  CHECK(b.randint(5) == 4);
  // Seeds beyond 32 bits: RandomState([low word, high word]).
  NumpyRandomState c((std::uint64_t(1) << 40) + 12345);
  CHECK(c.random_sample() == 0.31036222241287226);
  CHECK(c.randint(3) == 2);
}

TEST_CASE(numpy_random_draw_ranges) {
  NumpyRandomState rs(7);
  for (int i = 0; i < 2000; ++i) {
    const double u = rs.random_sample();
    CHECK(u >= 0.0 && u < 1.0);
    CHECK(u * 9007199254740992.0 == std::floor(u * 9007199254740992.0));  // multiple of 2^-53
    CHECK(rs.randint(1) == 0);                                            // draws nothing
    CHECK(rs.randint(19) < 19);
  }
  CHECK_THROWS(rs.randint(0));
  CHECK_THROWS(rs.randint((std::uint64_t(1) << 32) + 1));
  CHECK_THROWS(NumpyRandomState(nullptr, 0));
}

TEST_CASE(numpy_pairwise_sum_is_blocked_like_numpy) {
  using p2sam::core::detail::numpy_pairwise_sum;
  // Exact sums (small integers) whatever the order.
  std::vector<float> v(1000);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i % 7);
  double exact = 0;
  for (float x : v) exact += x;
  CHECK(numpy_pairwise_sum(v.data(), v.size()) == static_cast<float>(exact));
  // The order is numpy's: 1 + 2^-24 × 8 in one block of 9 (< 128: 8 lanes, then the
  // rest) — lane 0 holds 1, lanes 1..7 and the tail hold 2^-24 each. Sequential
  // summation would round every 2^-24 away; the lanes keep (2^-24 + 2^-24)-sized sums.
  std::vector<float> w(9, std::ldexp(1.0f, -24));
  w[0] = 1.0f;
  const float lanes = ((w[0] + w[1]) + (w[2] + w[3])) + ((w[4] + w[5]) + (w[6] + w[7]));
  CHECK(numpy_pairwise_sum(w.data(), w.size()) == lanes + w[8]);
  float sequential = 0.0f;
  for (float x : w) sequential += x;
  CHECK(sequential == 1.0f);
  CHECK(numpy_pairwise_sum(w.data(), w.size()) > 1.0f);
}
