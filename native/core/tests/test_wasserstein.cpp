// Tests for the optimal-transport solvers (wasserstein.hpp) and the cost matrix.
//
// Reference values come from solvers written here independently of the simplex:
// brute force over permutations (n <= 7) and an O(n³) Hungarian algorithm. Weighted
// and n != m problems are reduced to assignment problems by splitting every point into
// copies of equal mass (integer weights), which has the same optimum (Birkhoff).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../cost_matrix.hpp"
#include "../errors.hpp"
#include "../wasserstein.hpp"
#include "harness.hpp"
#include "test_util.hpp"

using namespace p2sam::core;
using p2sam::testing::throws_mentioning;

namespace {

std::vector<float> random_cloud(std::size_t n, std::size_t d, std::uint32_t seed, float shift = 0.f,
                                float scale = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> N(0.f, 1.f);
  std::vector<float> x(n * d);
  for (auto& v : x) v = N(rng) * scale + shift;
  return x;
}

// ||a_i - b_j||² by the direct formula in long double.
std::vector<double> direct_costs(const std::vector<float>& a, std::size_t n, const std::vector<float>& b, std::size_t m,
                                 std::size_t d) {
  std::vector<double> c(n * m);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < m; ++j) {
      long double s = 0;
      for (std::size_t k = 0; k < d; ++k) {
        const long double t = static_cast<long double>(a[i * d + k]) - b[j * d + k];
        s += t * t;
      }
      c[i * m + j] = static_cast<double>(s);
    }
  return c;
}

