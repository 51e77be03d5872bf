// Exact optimal transport by a primal network simplex specialised to the dense,
// uncapacitated bipartite transportation problem.
//
// Graph: sources 0..n-1 (supply wa), sinks n..n+m-1 (demand wb), arcs i→j for every
// pair with cost C_ij, plus an artificial root R = n+m joined to every node (the
// classic big-M start: source arcs i→R cost 0, sink arcs R→j cost M). The arcs have no
// upper bound, so every non-tree arc carries zero flow: only the spanning tree's arcs
// need a flow, and the tree arc of node x is the arc to its parent. Its direction
// follows from x's type (a source's arc points to its parent, a sink's arc comes from
// its parent), so no per-arc or per-node direction is stored. There are no per-arc
// arrays at all: memory is the cost matrix plus O(n+m).
//
// Potentials pi make every tree arc tight: reduced cost rc(i,j) = C_ij + pi_i - pi_j
// (pi_R = 0). Pricing scans the cost matrix row by row (block search: blocks of about
// 4·sqrt(n·m) arcs, the most negative arc of the first block that has one enters),
// which is a contiguous, vectorisable min over C[i][·] - pi[n+·].
//
// Degeneracy (uniform weights make almost every pivot degenerate) is handled with
// Cunningham's strongly feasible trees: the start tree is strongly feasible (every
// zero-flow arc points towards the root) and the leaving arc is the last blocking arc
// met when the cycle is walked in its orientation from the join node, which keeps it so
// and rules out cycling.
//
// The tree is stored as parent/depth plus a preorder "thread" (doubly linked), so the
// subtree of x is the thread segment starting at x; a pivot costs O(|moved subtree| +
// cycle length).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "cost_matrix.hpp"
#include "errors.hpp"
#include "wasserstein.hpp"
#include "cancel.hpp"

