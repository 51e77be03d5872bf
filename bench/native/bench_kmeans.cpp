// Benchmark of kmeans_batch on synthetic SAM-like features.
//
// Build (from the repository root):
//   g++ -O3 -march=x86-64-v2 -std=c++17 -pthread -Inative/core
//       native/core/kmeans.cpp bench/native/bench_kmeans.cpp -o build/bench_kmeans
// Run:
//   build/bench_kmeans [--n 1600] [--d 256] [--ks 2,3,4,5] [--restarts 10] [--threads 0]
//                      [--reps 7] [--seed 0] [--data mixture|overlap|noise] [--plain] [--json]
// --plain turns off the Hamerly bounds (plain Lloyd) for comparison.
//
// Data: "mixture" draws points around 8 latent centres whose spread is comparable to
// the within-cluster noise (overlapping parts, like the foreground features of one
// object, so Lloyd needs tens of iterations); "noise" is isotropic Gaussian, the
// slow-converging worst case. The median over --reps calls of one kmeans_batch call
// (all ks together) is reported, plus inertia and iterations of the kept restart.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kmeans.hpp"
#include "tests/test_util.hpp"

namespace {

// Generator of the synthetic data (not the k-means stream).
using DataRng = p2sam::testing::XorShift64;

std::vector<float> make_data(std::size_t n, std::size_t d, const std::string& kind, std::uint64_t seed) {
  DataRng rng{0x2545F4914F6CDD1DULL ^ (seed * 0x9E3779B97F4A7C15ULL + 1)};
  std::vector<float> x(n * d);
  if (kind == "noise") {
    for (auto& v : x) v = static_cast<float>(0.5 * rng.gaussian());
    return x;
  }
  // "mixture": 8 fairly distinct parts; "overlap": 6 parts whose centres differ by
  // about the within-part noise (slow, many-iteration convergence).
  const bool overlap = kind == "overlap";
  const std::size_t latent = overlap ? 6 : 8;
  std::vector<double> centres(latent * d);
  for (auto& c : centres) c = (overlap ? 0.06 : 0.35) * rng.gaussian();
  std::vector<double> offset(d);
  for (auto& o : offset) o = 0.2 * rng.gaussian();  // SAM features are not zero-mean
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t c = static_cast<std::size_t>(rng.next() % latent);
    for (std::size_t t = 0; t < d; ++t)
      x[i * d + t] = static_cast<float>(offset[t] + centres[c * d + t] + 0.4 * rng.gaussian());
  }
  return x;
}

std::vector<int> parse_ks(const char* s) {
  std::vector<int> ks;
  const char* p = s;
  while (*p) {
    char* end = nullptr;
    long v = std::strtol(p, &end, 10);
    if (end == p) break;
    ks.push_back(static_cast<int>(v));
    p = *end == ',' ? end + 1 : end;
  }
  return ks;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n = 1600, d = 256;
  std::vector<int> ks{2, 3, 4, 5};
  int reps = 7;
  bool json = false;
  std::string data = "mixture";
  p2sam::core::KMeansOptions opt;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    auto value = [&]() -> const char* {
      if (a + 1 >= argc) {
        std::fprintf(stderr, "missing value after %s\n", arg.c_str());
        std::exit(2);
      }
      return argv[++a];
    };
    if (arg == "--n")
      n = std::strtoull(value(), nullptr, 10);
    else if (arg == "--d")
      d = std::strtoull(value(), nullptr, 10);
    else if (arg == "--ks")
      ks = parse_ks(value());
    else if (arg == "--restarts")
      opt.restarts = std::atoi(value());
    else if (arg == "--threads")
      opt.threads = std::atoi(value());
    else if (arg == "--reps")
      reps = std::max(1, std::atoi(value()));
    else if (arg == "--seed")
      opt.seed = std::strtoull(value(), nullptr, 10);
    else if (arg == "--data")
      data = value();
    else if (arg == "--json")
      json = true;
    else if (arg == "--plain")
      opt.accelerate = false;
    else if (arg == "--seeding") {
      const std::string s = value();
      if (s != "sklearn" && s != "p2sam") {
        std::fprintf(stderr, "--seeding must be sklearn or p2sam, got %s\n", s.c_str());
        return 2;
      }
      opt.seeding = s == "p2sam" ? p2sam::core::KMeansSeeding::P2sam : p2sam::core::KMeansSeeding::Sklearn;
    } else {
      std::fprintf(stderr, "unknown argument %s\n", arg.c_str());
      return 2;
    }
  }

  const std::vector<float> x = make_data(n, d, data, opt.seed);
  std::vector<double> ms;
  std::vector<p2sam::core::KMeansResult> res;
  try {
    res = p2sam::core::kmeans_batch(x.data(), n, d, ks, opt);  // warm-up
    for (int r = 0; r < reps; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      res = p2sam::core::kmeans_batch(x.data(), n, d, ks, opt);
      auto t1 = std::chrono::steady_clock::now();
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  const double best = sorted.front();

  if (json) {
    std::printf("{\"n\":%zu,\"d\":%zu,\"data\":\"%s\",\"seeding\":\"%s\",\"accelerate\":%s,\"ks\":[", n, d,
                data.c_str(), opt.seeding == p2sam::core::KMeansSeeding::P2sam ? "p2sam" : "sklearn",
                opt.accelerate ? "true" : "false");
    for (std::size_t q = 0; q < ks.size(); ++q) std::printf("%s%d", q ? "," : "", ks[q]);
    std::printf("],\"restarts\":%d,\"threads\":%d,\"reps\":%d,\"ms\":%.3f,\"ms_min\":%.3f,\"per_k\":[", opt.restarts,
                opt.threads, reps, median, best);
    for (std::size_t q = 0; q < res.size(); ++q)
      std::printf("%s{\"k\":%d,\"skipped\":%s,\"inertia\":%.17g,\"iterations\":%d}", q ? "," : "", res[q].k,
                  res[q].skipped ? "true" : "false", res[q].inertia, res[q].iterations);
    std::printf("]}\n");
  } else {
    std::printf("kmeans_batch  n=%zu d=%zu data=%s restarts=%d threads=%d reps=%d %s\n", n, d, data.c_str(),
                opt.restarts, opt.threads, reps, opt.accelerate ? "hamerly" : "plain-lloyd");
    std::printf("  all ks in one call: median %.2f ms, min %.2f ms\n", median, best);
    std::printf("  %4s %8s %20s %10s\n", "k", "skipped", "inertia", "iters");
    for (const auto& r : res)
      std::printf("  %4d %8s %20.6f %10d\n", r.k, r.skipped ? "yes" : "no", r.inertia, r.iterations);
  }
  return 0;
}