// Minimum-cost perfect matching on an n×n matrix (Hungarian algorithm with row/column
// potentials and shortest augmenting paths, O(n³)).
double hungarian(const std::vector<double>& c, std::size_t n) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(n + 1, 0.0), v(n + 1, 0.0);
  std::vector<std::size_t> match(n + 1, 0), way(n + 1, 0);  // match[col] = row, 1-based
  for (std::size_t row = 1; row <= n; ++row) {
    match[0] = row;
    std::size_t col0 = 0;
    std::vector<double> minv(n + 1, inf);
    std::vector<char> used(n + 1, 0);
    do {
      used[col0] = 1;
      const std::size_t r = match[col0];
      double delta = inf;
      std::size_t col1 = 0;
      for (std::size_t j = 1; j <= n; ++j) {
        if (used[j]) continue;
        const double cur = c[(r - 1) * n + (j - 1)] - u[r] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = col0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          col1 = j;
        }
      }
      for (std::size_t j = 0; j <= n; ++j) {
        if (used[j]) {
          u[match[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      col0 = col1;
    } while (match[col0] != 0);
    do {
      const std::size_t col1 = way[col0];
      match[col0] = match[col1];
      col0 = col1;
    } while (col0 != 0);
  }
  double total = 0.0;
  for (std::size_t j = 1; j <= n; ++j) total += c[(match[j] - 1) * n + (j - 1)];
  return total;
}

double brute_force_assignment(const std::vector<double>& c, std::size_t n) {
  std::vector<std::size_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  double best = std::numeric_limits<double>::infinity();
  do {
    double s = 0.0;
    for (std::size_t i = 0; i < n; ++i) s += c[i * n + perm[i]];
    best = std::min(best, s);
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best;
}

// OT cost with integer masses qa (sum T) and qb (sum T) by expanding to a T×T
// assignment problem; returns the cost for the masses normalised to 1.
double expanded_assignment(const std::vector<double>& c, const std::vector<int>& qa, const std::vector<int>& qb) {
  const std::size_t m = qb.size();
  std::vector<std::size_t> ra, rb;
  for (std::size_t i = 0; i < qa.size(); ++i)
    for (int k = 0; k < qa[i]; ++k) ra.push_back(i);
  for (std::size_t j = 0; j < m; ++j)
    for (int k = 0; k < qb[j]; ++k) rb.push_back(j);
  const std::size_t T = ra.size();
  std::vector<double> big(T * T);
  for (std::size_t x = 0; x < T; ++x)
    for (std::size_t y = 0; y < T; ++y) big[x * T + y] = c[ra[x] * m + rb[y]];
  return hungarian(big, T) / static_cast<double>(T);
}

TransportResult exact(const std::vector<float>& a, std::size_t n, const std::vector<float>& b, std::size_t m,
                      std::size_t d, const double* wa = nullptr, const double* wb = nullptr, int threads = 2) {
  TransportProblem p{a.data(), n, b.data(), m, d, wa, wb};
  return wasserstein_exact(p, threads);
}

}  // namespace

TEST_CASE(wasserstein_cost_matrix_matches_direct_formula) {
  const std::size_t n = 37, m = 29, d = 19;  // odd sizes: every kernel remainder path
  auto a = random_cloud(n, d, 1, 0.f, 3.f);
  auto b = random_cloud(m, d, 2, 5.f, 1.f);
  std::vector<double> c(n * m);
  squared_euclidean_costs(a.data(), n, b.data(), m, d, c.data(), 2);
  auto ref = direct_costs(a, n, b, m, d);
  double worst = 0.0;
  for (std::size_t k = 0; k < n * m; ++k) worst = std::max(worst, std::fabs(c[k] - ref[k]) / ref[k]);
  CHECK(worst < 1e-13);
  // Identical points give exactly 0, never a negative rounding residue.
  c.assign(n * n, -1.0);
  squared_euclidean_costs(a.data(), n, a.data(), n, d, c.data(), 1);
  for (std::size_t i = 0; i < n; ++i) CHECK(c[i * n + i] >= 0.0 && c[i * n + i] < 1e-10);
}

TEST_CASE(wasserstein_exact_matches_brute_force_permutations) {
  for (std::uint32_t seed = 0; seed < 12; ++seed) {
    const std::size_t n = 1 + seed % 7, d = 1 + seed % 5;
    auto a = random_cloud(n, d, 100 + seed);
    auto b = random_cloud(n, d, 200 + seed, 0.5f);
    const double ref = brute_force_assignment(direct_costs(a, n, b, n, d), n) / n;
    const TransportResult r = exact(a, n, b, n, d);
    CHECK(r.converged);
    CHECK_NEAR(r.cost, ref, 1e-12 * ref + 1e-15);
    CHECK(r.marginal_error == 0.0);
  }
}

TEST_CASE(wasserstein_exact_matches_hungarian_on_larger_uniform_problems) {
  const std::size_t sizes[] = {40, 120, 257};
  for (std::size_t n : sizes) {
    const std::size_t d = 16;
    auto a = random_cloud(n, d, static_cast<std::uint32_t>(n));
    auto b = random_cloud(n, d, static_cast<std::uint32_t>(n + 7), 0.2f);
    const double ref = hungarian(direct_costs(a, n, b, n, d), n) / static_cast<double>(n);
    const TransportResult r = exact(a, n, b, n, d);
    CHECK(r.converged);
    CHECK(r.iterations > 0);
    CHECK_NEAR(r.cost, ref, 1e-11 * ref);
  }
}

TEST_CASE(wasserstein_exact_weighted_and_unequal_sizes_match_expanded_assignment) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 8; ++trial) {
    const std::size_t n = 2 + trial % 5, m = 3 + (trial * 3) % 6, d = 3;
    auto a = random_cloud(n, d, 300 + trial);
    auto b = random_cloud(m, d, 400 + trial, 1.f);
    // Integer masses with equal totals; the solver receives them unnormalised.
    std::uniform_int_distribution<int> q(1, 5);
    std::vector<int> qa(n), qb(m);
    for (auto& v : qa) v = q(rng);
    for (auto& v : qb) v = q(rng);
    int ta = std::accumulate(qa.begin(), qa.end(), 0), tb = std::accumulate(qb.begin(), qb.end(), 0);
    // Balance by topping up the lighter side's last point.
    if (ta < tb)
      qa.back() += tb - ta;
    else
      qb.back() += ta - tb;
    std::vector<double> wa(qa.begin(), qa.end()), wb(qb.begin(), qb.end());
    for (auto& w : wa) w *= 0.37;  // any positive scale: normalised internally
    const double ref = expanded_assignment(direct_costs(a, n, b, m, d), qa, qb);
    const TransportResult r = exact(a, n, b, m, d, wa.data(), wb.data());
    CHECK(r.converged);
    CHECK_NEAR(r.cost, ref, 1e-12 * ref);
  }
  // Uniform weights with n != m: copies m/g of each source and n/g of each target.
  const std::size_t n = 6, m = 10, d = 4;
  auto a = random_cloud(n, d, 11);
  auto b = random_cloud(m, d, 12, -0.5f);
  const double ref = expanded_assignment(direct_costs(a, n, b, m, d), std::vector<int>(n, 5), std::vector<int>(m, 3));
  const TransportResult r = exact(a, n, b, m, d);
  CHECK_NEAR(r.cost, ref, 1e-12 * ref);
}