namespace p2sam::core {
namespace {

// Pricing kernels. min_k (row[k] - pt[k]) over a row segment, written with GCC/Clang
// vector extensions: V is a vector of float64 lanes; four independent partial minima
// per step hide the latency. The same template is compiled for SSE2/NEON (2 lanes),
// and on x86-64 also for AVX2 (4) and AVX-512 (8) behind run-time CPU checks.
template <typename V>
inline __attribute__((always_inline)) double segment_min_impl(const double* row,
                                                              const double* pt,
                                                              std::size_t len) {
  constexpr std::size_t L = sizeof(V) / sizeof(double);
  const double inf = std::numeric_limits<double>::infinity();
  V m0, m1, m2, m3;
  for (std::size_t l = 0; l < L; ++l) m0[l] = inf;
  m1 = m2 = m3 = m0;
  std::size_t k = 0;
  for (; k + 4 * L <= len; k += 4 * L) {
    V r[4], p[4];
    __builtin_memcpy(r, row + k, sizeof r);
    __builtin_memcpy(p, pt + k, sizeof p);
    const V x0 = r[0] - p[0], x1 = r[1] - p[1], x2 = r[2] - p[2], x3 = r[3] - p[3];
    m0 = x0 < m0 ? x0 : m0;
    m1 = x1 < m1 ? x1 : m1;
    m2 = x2 < m2 ? x2 : m2;
    m3 = x3 < m3 ? x3 : m3;
  }
  m0 = m1 < m0 ? m1 : m0;
  m2 = m3 < m2 ? m3 : m2;
  m0 = m2 < m0 ? m2 : m0;
  double best = inf;
  for (std::size_t l = 0; l < L; ++l) best = m0[l] < best ? m0[l] : best;
  for (; k < len; ++k) {
    const double x = row[k] - pt[k];
    best = x < best ? x : best;
  }
  return best;
}

// First k in the segment with row[k] - pt[k] == target (same arithmetic as the min).
template <typename V>
inline __attribute__((always_inline)) std::size_t segment_find_impl(const double* row,
                                                                    const double* pt,
                                                                    std::size_t len,
                                                                    double target) {
  constexpr std::size_t L = sizeof(V) / sizeof(double);
  V t;
  for (std::size_t l = 0; l < L; ++l) t[l] = target;
  std::size_t k = 0;
  for (; k + L <= len; k += L) {
    V r, p;
    __builtin_memcpy(&r, row + k, sizeof r);
    __builtin_memcpy(&p, pt + k, sizeof p);
    const V x = r - p;
    const auto eq = x == t;
    bool any = false;
    for (std::size_t l = 0; l < L; ++l) any |= eq[l] != 0;
    if (any) break;
  }
  for (; k < len; ++k)
    if (row[k] - pt[k] == target) return k;
  return len;
}

typedef double v2d __attribute__((vector_size(16)));
double segment_min_portable(const double* r, const double* p, std::size_t n) {
  return segment_min_impl<v2d>(r, p, n);
}
std::size_t segment_find_portable(const double* r, const double* p, std::size_t n, double t) {
  return segment_find_impl<v2d>(r, p, n, t);
}

using SegmentMinFn = double (*)(const double*, const double*, std::size_t);
using SegmentFindFn = std::size_t (*)(const double*, const double*, std::size_t, double);

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(P2SAM_NO_SIMD_DISPATCH)
#define P2SAM_PRICING_DISPATCH 1
typedef double v4d __attribute__((vector_size(32)));
typedef double v8d __attribute__((vector_size(64)));
__attribute__((target("avx2"))) double segment_min_avx2(const double* r, const double* p,
                                                        std::size_t n) {
  return segment_min_impl<v4d>(r, p, n);
}
__attribute__((target("avx2"))) std::size_t segment_find_avx2(const double* r, const double* p,
                                                              std::size_t n, double t) {
  return segment_find_impl<v4d>(r, p, n, t);
}
__attribute__((target("avx512f"))) double segment_min_avx512(const double* r, const double* p,
                                                             std::size_t n) {
  return segment_min_impl<v8d>(r, p, n);
}
__attribute__((target("avx512f"))) std::size_t segment_find_avx512(const double* r,
                                                                   const double* p,
                                                                   std::size_t n, double t) {
  return segment_find_impl<v8d>(r, p, n, t);
}
#endif

struct PricingKernels {
  SegmentMinFn min = segment_min_portable;
  SegmentFindFn find = segment_find_portable;
};

PricingKernels pick_pricing() {
  PricingKernels k;
#ifdef P2SAM_PRICING_DISPATCH
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    k.min = segment_min_avx512;
    k.find = segment_find_avx512;
  } else if (__builtin_cpu_supports("avx2")) {
    k.min = segment_min_avx2;
    k.find = segment_find_avx2;
  }
#endif
  return k;
}

const PricingKernels& pricing() {
  static const PricingKernels k = pick_pricing();
  return k;
}

class TransportSimplex {
 public:
  TransportSimplex(const double* costs, std::size_t n, std::size_t m, const double* supply,
                   const double* demand, double max_cost)
      : C_(costs), n_(n), m_(m), nodes_(static_cast<int>(n + m + 1)), root_(static_cast<int>(n + m)) {
    // M must exceed the cost of any simple path of real arcs (< (n+m)·max|C|) so that an
    // optimal tree never routes mass through the root. Proportional to max|C| (not
    // max|C| + 1) so the tolerance below scales with the costs.
    big_m_ = 2.0 * (max_cost > 0.0 ? max_cost : 1.0) * static_cast<double>(n + m + 1);
    // Reduced costs are differences of potentials up to ~M; 2^-53·M is their rounding
    // noise. Arcs count as improving only below -tol, which bounds the optimality gap
    // by tol (total mass is 1) while never mistaking rounding noise for a tree arc's rc.
    tol_ = 64.0 * std::numeric_limits<double>::epsilon() * big_m_;
    parent_.assign(nodes_, root_);
    depth_.assign(nodes_, 1);
    thread_.resize(nodes_);
    rev_thread_.resize(nodes_);
    flow_.assign(nodes_, 0.0);
    pi_.assign(nodes_, 0.0);
    parent_[root_] = -1;
    depth_[root_] = 0;
    for (int x = 0; x < nodes_; ++x) {
      thread_[x] = x + 1 == nodes_ ? 0 : x + 1;
      rev_thread_[x] = x == 0 ? nodes_ - 1 : x - 1;
    }
    // Thread order: R, 0, 1, ..., n+m-1, back to R.
    thread_[root_] = 0;
    rev_thread_[0] = root_;
    thread_[nodes_ - 2] = root_;
    rev_thread_[root_] = nodes_ - 2;
    for (std::size_t i = 0; i < n; ++i) flow_[i] = supply[i];
    for (std::size_t j = 0; j < m; ++j) {
      flow_[n + j] = demand[j];
      pi_[n + j] = big_m_;
    }
    // Block of 4·sqrt(n·m) arcs: measured on 256-d clouds (1000², 2000×1500, 4096²), a
    // factor 1 (LEMON's default) needs ~3× the pivots and is 10–25 % slower overall;
    // factors 3–6 were within noise of each other.
    const double block = 4.0 * std::sqrt(static_cast<double>(n) * static_cast<double>(m));
    block_ = std::max<std::size_t>(static_cast<std::size_t>(block), std::min<std::size_t>(n * m, 64));
  }

