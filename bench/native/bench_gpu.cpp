// Per-stage GPU vs CPU times of the P2SAM maths (issue 5), on one target's worth of work:
//   kmeans        ks 1..5, 10 restarts, n foreground features × 256 (docs/algorithm.md §2.4)
//   select_points normalise the target + 5 part maps + a 3-map mean group, full chain
//                 to a 1024×768 image (docs/algorithm.md §2.5/§2.6)
//   cost_matrix   n×m squared distances, d = 256 (docs/algorithm.md §2.8.4)
//   sinkhorn      log-domain, fixed iteration count (tolerance 0) (docs/algorithm.md §2.8)
// Each stage runs on the CPU core and on the GPU with identical inputs; the GPU column
// includes the host<->device copies and allocations (what a caller pays per target).
// The parity columns say whether the GPU reproduced the CPU (points identical, inertia
// and costs within the test tolerances).
//
// Usage: bench_gpu [--json FILE] [--reps N] [--cpu-only]
// Without a CUDA device it prints "no GPU: <reason>" and exits 0 (nothing to compare),
// unless --cpu-only asks for the CPU column alone.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "cost_matrix.hpp"
#include "cuda_backend.hpp"
#include "geometry.hpp"
#include "kernels.hpp"
#include "kmeans.hpp"
#include "parallel.hpp"
#include "prototypes.hpp"
#include "reference_grid.hpp"
#include "similarity.hpp"
#include "wasserstein.hpp"

using namespace p2sam;

namespace {

struct Rng {
  std::uint64_t s;
  explicit Rng(std::uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 3) {}
  double uniform() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return static_cast<double>(s >> 11) * 0x1.0p-53;
  }
  float normal() {
    double a = 0;
    for (int i = 0; i < 4; ++i) a += uniform();
    return static_cast<float>(a - 2.0);
  }
};

std::vector<float> clustered(std::size_t n, std::size_t d, int parts, std::uint64_t seed) {
  Rng r(seed);
  std::vector<float> c(static_cast<std::size_t>(parts) * d), x(n * d);
  for (auto& v : c) v = r.normal();
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t t = 0; t < d; ++t) x[i * d + t] = c[(i % parts) * d + t] + 0.3f * r.normal();
  return x;
}

double median_ms(int reps, const std::function<void()>& fn) {
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto a = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct Row {
  std::string stage, shape;
  double cpu_ms = 0, gpu_ms = -1;
  std::string parity = "n/a";
};

}  // namespace