TEST_CASE(wasserstein_exact_basic_properties) {
  const std::size_t n = 50, m = 80, d = 8;
  auto a = random_cloud(n, d, 21);
  auto b = random_cloud(m, d, 22, 0.7f);
  const double ab = exact(a, n, b, m, d).cost;
  const double ba = exact(b, m, a, n, d).cost;
  CHECK(ab > 0.0);
  CHECK_NEAR(ab, ba, 1e-12 * ab);
  // Identical clouds (in a different order) cost 0.
  std::vector<float> perm(a.size());
  for (std::size_t i = 0; i < n; ++i)
    std::copy(a.begin() + ((i * 7) % n) * d, a.begin() + ((i * 7) % n + 1) * d, perm.begin() + i * d);
  CHECK_NEAR(exact(a, n, perm, n, d).cost, 0.0, 1e-10);
  // Translating both clouds changes nothing (up to the float32 rounding of the shifted
  // inputs, ~1e-9 relative here).
  std::vector<float> a2(a), b2(b);
  for (std::size_t i = 0; i < n; ++i) a2[i * d] += 3.f;
  for (std::size_t j = 0; j < m; ++j) b2[j * d] += 3.f;
  CHECK_NEAR(exact(a2, n, b2, m, d).cost, ab, 1e-7 * ab);
  // Thread count does not change the result at all.
  CHECK(exact(a, n, b, m, d, nullptr, nullptr, 1).cost == exact(a, n, b, m, d, nullptr, nullptr, 2).cost);
}

TEST_CASE(wasserstein_exact_single_point_side_is_closed_form) {
  const std::size_t m = 33, d = 5;
  auto a = random_cloud(1, d, 31);
  auto b = random_cloud(m, d, 32);
  std::vector<double> wb(m);
  for (std::size_t j = 0; j < m; ++j) wb[j] = 1.0 + static_cast<double>(j % 4);
  const double total = std::accumulate(wb.begin(), wb.end(), 0.0);
  auto c = direct_costs(a, 1, b, m, d);
  double ref = 0.0;
  for (std::size_t j = 0; j < m; ++j) ref += wb[j] / total * c[j];
  CHECK_NEAR(exact(a, 1, b, m, d, nullptr, wb.data()).cost, ref, 1e-12 * ref);
  CHECK_NEAR(exact(b, m, a, 1, d, wb.data(), nullptr).cost, ref, 1e-12 * ref);
  // 1×1.
  CHECK_NEAR(exact(a, 1, b, 1, d).cost, c[0], 1e-12 * c[0]);
}

TEST_CASE(wasserstein_exact_duplicates_and_zero_weights) {
  const std::size_t n = 12, d = 3;
  auto a = random_cloud(n, d, 41);
  auto b = random_cloud(n, d, 42, 1.f);
  // Every point duplicated (same mass split in two) gives the same cost.
  std::vector<float> a2, b2;
  for (std::size_t i = 0; i < n; ++i)
    for (int k = 0; k < 2; ++k) {
      a2.insert(a2.end(), a.begin() + i * d, a.begin() + (i + 1) * d);
      b2.insert(b2.end(), b.begin() + i * d, b.begin() + (i + 1) * d);
    }
  const double base = exact(a, n, b, n, d).cost;
  CHECK_NEAR(exact(a2, 2 * n, b2, 2 * n, d).cost, base, 1e-12 * base);
  // Zero-weight points (including far outliers) are ignored.
  std::vector<float> a3(a);
  a3.insert(a3.end(), {100.f, 100.f, 100.f});
  std::vector<double> wa3(n, 1.0);
  wa3.push_back(0.0);
  std::vector<double> wb3(n, 2.0);
  wb3[3] = 0.0;
  std::vector<float> b_without(b);
  b_without.erase(b_without.begin() + 3 * d, b_without.begin() + 4 * d);
  const double ref = exact(a, n, b_without, n - 1, d).cost;
  CHECK_NEAR(exact(a3, n + 1, b, n, d, wa3.data(), wb3.data()).cost, ref, 1e-12 * ref);
}