  // Runs until optimal or max_pivots; returns true when optimal.
  bool run(std::size_t max_pivots) {
    std::size_t since_refresh = 0;
    bool tree_arc_retry = false;
    const std::size_t refresh_every = 4 * (n_ + m_) + 1000;
    for (;;) {
      // Checked every 256 pivots: an atomic load per pivot would be measurable here.
      if ((pivots_ & 255) == 0) throw_if_cancelled();
      int ei, ej;
      double rc;
      if (!find_entering(ei, ej, rc)) {
        // Potentials were updated incrementally; recompute them exactly from the tree
        // and confirm with a full pass before declaring optimality.
        refresh_potentials();
        since_refresh = 0;
        if (!find_entering(ei, ej, rc)) return true;
      }
      if (pivots_ >= max_pivots) return false;
      const int u = ei, v = static_cast<int>(n_) + ej;
      if (parent_[u] == v || parent_[v] == u) {
        // Drifted potentials made a tree arc look improving: recompute and rescan.
        // Exact potentials give tree arcs |rc| of a few ulps of M, far below tol, so a
        // repeat means broken invariants, not drift.
        if (tree_arc_retry) throw CoreError("INTERNAL", "wasserstein_exact: tree arc priced as improving after a potential refresh");
        tree_arc_retry = true;
        refresh_potentials();
        since_refresh = 0;
        continue;
      }
      tree_arc_retry = false;
      pivot(u, v, rc);
      ++pivots_;
      if (++since_refresh >= refresh_every) {
        refresh_potentials();
        since_refresh = 0;
      }
    }
  }

  std::size_t pivots() const { return pivots_; }

  // Cost of the current plan: flow × cost over the real tree arcs. Mass still parked on
  // artificial arcs (only before optimality, i.e. when the pivot cap stopped the run)
  // is routed directly from the sources holding it to the sinks missing it (north-west
  // corner), so the result is always the cost of a feasible plan. artificial_mass
  // receives the parked mass.
  double cost(double* artificial_mass) const {
    double total = 0.0, art = 0.0;
    std::vector<std::pair<int, double>> excess, deficit;
    for (int x = 0; x < root_; ++x) {
      if (parent_[x] == root_) {
        if (flow_[x] > 0.0) (is_source(x) ? excess : deficit).push_back({x, flow_[x]});
        if (is_source(x)) art += flow_[x];
        continue;
      }
      total += flow_[x] * arc_cost(x, parent_[x]);
    }
    std::size_t e = 0, d = 0;
    while (e < excess.size() && d < deficit.size()) {
      const double q = std::min(excess[e].second, deficit[d].second);
      total += q * C_[static_cast<std::size_t>(excess[e].first) * m_ + (deficit[d].first - n_)];
      excess[e].second -= q;
      deficit[d].second -= q;
      if (excess[e].second <= 0.0) ++e;
      if (deficit[d].second <= 0.0) ++d;
    }
    if (artificial_mass) *artificial_mass = art;
    return total;
  }

