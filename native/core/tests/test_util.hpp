// Helpers shared by the core's tests and native benchmarks: a deterministic generator
// (xorshift64, so a failure reproduces bit for bit) and an INVALID_ARGUMENT matcher.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "errors.hpp"

namespace p2sam::testing {

// xorshift64 on a raw state (aggregate-initialised), with double-precision draws.
struct XorShift64 {
  std::uint64_t s;
  std::uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  // Uniform in (0, 1] (never 0, so log() below is finite).
  double open_unit() { return static_cast<double>((next() >> 11) + 1) * 0x1.0p-53; }
  // Standard normal by Box–Muller.
  double gaussian() { return std::sqrt(-2.0 * std::log(open_unit())) * std::cos(6.283185307179586 * open_unit()); }
};

// The same generator seeded from a small integer, with float draws for test data.
struct Rng : XorShift64 {
  explicit Rng(std::uint64_t seed) : XorShift64{seed * 0x9E3779B97F4A7C15ull + 1} {}
  std::uint8_t byte() { return static_cast<std::uint8_t>(next() >> 56); }
  // Uniform in [0, 1) with 24 random bits (exact in float).
  float uniform() { return static_cast<float>((next() >> 40) * (1.0 / 16777216.0)); }
  // Roughly normal (sum of four uniforms, centred): good enough for test data.
  float normal() {
    double acc = 0;
    for (int i = 0; i < 4; ++i) acc += (next() >> 11) * (1.0 / 9007199254740992.0);
    return static_cast<float>(acc - 2.0);
  }
};

// True when fn throws CoreError("INVALID_ARGUMENT") whose message mentions `needle`.
template <typename Fn>
bool throws_mentioning(Fn&& fn, const std::string& needle) {
  try {
    fn();
  } catch (const core::CoreError& e) {
    return e.code() == "INVALID_ARGUMENT" && std::string(e.what()).find(needle) != std::string::npos;
  } catch (...) {
    return false;
  }
  return false;
}

}  // namespace p2sam::testing