TEST_CASE(wasserstein_exact_degenerate_problems_terminate) {
  // Integer grid points: many equal costs and equal masses (maximal degeneracy).
  const std::size_t n = 64, d = 2;
  std::vector<float> a(n * d), b(n * d);
  for (std::size_t i = 0; i < n; ++i) {
    a[i * d] = static_cast<float>(i % 8);
    a[i * d + 1] = static_cast<float>(i / 8);
    b[i * d] = static_cast<float>((i * 3) % 8);
    b[i * d + 1] = static_cast<float>((i / 8 + 1) % 8);
  }
  const double ref = hungarian(direct_costs(a, n, b, n, d), n) / n;
  const TransportResult r = exact(a, n, b, n, d);
  CHECK(r.converged);
  CHECK_NEAR(r.cost, ref, 1e-12 * ref);
  // All sources at one location: every plan is optimal.
  std::vector<float> same(n * d, 1.f);
  auto c = direct_costs(same, n, b, n, d);
  double mean = 0.0;
  for (std::size_t j = 0; j < n; ++j) mean += c[j] / n;
  CHECK_NEAR(exact(same, n, b, n, d).cost, mean, 1e-12 * mean);
  // Cost matrix of all zeros.
  std::vector<double> zeros(30 * 20, 0.0);
  const TransportResult z = transport_exact_from_costs(zeros.data(), 30, 20, nullptr, nullptr);
  CHECK(z.converged);
  CHECK(z.cost == 0.0);
}

TEST_CASE(wasserstein_exact_from_costs_with_ties_matches_hungarian) {
  std::mt19937 rng(9);
  std::uniform_int_distribution<int> q(0, 3);  // tiny integer range: ties everywhere
  for (std::size_t n : {5u, 17u, 60u}) {
    std::vector<double> c(n * n);
    for (auto& v : c) v = q(rng);
    const double ref = hungarian(c, n) / static_cast<double>(n);
    const TransportResult r = transport_exact_from_costs(c.data(), n, n, nullptr, nullptr);
    CHECK(r.converged);
    CHECK_NEAR(r.cost, ref, 1e-12);
  }
  // Negative costs are allowed on this entry point.
  std::vector<double> c = {-1.0, 2.0, 3.0, -4.0};
  CHECK_NEAR(transport_exact_from_costs(c.data(), 2, 2, nullptr, nullptr).cost, -2.5, 1e-15);
}

// The shortlist (8 cheapest sinks per source, cheapest source per sink) misses the
// optimal plan on purpose here: every source's cheapest sinks are the same few columns,
// so almost all optimal arcs must come from the full-matrix pricing passes.
TEST_CASE(wasserstein_exact_optimum_outside_the_shortlist_matches_hungarian) {
  std::mt19937 rng(21);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (std::size_t n : {30u, 90u}) {
    std::vector<double> c(n * n);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) c[i * n + j] = (j < 8 ? 0.0 : 5.0) + u(rng);
    const double ref = hungarian(c, n) / static_cast<double>(n);
    const TransportResult r = transport_exact_from_costs(c.data(), n, n, nullptr, nullptr);
    CHECK(r.converged);
    CHECK_NEAR(r.cost, ref, 1e-12);
  }
}

// The shortlist scans split rows over threads; the pivots must not notice.
TEST_CASE(wasserstein_exact_is_identical_for_every_thread_count) {
  const std::size_t n = 700, m = 500, d = 24;
  auto a = random_cloud(n, d, 71);
  auto b = random_cloud(m, d, 72, 0.2f);
  TransportProblem p{a.data(), n, b.data(), m, d};
  const TransportResult one = wasserstein_exact(p, 1);
  for (int t : {2, 3, 5}) {
    const TransportResult r = wasserstein_exact(p, t);
    CHECK(r.cost == one.cost);
    CHECK(r.iterations == one.iterations);
  }
}

