// Benchmark of the similarity chain and point selection (docs/algorithm.md §2.5/2.6) plus the image
// geometry around it. Standalone: synthetic embeddings from a fixed seed, no models.
//
// Build (from the repository root):
//   g++ -O3 -march=x86-64-v2 -std=c++17 -pthread -Inative/core
//       native/core/geometry.cpp native/core/similarity.cpp native/core/reference_grid.cpp
//       bench/native/bench_similarity.cpp -o build/bench_similarity
// Run: build/bench_similarity [--threads N] [--reps N] [--json]
// Prints one row per case with the median and minimum wall time over the repetitions.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "geometry.hpp"
#include "parallel.hpp"
#include "reference_grid.hpp"
#include "similarity.hpp"

#include "tests/test_util.hpp"
using namespace p2sam::core;
using p2sam::testing::Rng;

namespace {

std::vector<float> unit_rows(int count, Rng& rng) {
  std::vector<float> p(static_cast<std::size_t>(count) * kEmbedDim);
  for (int i = 0; i < count; ++i) {
    double n = 0;
    for (int c = 0; c < kEmbedDim; ++c) {
      float v = rng.uniform() - 0.5f;
      p[i * kEmbedDim + c] = v;
      n += double(v) * v;
    }
    for (int c = 0; c < kEmbedDim; ++c) p[i * kEmbedDim + c] = static_cast<float>(p[i * kEmbedDim + c] / std::sqrt(n));
  }
  return p;
}

struct Result {
  std::string name;
  int threads;
  double median_ms, min_ms;
};

Result measure(const std::string& name, int threads, int reps, const std::function<void()>& fn) {
  fn();  // warm-up: page faults, thread start-up
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    auto a = std::chrono::steady_clock::now();
    fn();
    auto b = std::chrono::steady_clock::now();
    t.push_back(std::chrono::duration<double, std::milli>(b - a).count());
  }
  std::sort(t.begin(), t.end());
  return {name, threads, t[t.size() / 2], t.front()};
}

}  // namespace

int main(int argc, char** argv) {
  int threads = default_thread_count();
  int reps = 15;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json")) {
      json = true;
    } else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s [--threads N] [--reps N] [--json]\n", argv[0]);
      return 2;
    }
  }

  Rng rng(2024);
  std::vector<float> emb(static_cast<std::size_t>(kEmbedDim) * kGridCells);
  for (auto& v : emb) v = rng.uniform() - 0.5f;
  const std::vector<float> tn = normalize_target_features(emb.data(), threads);
  const std::vector<float> parts = unit_rows(5, rng);
  const std::vector<float> background = unit_rows(50, rng);

  std::vector<Result> results;
  std::vector<int> thread_counts = {1};
  if (threads > 1) thread_counts.push_back(threads);
  for (int th : thread_counts) {
    results.push_back(
        measure("normalize_target_features", th, reps, [&] { normalize_target_features(emb.data(), th); }));
    const std::pair<int, int> sizes[] = {{640, 480}, {1280, 960}, {1920, 1080}, {4032, 3024}};
    for (auto sz : sizes) {
      const ResizeInfo info = longest_side(sz.first, sz.second);
      const std::string tag = std::to_string(sz.first) + "x" + std::to_string(sz.second);
      results.push_back(measure("natural k=5 + mean " + tag, th, reps, [&] {
        select_points(tn.data(), info, {{parts.data(), 5, true}}, th);
      }));
    }
    {
      const ResizeInfo info = longest_side(512, 512);
      results.push_back(measure("medical k=3 + kb=50 512x512", th, std::max(1, reps / 3), [&] {
        select_points(tn.data(), info, {{parts.data(), 3, false}, {background.data(), 50, false}}, th);
      }));
    }
    {
      std::vector<std::uint8_t> img(static_cast<std::size_t>(1280) * 960 * 3);
      for (auto& v : img) v = static_cast<std::uint8_t>(rng.next() >> 56);
      results.push_back(measure("resize_for_encoder 1280x960 RGB", th, reps,
                                [&] { resize_for_encoder(img.data(), 1280, 960, 3, th); }));
      std::vector<std::uint8_t> mask(static_cast<std::size_t>(1280) * 960, 0);
      for (int y = 300; y < 700; ++y)
        for (int x = 400; x < 900; ++x) mask[static_cast<std::size_t>(y) * 1280 + x] = 1;
      results.push_back(
          measure("reference_grid 1280x960", th, reps, [&] { reference_grid(mask.data(), 1280, 960, th); }));
    }
  }

  if (json) {
    std::printf("{\n  \"benchmark\": \"similarity\",\n  \"reps\": %d,\n  \"results\": [\n", reps);
    for (std::size_t i = 0; i < results.size(); ++i) {
      const Result& r = results[i];
      std::printf("    {\"name\": \"%s\", \"threads\": %d, \"median_ms\": %.3f, \"min_ms\": %.3f}%s\n", r.name.c_str(),
                  r.threads, r.median_ms, r.min_ms, i + 1 < results.size() ? "," : "");
    }
    std::printf("  ]\n}\n");
  } else {
    std::printf("%-40s %8s %11s %9s\n", "case", "threads", "median ms", "min ms");
    for (const Result& r : results)
      std::printf("%-40s %8d %11.2f %9.2f\n", r.name.c_str(), r.threads, r.median_ms, r.min_ms);
  }
  return 0;
}