int main(int argc, char** argv) {
  std::string json;
  int reps = 5;
  bool cpu_only = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json") && i + 1 < argc)
      json = argv[++i];
    else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc)
      reps = std::max(1, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--cpu-only"))
      cpu_only = true;
    else {
      std::fprintf(stderr, "usage: %s [--json FILE] [--reps N] [--cpu-only]\n", argv[0]);
      return 2;
    }
  }
  const cuda::DeviceStatus& st = cuda::device_status();
  const bool gpu = st.available && !cpu_only;
  if (!st.available && !cpu_only) {
    std::printf("no GPU: %s — nothing to compare (run with --cpu-only for the CPU column)\n", st.reason.c_str());
    return 0;
  }
  const int threads = core::default_thread_count();
  std::vector<Row> rows;

  {  // k-means
    const std::size_t n = 1500, d = 256;
    const auto x = clustered(n, d, 4, 1);
    const std::vector<int> ks = {1, 2, 3, 4, 5};
    core::KMeansOptions o;
    o.seed = 7;
    o.seeding = core::KMeansSeeding::P2sam;  // the streams the GPU k-means implements
    Row r{"kmeans", "n=1500 d=256 ks=1..5 restarts=10"};
    std::vector<core::KMeansResult> c, g;
    r.cpu_ms = median_ms(reps, [&] { c = core::kmeans_batch(x.data(), n, d, ks, o); });
    if (gpu) {
      g = cuda::gpu_kmeans_batch(x.data(), n, d, ks, o);  // warm-up (context, module load)
      r.gpu_ms = median_ms(reps, [&] { g = cuda::gpu_kmeans_batch(x.data(), n, d, ks, o); });
      bool ok = true;
      for (std::size_t q = 0; q < ks.size(); ++q)
        ok = ok && std::fabs(g[q].inertia - c[q].inertia) <= 1e-4 * c[q].inertia;
      r.parity = ok ? "inertia within 1e-4" : "MISMATCH";
    }
    rows.push_back(r);
  }
  {  // point selection
    Rng rng(5);
    std::vector<float> emb(static_cast<std::size_t>(core::kEmbedDim) * core::kGridCells);
    for (auto& v : emb) v = rng.normal();
    const auto fg = clustered(5, 256, 5, 2), bg = clustered(3, 256, 3, 3);
    std::vector<float> fgn = fg, bgn = bg;
    for (int i = 0; i < 5; ++i) core::normalise_in_place(fgn.data() + i * 256, 256);
    for (int i = 0; i < 3; ++i) core::normalise_in_place(bgn.data() + i * 256, 256);
    const core::ResizeInfo info = core::longest_side(1024, 768);
    const std::vector<core::PointRequest> reqs = {{fgn.data(), 5, false}, {bgn.data(), 3, true}};
    Row r{"select_points", "normalise + 8 maps -> 1024x768, 1 mean group"};
    std::vector<core::PointSet> c, g;
    r.cpu_ms = median_ms(reps, [&] {
      const auto t = core::normalize_target_features(emb.data(), threads);
      c = core::select_points(t.data(), info, reqs, threads);
    });
    if (gpu) {
      auto once = [&] {
        const auto t = cuda::gpu_normalize_target_features(emb.data());
        g = cuda::gpu_select_points(t.data(), info, reqs);
      };
      once();
      r.gpu_ms = median_ms(reps, once);
      bool ok = true;
      for (std::size_t q = 0; q < reqs.size(); ++q) {
        for (std::size_t p = 0; p < c[q].argmax.size(); ++p)
          ok = ok && c[q].argmax[p].x == g[q].argmax[p].x && c[q].argmax[p].y == g[q].argmax[p].y;
        if (c[q].has_mean_argmin)
          ok = ok && c[q].mean_argmin.x == g[q].mean_argmin.x && c[q].mean_argmin.y == g[q].mean_argmin.y;
      }
      r.parity = ok ? "identical points" : "MISMATCH";
    }
    rows.push_back(r);
  }
  const std::size_t n = 2048, m = 2048, d = 256;
  const auto a = clustered(n, d, 3, 8), b = clustered(m, d, 4, 9);
  {  // cost matrix
    std::vector<double> c(n * m), g(n * m);
    Row r{"cost_matrix", "2048x2048 d=256 (float64)"};
    r.cpu_ms = median_ms(reps, [&] { core::squared_euclidean_costs(a.data(), n, b.data(), m, d, c.data(), threads); });
    if (gpu) {
      cuda::gpu_cost_matrix(a.data(), n, b.data(), m, d, g.data());
      r.gpu_ms = median_ms(reps, [&] { cuda::gpu_cost_matrix(a.data(), n, b.data(), m, d, g.data()); });
      double worst = 0;
      for (std::size_t q = 0; q < n * m; ++q) worst = std::max(worst, std::fabs(g[q] - c[q]) / std::max(1.0, c[q]));
      r.parity = worst < 1e-9 ? "max rel diff " + std::to_string(worst) : "MISMATCH";
    }
    rows.push_back(r);
  }
  {  // Sinkhorn
    core::TransportProblem pr{a.data(), n, b.data(), m, d, nullptr, nullptr};
    core::SinkhornOptions so;
    so.epsilon = 0.05;
    so.max_iterations = 100;
    so.tolerance = 0.0;
    core::TransportResult c, g;
    Row r{"sinkhorn", "2048x2048 d=256, 100 iterations"};
    const int sr = std::max(1, reps / 2);
    r.cpu_ms = median_ms(sr, [&] { c = core::wasserstein_sinkhorn(pr, so, threads); });
    if (gpu) {
      g = cuda::gpu_sinkhorn(pr, so);
      r.gpu_ms = median_ms(sr, [&] { g = cuda::gpu_sinkhorn(pr, so); });
      r.parity = std::fabs(g.cost - c.cost) <= 1e-7 * c.cost ? "cost within 1e-7" : "MISMATCH";
    }
    rows.push_back(r);
  }

  std::printf("%-14s %-46s %10s %10s %8s  %s\n", "stage", "shape", "cpu ms", "gpu ms", "speedup", "parity");
  for (const Row& r : rows) {
    char gm[32] = "-", sp[32] = "-";
    if (r.gpu_ms >= 0) {
      std::snprintf(gm, sizeof gm, "%.2f", r.gpu_ms);
      std::snprintf(sp, sizeof sp, "%.1fx", r.cpu_ms / r.gpu_ms);
    }
    std::printf("%-14s %-46s %10.2f %10s %8s  %s\n", r.stage.c_str(), r.shape.c_str(), r.cpu_ms, gm, sp,
                r.parity.c_str());
  }
  if (!json.empty()) {
    FILE* f = std::fopen(json.c_str(), "w");
    if (!f) {
      std::fprintf(stderr, "cannot write %s\n", json.c_str());
      return 1;
    }
    std::fprintf(f, "{\n  \"device\": \"%s\",\n  \"cpuThreads\": %d,\n  \"reps\": %d,\n  \"stages\": [\n",
                 gpu ? st.device_name.c_str() : "none", threads, reps);
    for (std::size_t i = 0; i < rows.size(); ++i)
      std::fprintf(f,
                   "    {\"stage\": \"%s\", \"shape\": \"%s\", \"cpuMs\": %.3f, \"gpuMs\": %s, \"parity\": \"%s\"}%s\n",
                   rows[i].stage.c_str(), rows[i].shape.c_str(), rows[i].cpu_ms,
                   rows[i].gpu_ms >= 0 ? std::to_string(rows[i].gpu_ms).c_str() : "null", rows[i].parity.c_str(),
                   i + 1 < rows.size() ? "," : "");
    std::fprintf(f, "  ]\n}\n");
    std::fclose(f);
  }
  bool bad = false;
  for (const Row& r : rows) bad = bad || r.parity == "MISMATCH";
  return bad ? 1 : 0;
}