 private:
  bool is_source(int x) const { return x < static_cast<int>(n_); }

  // Cost of the tree arc between x and its parent p.
  double arc_cost(int x, int p) const {
    if (p == root_) return is_source(x) ? 0.0 : big_m_;
    if (is_source(x)) return C_[static_cast<std::size_t>(x) * m_ + (p - n_)];
    return C_[static_cast<std::size_t>(p) * m_ + (x - n_)];
  }

  // Block search over arcs in row-major order starting at the cursor. Returns the most
  // negative reduced cost of the first block (of block_ arcs) holding one below -tol,
  // or false after a full pass without one.
  bool find_entering(int& ei, int& ej, double& rc) {
    const double* pt = pi_.data() + n_;
    const std::size_t total = n_ * m_;
    const SegmentMinFn seg_min = pricing().min;
    double best = -tol_;
    std::size_t best_i = n_, best_j0 = 0, best_len = 0;
    double best_raw = 0.0;
    std::size_t scanned = 0, in_block = 0;
    while (scanned < total) {
      const std::size_t len =
          std::min(std::min(m_ - cur_j_, block_ - in_block), total - scanned);
      const double raw = seg_min(C_ + cur_i_ * m_ + cur_j_, pt + cur_j_, len);
      const double val = raw + pi_[cur_i_];
      if (val < best) {
        best = val;
        best_raw = raw;
        best_i = cur_i_;
        best_j0 = cur_j_;
        best_len = len;
      }
      cur_j_ += len;
      in_block += len;
      scanned += len;
      if (cur_j_ == m_) {
        cur_j_ = 0;
        if (++cur_i_ == n_) cur_i_ = 0;
      }
      if (in_block == block_) {
        if (best_i < n_) break;
        in_block = 0;
      }
    }
    if (best_i == n_) return false;
    // Locate the winning column with the same arithmetic as segment_min.
    const std::size_t j =
        best_j0 + pricing().find(C_ + best_i * m_ + best_j0, pt + best_j0, best_len, best_raw);
    ei = static_cast<int>(best_i);
    ej = static_cast<int>(j);
    rc = C_[best_i * m_ + j] + pi_[best_i] - pt[j];
    return true;
  }

  void refresh_potentials() {
    pi_[root_] = 0.0;
    // Preorder: a parent's potential is final before its children are visited.
    for (int x = thread_[root_]; x != root_; x = thread_[x]) {
      const int p = parent_[x];
      const double c = arc_cost(x, p);
      pi_[x] = is_source(x) ? pi_[p] - c : pi_[p] + c;
    }
  }