TEST_CASE(wasserstein_exact_cancel_flag_aborts) {
  const std::size_t n = 1500, d = 32;
  auto a = random_cloud(n, d, 61);
  auto b = random_cloud(n, d, 62, 0.3f);
  TransportProblem p{a.data(), n, b.data(), n, d};
  std::atomic<bool> cancel{true};
  ExactOptions o;
  o.cancel = &cancel;
  auto code_of = [&](const std::function<void()>& fn) -> std::string {
    try {
      fn();
    } catch (const CoreError& e) {
      return e.code();
    }
    return "none";
  };
  CHECK(code_of([&] { wasserstein_exact(p, 1, o); }) == "ABORTED");
  // Set while the simplex runs: the solve stops with ABORTED instead of finishing.
  cancel = false;
  const TransportResult full = wasserstein_exact(p, 1, o);  // flag clear: solves normally
  CHECK(full.converged);
  std::string code;
  std::thread worker([&] { code = code_of([&] { wasserstein_exact(p, 1, o); }); });
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  cancel = true;
  worker.join();
  // Either the flag arrived in time (ABORTED) or this machine finished first ("none").
  CHECK(code == "ABORTED" || code == "none");
  std::vector<double> costs(16, 1.0);
  CHECK(code_of([&] { transport_exact_from_costs(costs.data(), 4, 4, nullptr, nullptr, o); }) == "ABORTED");
}

TEST_CASE(wasserstein_exact_pivot_cap_reports_not_converged) {
  const std::size_t n = 200, d = 8;
  auto a = random_cloud(n, d, 51);
  auto b = random_cloud(n, d, 52);
  TransportProblem p{a.data(), n, b.data(), n, d};
  const TransportResult full = wasserstein_exact(p, 2);
  const TransportResult capped = wasserstein_exact(p, 2, 50);
  CHECK(full.converged);
  CHECK(!capped.converged);
  CHECK(capped.iterations == 50);
  CHECK(std::isfinite(capped.cost));
  // The capped result is the cost of a feasible plan, so it cannot beat the optimum.
  CHECK(capped.cost >= full.cost * (1.0 - 1e-12));
  CHECK(capped.cost > full.cost * 1.01);  // and 50 pivots are far from optimal
}

TEST_CASE(wasserstein_invalid_inputs_throw_naming_the_parameter) {
  const std::size_t d = 3;
  auto a = random_cloud(4, d, 61);
  auto b = random_cloud(5, d, 62);
  auto run = [&](TransportProblem p) { return [p] { wasserstein_exact(p, 1); }; };
  CHECK(throws_mentioning(run({a.data(), 0, b.data(), 5, d}), "'n'"));
  CHECK(throws_mentioning(run({a.data(), 4, b.data(), 0, d}), "'m'"));
  CHECK(throws_mentioning(run({a.data(), 4, b.data(), 5, 0}), "'d'"));
  CHECK(throws_mentioning(run({nullptr, 4, b.data(), 5, d}), "'a'"));
  CHECK(throws_mentioning(run({a.data(), 4, nullptr, 5, d}), "'b'"));
  std::vector<float> bad(a);
  bad[7] = std::numeric_limits<float>::quiet_NaN();
  CHECK(throws_mentioning(run({bad.data(), 4, b.data(), 5, d}), "row 2"));
  bad[7] = std::numeric_limits<float>::infinity();
  CHECK(throws_mentioning(run({a.data(), 4, bad.data(), 4, d}), "'b'"));
  std::vector<double> w = {1.0, -1.0, 1.0, 1.0};
  CHECK(throws_mentioning(run({a.data(), 4, b.data(), 5, d, w.data(), nullptr}), "'wa'"));
  std::vector<double> zero(5, 0.0);
  CHECK(throws_mentioning(run({a.data(), 4, b.data(), 5, d, nullptr, zero.data()}), "positive"));
  std::vector<double> nanw(5, 1.0);
  nanw[2] = std::numeric_limits<double>::quiet_NaN();
  CHECK(throws_mentioning(run({a.data(), 4, b.data(), 5, d, nullptr, nanw.data()}), "'wb'"));
  // Extreme float32 features cannot overflow the float64 costs: finite result.
  std::vector<float> huge(4 * d, 3e38f);
  TransportProblem hp{huge.data(), 4, b.data(), 5, d};
  const double hc = wasserstein_exact(hp, 1).cost;
  CHECK(std::isfinite(hc) && hc > 1e77);
  // Sinkhorn options.
  TransportProblem ok{a.data(), 4, b.data(), 5, d};
  SinkhornOptions o;
  o.epsilon = 0.0;
  CHECK(throws_mentioning([&] { wasserstein_sinkhorn(ok, o, 1); }, "'epsilon'"));
  o = SinkhornOptions{};
  o.max_iterations = 0;
  CHECK(throws_mentioning([&] { wasserstein_sinkhorn(ok, o, 1); }, "'max_iterations'"));
  o = SinkhornOptions{};
  o.tolerance = -1.0;
  CHECK(throws_mentioning([&] { wasserstein_sinkhorn(ok, o, 1); }, "'tolerance'"));
  // Cost-matrix entry point.
  std::vector<double> c = {1.0, std::numeric_limits<double>::infinity()};
  CHECK(throws_mentioning([&] { transport_exact_from_costs(c.data(), 1, 2, nullptr, nullptr); }, "'costs'"));
}

