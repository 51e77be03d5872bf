// Helpers shared by the CUDA-side host tests (native/cuda/tests).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "errors.hpp"
#include "test_util.hpp"

// In the anonymous namespace of each test file, where its own helpers join them.
namespace {
namespace hdt {

using p2sam::testing::Rng;

// n points around `centres` well-separated blobs in d dimensions, plus an offset so the
// cloud is far from the origin (exercises the centring).
inline std::vector<float> blobs(std::size_t n, std::size_t d, int centres, std::uint64_t seed, float offset = 5.0f) {
  Rng rng(seed);
  std::vector<float> c(static_cast<std::size_t>(centres) * d);
  for (auto& v : c) v = 4.0f * rng.normal();
  std::vector<float> x(n * d);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t b = i % static_cast<std::size_t>(centres);
    for (std::size_t t = 0; t < d; ++t) x[i * d + t] = offset + c[b * d + t] + 0.8f * rng.normal();
  }
  return x;
}

// "CODE: message" of the CoreError fn throws, "other" for any other exception, "none".
inline std::string code_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const p2sam::core::CoreError& e) {
    return e.code() + ": " + e.what();
  } catch (...) {
    return "other";
  }
  return "none";
}

}  // namespace hdt
}  // namespace