  // Entering arc u→v (u a source, v a sink) with reduced cost rc < 0.
  void pivot(int u, int v, double rc) {
    // Join node: lowest common ancestor.
    int a = u, b = v;
    while (a != b) {
      if (depth_[a] > depth_[b]) {
        a = parent_[a];
      } else if (depth_[b] > depth_[a]) {
        b = parent_[b];
      } else {
        a = parent_[a];
        b = parent_[b];
      }
    }
    const int join = a;

    // Flow moves join → … → u → v → … → join. On the u side it runs from each
    // node's parent down to the node, so a source's arc (node→parent) decreases; on
    // the v side it runs node → parent, so a sink's arc (parent→node) decreases.
    // Ties: the last blocking arc in cycle order from the join is the one closest to
    // u on the u side (strict <), any v-side arc beats u-side ones, and on the v side
    // the one closest to the join (<=).
    double delta = std::numeric_limits<double>::infinity();
    int out = -1;
    bool out_on_u_side = true;
    for (int x = u; x != join; x = parent_[x]) {
      if (is_source(x) && flow_[x] < delta) {
        delta = flow_[x];
        out = x;
      }
    }
    for (int x = v; x != join; x = parent_[x]) {
      if (!is_source(x) && flow_[x] <= delta) {
        delta = flow_[x];
        out = x;
        out_on_u_side = false;
      }
    }
    if (delta > 0.0) {
      for (int x = u; x != join; x = parent_[x]) flow_[x] += is_source(x) ? -delta : delta;
      for (int x = v; x != join; x = parent_[x]) flow_[x] += is_source(x) ? delta : -delta;
    }

    // The subtree below the leaving arc (rooted at `out`) contains p, the endpoint of
    // the entering arc on that side; it is re-hung from p under w, the other endpoint.
    const int p = out_on_u_side ? u : v;
    const int w = out_on_u_side ? v : u;
    const double sigma = is_source(p) ? -rc : rc;

    path_.clear();
    for (int x = p;; x = parent_[x]) {
      path_.push_back(x);
      if (x == out) break;
    }
    const std::size_t k = path_.size() - 1;

    // Old preorder: segment of path_[i] ends at end_[i]. Walk the subtree of `out`
    // once; the path nodes' segments are nested, path_[0] innermost, so they close in
    // order 0, 1, ..., k (none can close before path_[0] itself was reached).
    end_.assign(k + 1, -1);
    {
      int y = out;
      while (y != p) y = thread_[y];
      int prev = y;
      std::size_t closing = 0;
      y = thread_[y];
      const int base_depth = depth_[out];
      while (closing <= k) {
        // path_[c] has depth base_depth + (k - c).
        while (closing <= k &&
               depth_[y] <= base_depth + static_cast<int>(k - closing)) {
          end_[closing++] = prev;
        }
        prev = y;
        y = thread_[y];
      }
    }

    // New preorder of the re-rooted subtree: p's whole old segment, then for each
    // ancestor x_i on the path: x_i up to just before x_{i-1}'s segment, and the part
    // of x_i's segment after x_{i-1}'s.
    order_.clear();
    auto append = [&](int first, int last) {
      for (int y = first;; y = thread_[y]) {
        order_.push_back(y);
        if (y == last) break;
      }
    };
    append(path_[0], end_[0]);
    for (std::size_t i = 1; i <= k; ++i) {
      append(path_[i], rev_thread_[path_[i - 1]]);
      if (end_[i] != end_[i - 1]) append(thread_[end_[i - 1]], end_[i]);
    }

    // Unlink the old segment [out .. end_[k]] and splice the new one in after w.
    const int before = rev_thread_[out];
    const int after_old = thread_[end_[k]];
    thread_[before] = after_old;
    rev_thread_[after_old] = before;
    const int after_w = thread_[w];
    int prev = w;
    for (int y : order_) {
      thread_[prev] = y;
      rev_thread_[y] = prev;
      prev = y;
    }
    thread_[prev] = after_w;
    rev_thread_[after_w] = prev;

    // Reverse the path: x_{i+1}'s parent becomes x_i and takes over the arc (and its
    // flow) that used to hang x_i under x_{i+1}. The leaving arc disappears.
    for (std::size_t i = k; i >= 1; --i) {
      parent_[path_[i]] = path_[i - 1];
      flow_[path_[i]] = flow_[path_[i - 1]];
    }
    parent_[p] = w;
    flow_[p] = delta;

    for (int y : order_) {
      pi_[y] += sigma;
      depth_[y] = depth_[parent_[y]] + 1;
    }
  }