TEST_CASE(wasserstein_sinkhorn_approaches_exact_as_epsilon_shrinks) {
  const std::size_t n = 60, m = 45, d = 6;
  auto a = random_cloud(n, d, 71);
  auto b = random_cloud(m, d, 72, 0.8f);
  std::vector<double> wb(m);
  for (std::size_t j = 0; j < m; ++j) wb[j] = 0.5 + 0.1 * static_cast<double>(j % 7);
  TransportProblem p{a.data(), n, b.data(), m, d, nullptr, wb.data()};
  const double ref = wasserstein_exact(p, 1).cost;
  double previous_gap = std::numeric_limits<double>::infinity();
  for (double eps : {1.0, 0.1, 0.02, 0.005}) {
    SinkhornOptions o;
    o.epsilon = eps;
    o.max_iterations = 20000;
    const TransportResult r = wasserstein_sinkhorn(p, o, 2);
    CHECK(r.converged);
    CHECK(r.marginal_error < o.tolerance);
    // The entropic plan is feasible, so its transport cost is never below the optimum
    // (up to the float32 cost storage).
    CHECK(r.cost >= ref * (1.0 - 1e-6));
    const double gap = (r.cost - ref) / ref;
    CHECK(gap < previous_gap);
    previous_gap = gap;
  }
  CHECK(previous_gap < 0.01);
}

TEST_CASE(wasserstein_sinkhorn_reports_iteration_cap_and_edge_cases) {
  const std::size_t n = 40, d = 4;
  auto a = random_cloud(n, d, 81);
  auto b = random_cloud(n, d, 82, 2.f);
  TransportProblem p{a.data(), n, b.data(), n, d};
  SinkhornOptions o;
  o.epsilon = 0.001;
  o.max_iterations = 3;
  const TransportResult r = wasserstein_sinkhorn(p, o, 1);
  CHECK(!r.converged);
  CHECK(r.iterations == 3);
  CHECK(r.marginal_error >= o.tolerance);
  CHECK(std::isfinite(r.cost) && std::isfinite(r.marginal_error));
  // Tiny epsilon: log-domain updates stay finite (no NaN) even far from convergence.
  o.epsilon = 1e-6;
  o.max_iterations = 50;
  const TransportResult t = wasserstein_sinkhorn(p, o, 2);
  CHECK(std::isfinite(t.cost) && std::isfinite(t.marginal_error));
  // Identical single points: zero cost, converged immediately.
  TransportProblem same{a.data(), 1, a.data(), 1, d};
  const TransportResult z = wasserstein_sinkhorn(same, SinkhornOptions{}, 1);
  CHECK(z.converged);
  CHECK(z.cost == 0.0);
  // Thread count does not change the result (large enough to really use 2 threads).
  const std::size_t big = 700;
  auto ba = random_cloud(big, d, 83);
  auto bb = random_cloud(big, d, 84, 0.5f);
  TransportProblem pb{ba.data(), big, bb.data(), big, d};
  o.epsilon = 0.05;
  o.max_iterations = 30;
  const TransportResult s1 = wasserstein_sinkhorn(pb, o, 1), s2 = wasserstein_sinkhorn(pb, o, 2);
  CHECK(s1.cost == s2.cost);
  CHECK(s1.marginal_error == s2.marginal_error);
}
