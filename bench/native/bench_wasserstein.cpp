// Micro-benchmark of the optimal-transport solvers (native/core/wasserstein.hpp).
//
//   bench_wasserstein [--json] [--solver exact|sinkhorn|both] [--threads T] [--reps R]
//                     [--only NxM] [--d D] [--epsilon E] [--tolerance T]
//
// --epsilon/--tolerance set the Sinkhorn options (defaults: SinkhornOptions{}).
//
// Without --only, every size runs in a fresh child process (this same executable with
// --only), so the reported peak RSS (VmHWM) belongs to that size and solver alone.
// Timings include validation and the cost matrix; the minimum over --reps runs is
// reported (default 3, 1 for 4096²). Features: 256-d Gaussian clouds, the target cloud
// shifted by 0.3 per coordinate, fixed seeds; uniform weights.
//
// Build (shipped flags), one line:
//   g++ -O3 -march=x86-64-v2 -std=c++17 -pthread -Inative/core native/core/cost_matrix.cpp
//       native/core/wasserstein_exact.cpp native/core/sinkhorn.cpp
//       bench/native/bench_wasserstein.cpp -o bench_wasserstein

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "wasserstein.hpp"

using namespace p2sam::core;

namespace {

struct Row {
  std::size_t n = 0, m = 0, d = 0;
  std::string solver;
  double ms = 0.0;
  long long steps = 0;  // pivots or iterations
  double cost = 0.0;
  bool converged = false;
  double peak_rss_mb = 0.0;
};

double peak_rss_mb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;  // kB
  }
  return -1.0;
}

std::vector<float> cloud(std::size_t n, std::size_t d, unsigned seed, float shift) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> N(0.f, 1.f);
  std::vector<float> x(n * d);
  for (auto& v : x) v = N(rng) + shift;
  return x;
}

std::string to_json(const Row& r) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "{\"n\":%zu,\"m\":%zu,\"d\":%zu,\"solver\":\"%s\",\"ms\":%.3f,\"%s\":%lld,"
                "\"cost\":%.17g,\"converged\":%s,\"peakRssMB\":%.1f}",
                r.n, r.m, r.d, r.solver.c_str(), r.ms, r.solver == "exact" ? "pivots" : "iterations", r.steps, r.cost,
                r.converged ? "true" : "false", r.peak_rss_mb);
  return buf;
}

Row run_one(std::size_t n, std::size_t m, std::size_t d, const std::string& solver, int threads, int reps,
            const SinkhornOptions& sk) {
  const auto a = cloud(n, d, 1234, 0.f);
  const auto b = cloud(m, d, 5678, 0.3f);
  TransportProblem p{a.data(), n, b.data(), m, d};
  Row row;
  row.n = n;
  row.m = m;
  row.d = d;
  row.solver = solver;
  row.ms = 1e300;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    TransportResult res = solver == "exact" ? wasserstein_exact(p, threads) : wasserstein_sinkhorn(p, sk, threads);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (ms < row.ms) row.ms = ms;
    row.steps = res.iterations;
    row.cost = res.cost;
    row.converged = res.converged;
  }
  row.peak_rss_mb = peak_rss_mb();
  return row;
}

bool parse_size(const char* s, std::size_t& n, std::size_t& m) {
  return std::sscanf(s, "%zux%zu", &n, &m) == 2 && n > 0 && m > 0;
}

bool parse_json_row(const std::string& line, Row& r) {
  char solver[32] = {0}, conv[8] = {0};
  // Field order is fixed by to_json.
  const int got = std::sscanf(line.c_str(),
                              "{\"n\":%zu,\"m\":%zu,\"d\":%zu,\"solver\":\"%31[a-z]\",\"ms\":%lf,\"%*[a-z]\":%lld,"
                              "\"cost\":%lf,\"converged\":%7[a-z],\"peakRssMB\":%lf}",
                              &r.n, &r.m, &r.d, solver, &r.ms, &r.steps, &r.cost, conv, &r.peak_rss_mb);
  r.solver = solver;
  r.converged = std::strcmp(conv, "true") == 0;
  return got == 9;
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false;
  std::string solver = "both", only;
  int threads = 0, reps = -1;
  std::size_t d = 256;
  SinkhornOptions sk;
  std::string sk_args;  // forwarded to the per-size children
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "missing value after %s\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--json")
      json = true;
    else if (arg == "--solver")
      solver = next();
    else if (arg == "--threads")
      threads = std::atoi(next());
    else if (arg == "--reps")
      reps = std::atoi(next());
    else if (arg == "--only")
      only = next();
    else if (arg == "--d")
      d = static_cast<std::size_t>(std::atol(next()));
    else if (arg == "--epsilon" || arg == "--tolerance") {
      const char* value = next();
      (arg == "--epsilon" ? sk.epsilon : sk.tolerance) = std::atof(value);
      sk_args += " " + arg + " " + value;
    } else {
      std::fprintf(stderr, "unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  if (solver != "exact" && solver != "sinkhorn" && solver != "both") {
    std::fprintf(stderr, "--solver must be exact, sinkhorn or both, received %s\n", solver.c_str());
    return 2;
  }
  const std::vector<std::string> solvers =
      solver == "both" ? std::vector<std::string>{"exact", "sinkhorn"} : std::vector<std::string>{solver};

  if (!only.empty()) {
    // Child mode: one size, each requested solver, one JSON object per line.
    std::size_t n, m;
    if (!parse_size(only.c_str(), n, m)) {
      std::fprintf(stderr, "--only expects NxM, received %s\n", only.c_str());
      return 2;
    }
    const int r = reps > 0 ? reps : (n * m >= 4096u * 4096u ? 1 : 3);
    for (const auto& s : solvers) std::printf("%s\n", to_json(run_one(n, m, d, s, threads, r, sk)).c_str());
    return 0;
  }

  const char* sizes[] = {"500x500", "1000x1000", "1600x1600", "2000x1500", "2000x2000", "4096x4096"};
  std::vector<Row> rows;
  for (const char* size : sizes) {
    for (const auto& s : solvers) {
      std::string cmd = std::string("\"") + argv[0] + "\" --only " + size + " --solver " + s + " --d " +
                        std::to_string(d) + " --threads " + std::to_string(threads);
      if (reps > 0) cmd += " --reps " + std::to_string(reps);
      cmd += sk_args;
      FILE* pipe = popen(cmd.c_str(), "r");
      if (!pipe) {
        std::fprintf(stderr, "cannot run %s\n", cmd.c_str());
        return 1;
      }
      char line[1024];
      while (std::fgets(line, sizeof line, pipe)) {
        Row r;
        if (parse_json_row(line, r)) rows.push_back(r);
      }
      if (pclose(pipe) != 0) {
        std::fprintf(stderr, "child failed: %s\n", cmd.c_str());
        return 1;
      }
      if (!json) {
        const Row& r = rows.back();
        std::printf("%5zu x %-5zu d=%zu %-8s %10.1f ms  %9lld %-10s cost %.10g%s  peak %7.1f MB\n", r.n, r.m, r.d,
                    r.solver.c_str(), r.ms, r.steps, r.solver == "exact" ? "pivots" : "iterations", r.cost,
                    r.converged ? "" : " (not converged)", r.peak_rss_mb);
        std::fflush(stdout);
      }
    }
  }
  if (json) {
    std::printf("{\"benchmark\":\"wasserstein\",\"results\":[");
    for (std::size_t i = 0; i < rows.size(); ++i) std::printf("%s%s", i ? "," : "", to_json(rows[i]).c_str());
    std::printf("]}\n");
  }
  return 0;
}