  const double* C_;
  std::size_t n_, m_;
  int nodes_, root_;
  double big_m_ = 0.0, tol_ = 0.0;
  std::size_t block_ = 1;
  std::size_t cur_i_ = 0, cur_j_ = 0;
  std::size_t pivots_ = 0;
  std::vector<int> parent_, depth_, thread_, rev_thread_;
  std::vector<double> flow_, pi_;
  std::vector<int> path_, end_, order_;
};

std::size_t default_pivot_cap(std::size_t n, std::size_t m) {
  const std::size_t nodes = n + m;
  std::size_t lg = 1;
  while ((std::size_t(1) << lg) < nodes) ++lg;
  return 50 * nodes * lg + 100000;
}

TransportResult solve(const double* costs, std::size_t n, std::size_t m, const double* wa,
                      const double* wb, double max_cost, std::size_t max_pivots) {
  TransportResult r;
  if (max_pivots == 0) max_pivots = default_pivot_cap(n, m);
  TransportSimplex simplex(costs, n, m, wa, wb, max_cost);
  r.converged = simplex.run(max_pivots);
  double artificial = 0.0;
  r.cost = simplex.cost(&artificial);
  r.iterations = static_cast<int>(std::min<std::size_t>(simplex.pivots(), INT32_MAX));
  r.marginal_error = 0.0;
  if (r.converged && !(artificial <= 1e-9))
    throw CoreError("INTERNAL", "wasserstein_exact: optimal basis still routes mass " +
                                    std::to_string(artificial) + " through the artificial root");
  return r;
}

}  // namespace

TransportResult wasserstein_exact(const TransportProblem& problem, int threads,
                                  std::size_t max_pivots) {
  detail::PreparedTransport p = detail::prepare_transport(problem, threads, "wasserstein_exact");
  return solve(p.costs.get(), p.n, p.m, p.wa.data(), p.wb.data(), p.max_cost, max_pivots);
}

TransportResult transport_exact_from_costs(const double* costs, std::size_t n, std::size_t m,
                                           const double* wa, const double* wb,
                                           std::size_t max_pivots) {
  const char* solver = "transport_exact_from_costs";
  if (n == 0) throw invalid_argument("transport_exact_from_costs: parameter 'n' must be >= 1, received 0");
  if (m == 0) throw invalid_argument("transport_exact_from_costs: parameter 'm' must be >= 1, received 0");
  if (n > (std::size_t(1) << 28) || m > (std::size_t(1) << 28) || n * m > (std::size_t(1) << 28))
    throw invalid_argument("transport_exact_from_costs: n·m must be <= 2^28, received n = " +
                           std::to_string(n) + ", m = " + std::to_string(m));
  if (costs == nullptr)
    throw invalid_argument("transport_exact_from_costs: parameter 'costs' must point to n·m values, received a null pointer");
  double max_abs = 0.0;
  for (std::size_t k = 0; k < n * m; ++k) {
    if (!std::isfinite(costs[k]))
      throw invalid_argument("transport_exact_from_costs: parameter 'costs' must be finite, received " +
                             std::to_string(costs[k]) + " at row " + std::to_string(k / m) +
                             ", column " + std::to_string(k % m));
    max_abs = std::max(max_abs, std::fabs(costs[k]));
  }
  // The big-M start needs 2·max|C|·(n+m+1) with headroom to stay finite.
  if (!std::isfinite(max_abs * static_cast<double>(n + m + 1) * 1e3))
    throw invalid_argument("transport_exact_from_costs: parameter 'costs' holds values too large "
                           "to solve in float64 (max |cost| " + std::to_string(max_abs) + ")");
  std::vector<double> a = detail::normalised_weights(wa, n, "wa", solver);
  std::vector<double> b = detail::normalised_weights(wb, m, "wb", solver);
  std::vector<std::size_t> rows, cols;
  for (std::size_t i = 0; i < n; ++i)
    if (a[i] > 0.0) rows.push_back(i);
  for (std::size_t j = 0; j < m; ++j)
    if (b[j] > 0.0) cols.push_back(j);
  if (rows.size() == n && cols.size() == m)
    return solve(costs, n, m, a.data(), b.data(), max_abs, max_pivots);
  // Zero-mass rows/columns: solve the compacted problem.
  std::vector<double> sub(rows.size() * cols.size()), ka, kb;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    ka.push_back(a[rows[r]]);
    for (std::size_t c = 0; c < cols.size(); ++c) sub[r * cols.size() + c] = costs[rows[r] * m + cols[c]];
  }
  for (std::size_t c : cols) kb.push_back(b[c]);
  return solve(sub.data(), rows.size(), cols.size(), ka.data(), kb.data(), max_abs, max_pivots);
}

}  // namespace p2sam::core
