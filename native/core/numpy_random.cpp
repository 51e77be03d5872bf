// MT19937 as numpy's RandomState seeds and reads it; see numpy_random.hpp.
#include "numpy_random.hpp"

#include <algorithm>

#include "errors.hpp"

namespace p2sam::core {

NumpyRandomState::NumpyRandomState(std::uint64_t seed) {
  if (seed <= 0xFFFFFFFFULL) {
    init_genrand(static_cast<std::uint32_t>(seed));
  } else {
    const std::uint32_t key[2] = {static_cast<std::uint32_t>(seed & 0xFFFFFFFFULL),
                                  static_cast<std::uint32_t>(seed >> 32)};
    *this = NumpyRandomState(key, 2);
  }
}

void NumpyRandomState::init_genrand(std::uint32_t seed) {
  mt_[0] = seed;
  for (int i = 1; i < kN; ++i) mt_[i] = 1812433253U * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + static_cast<std::uint32_t>(i);
  pos_ = kN;
}

// The reference init_by_array (mt19937ar.c, 2002), which numpy's mt19937_init_by_array
// follows: start from init_genrand(19650218), mix the key in over max(N, length) steps,
// then N - 1 more steps, and force a non-zero state with the top word 0x80000000.
NumpyRandomState::NumpyRandomState(const std::uint32_t* key, std::size_t length) {
  if (key == nullptr || length == 0)
    throw invalid_argument("NumpyRandomState: the seed key must hold at least one word");
  init_genrand(19650218U);
  int i = 1;
  std::size_t j = 0;
  for (std::size_t k = std::max<std::size_t>(kN, length); k > 0; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525U)) + key[j] + static_cast<std::uint32_t>(j);
    ++i;
    ++j;
    if (i >= kN) {
      mt_[0] = mt_[kN - 1];
      i = 1;
    }
    if (j >= length) j = 0;
  }
  for (int k = kN - 1; k > 0; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941U)) - static_cast<std::uint32_t>(i);
    ++i;
    if (i >= kN) {
      mt_[0] = mt_[kN - 1];
      i = 1;
    }
  }
  mt_[0] = 0x80000000U;
  pos_ = kN;
}

void NumpyRandomState::twist() {
  constexpr int kM = 397;
  constexpr std::uint32_t kMatrixA = 0x9908B0DFU, kUpper = 0x80000000U, kLower = 0x7FFFFFFFU;
  for (int i = 0; i < kN; ++i) {
    const std::uint32_t y = (mt_[i] & kUpper) | (mt_[(i + 1) % kN] & kLower);
    mt_[i] = mt_[(i + kM) % kN] ^ (y >> 1) ^ ((y & 1U) ? kMatrixA : 0U);
  }
  pos_ = 0;
}

std::uint32_t NumpyRandomState::next_uint32() {
  if (pos_ >= kN) twist();
  std::uint32_t y = mt_[pos_++];
  // Tempering.
  y ^= y >> 11;
  y ^= (y << 7) & 0x9D2C5680U;
  y ^= (y << 15) & 0xEFC60000U;
  y ^= y >> 18;
  return y;
}

double NumpyRandomState::random_sample() {
  const std::uint32_t a = next_uint32() >> 5, b = next_uint32() >> 6;
  return (static_cast<double>(a) * 67108864.0 + static_cast<double>(b)) / 9007199254740992.0;
}

std::uint64_t NumpyRandomState::randint(std::uint64_t n) {
  if (n == 0 || n > 0x100000000ULL) throw invalid_argument("NumpyRandomState::randint: n must be in 1..2^32");
  const std::uint64_t range = n - 1;
  if (range == 0) return 0;
  if (range == 0xFFFFFFFFULL) return next_uint32();
  std::uint64_t mask = range;
  for (int s = 1; s < 64; s <<= 1) mask |= mask >> s;
  for (;;) {
    const std::uint64_t v = next_uint32() & mask;
    if (v <= range) return v;
  }
}

}  // namespace p2sam::core
