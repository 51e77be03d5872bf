// The scaling-domain Sinkhorn solver; see sinkhorn_scaling.hpp and, for the maths, the
// comment at the top of sinkhorn.cpp.
#include "sinkhorn_scaling.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>

#include "cancel.hpp"
#include "parallel.hpp"

namespace p2sam::core::sinkhorn_detail {
namespace {

// Absorption threshold T: scalings outside [e^-T, e^T] are folded into the potentials.
// An entry flushed to 0 at a rebuild had mass < FLT_MIN then, and the scalings can raise
// it by e^(2T) at most before the next rebuild: < 3e-21 per entry, < 1e-13 in all even
// at 4096².
constexpr double kAbsorbHigh = 4.8e8, kAbsorbLow = 1.0 / 4.8e8;  // ≈ e^±20

// eps-scaling schedule (see the file comment). R is the largest reduced cost
// C_ij - f̂_i - ĝ_j of the start, so the first kernel's entries lie in [e^(-R/eps), 1].
// Up to R ≈ 80·eps the plain iteration converges in well under a hundred sweeps
// (256-d Gaussian clouds at the default eps: R ≈ 50-61·eps), so there is no coarse
// stage. Beyond it (clustered features: R ≈ 110-180·eps) the first stage has
// eps ≈ R/16, where every entry is >= e^-16 and every cluster linked, and each further
// stage halves eps, so the potentials carried over are within a few eps of the new
// stage's solution. (Measured on the bench's 25 testkit problems: starting at R/32
// needs up to 735 iterations in all, R/16 up to 467, coarser starts no fewer.)
constexpr double kScalingThreshold = 80.0;
constexpr double kStartRatio = 16.0;
constexpr double kStageFactor = 0.5;
// A coarse stage ends when its marginal error drops below this, or after this many
// iterations: only its potentials matter, as the next stage's starting point.
constexpr double kStageTolerance = 1e-3;
constexpr int kStageIterations = 50;
// Newton steps: taken when the error fell less than 2x over kStallWindow sweeps; at most
// kCgMax conjugate-gradient products each, stopped at a kCgTolerance relative residual;
// a step moves no potential by more than kNewtonMaxStep·eps (the line search then
// decides how much of it to take).
constexpr int kStallWindow = 4;
constexpr int kCgMax = 50;
constexpr double kCgTolerance = 1e-3;
constexpr double kNewtonMaxStep = 8.0;

// eps of every stage, coarse to fine, ending at eps_final exactly: eps_final·2^k for
// k = K..0, K the smallest with eps_final·2^K >= R / kStartRatio.
std::vector<double> epsilon_schedule(double eps_final, double max_reduced) {
  int stages = 0;
  if (max_reduced > kScalingThreshold * eps_final) {
    const double start = max_reduced / kStartRatio;
    while (stages < 60 && eps_final * std::pow(1.0 / kStageFactor, stages) < start) ++stages;
  }
  std::vector<double> out;
  for (int k = stages; k >= 1; --k) out.push_back(eps_final * std::pow(1.0 / kStageFactor, k));
  out.push_back(eps_final);
  return out;
}

// Row blocks: fixed by the size alone (determinism), at least 2^17 entries each so a
// block is worth a thread (a sweep over less takes tens of microseconds, comparable to
// waking a thread on a busy machine), at most 16 (the merge costs blocks·m per sweep), an
// even count when there are several so two threads get equal shares.
std::size_t row_blocks(std::size_t n, std::size_t m) {
  const std::size_t entries = n * m;
  std::size_t blocks = std::max<std::size_t>(1, std::min<std::size_t>({n, 16, entries >> 17}));
  if (blocks > 2) blocks &= ~std::size_t(1);
  return blocks;
}

int team_size(std::size_t blocks, int threads) {
  const int hw = threads <= 0 ? default_thread_count() : threads;
  return static_cast<int>(std::min<std::size_t>(blocks, static_cast<std::size_t>(hw)));
}

}  // namespace

ScalingSolver::ScalingSolver(const Problem& pr, int threads)
    : K_(sinkhorn_kernels()),
      pr_(pr),
      threads_(threads),
      n_(pr.n),
      m_(pr.m),
      C_(pr.C),
      a_(pr.wa),
      b_(pr.wb),
      blocks_(row_blocks(pr.n, pr.m)),
      team_(team_size(blocks_, threads)),
      workers_(static_cast<std::size_t>(team_.size())),
      // Rows per chunk of the sweep: about 256 KiB of K, which stays in L2 between the
      // two uses.
      chunk_(std::max<std::size_t>(1, (std::size_t(1) << 16) / pr.m)),
      fh_(n_),
      gh_(m_, 0.0),
      u_(n_, 1.0),
      v_(m_, 1.0),
      u_prev_(n_),
      s_(n_),
      kmat_(new float[n_ * m_]),
      acc_(blocks_ * m_),
      colsum_(m_),
      block_flag_(blocks_),
      err_(std::numeric_limits<double>::infinity()),
      ny_(m_),
      nr_(m_),
      nz_(m_),
      np_(m_),
      nq_(m_),
      nvp_(m_),
      nw_(n_),
      ncol_(m_),
      nv_(m_),
      ns_(n_) {}

// Reduction start: f̂_i = min_j C_ij, ĝ_j = min_i (C_ij - f̂_i).
void ScalingSolver::reduction_start() {
  for_each_block([&](std::size_t, std::size_t r0, std::size_t r1) {
    for (std::size_t i = r0; i < r1; ++i) fh_[i] = -K_.row_max(C_ + i * m_, nullptr, m_);
  });
  // Column minima via per-block maxima of (f̂_i - C_ij), merged in block order.
  std::fill(acc_.begin(), acc_.end(), -std::numeric_limits<double>::infinity());
  for_each_block([&](std::size_t blk, std::size_t r0, std::size_t r1) {
    for (std::size_t i = r0; i < r1; ++i) K_.col_max(C_ + i * m_, fh_[i], acc_.data() + blk * m_, m_);
  });
  for (std::size_t j = 0; j < m_; ++j) {
    double mx = acc_[j];
    for (std::size_t blk = 1; blk < blocks_; ++blk) mx = std::max(mx, acc_[blk * m_ + j]);
    gh_[j] = -mx;
  }
}

// Largest reduced cost C_ij - f̂_i - ĝ_j of the start (the schedule's R); a max, so
// exact whatever the blocks' order.
double ScalingSolver::max_reduced_cost() {
  std::vector<double> block_max(blocks_, 0.0);
  for_each_block([&](std::size_t blk, std::size_t r0, std::size_t r1) {
    double mx = 0.0;
    for (std::size_t i = r0; i < r1; ++i) mx = std::max(mx, K_.row_max_excess(C_ + i * m_, gh_.data(), m_) - fh_[i]);
    block_max[blk] = mx;
  });
  double max_reduced = 0.0;
  for (double x : block_max) max_reduced = std::max(max_reduced, x);
  return max_reduced;
}

// The kernel for the current potentials at the current stage's eps.
void ScalingSolver::rebuild() {
  for_each_block([&](std::size_t, std::size_t r0, std::size_t r1) {
    for (std::size_t i = r0; i < r1; ++i)
      K_.kernel_row(C_ + i * m_, fh_[i], gh_.data(), kmat_.get() + i * m_, m_, inv_eps_);
  });
}

// Folds the scalings into the potentials: the plan is unchanged, u = v = 1.
void ScalingSolver::absorb_scalings() {
  for (std::size_t i = 0; i < n_; ++i) {
    fh_[i] += eps_ * std::log(u_[i]);
    u_[i] = 1.0;
  }
  for (std::size_t j = 0; j < m_; ++j) {
    gh_[j] += eps_ * std::log(v_[j]);
    v_[j] = 1.0;
  }
}

// Enters stage k: the current plan's potentials carry over (absorbed, then
// extrapolated in eps), the kernel is rebuilt at the stage's eps, and the relaxation
// starts afresh (its rate estimate belongs to the previous eps).
void ScalingSolver::enter_stage(int k) {
  if (stage_ >= 0) {
    absorb_scalings();
    const double eps_next = schedule_[static_cast<std::size_t>(k)];
    const bool geometric = k == stage_ + 1;
    if (geometric && !f_prev_.empty()) {
      const double t = (eps_next - eps_) / (eps_ - eps_prev_);
      std::vector<double> fc = fh_, gc = gh_;
      for (std::size_t i = 0; i < n_; ++i) fh_[i] += t * (fh_[i] - f_prev_[i]);
      for (std::size_t j = 0; j < m_; ++j) gh_[j] += t * (gh_[j] - g_prev_[j]);
      f_prev_ = std::move(fc);
      g_prev_ = std::move(gc);
    } else {
      f_prev_ = fh_;
      g_prev_ = gh_;
    }
    eps_prev_ = eps_;
    // No entry of the new kernel may exceed 1 (float32 overflow at a much smaller
    // eps): lower each row's potential to at most its c-transform bound.
    for_each_block([&](std::size_t, std::size_t r0, std::size_t r1) {
      for (std::size_t i = r0; i < r1; ++i) fh_[i] = std::min(fh_[i], -K_.row_max(C_ + i * m_, gh_.data(), m_));
    });
  }
  stage_ = k;
  eps_ = schedule_[static_cast<std::size_t>(k)];
  inv_eps_ = 1.0 / eps_;
  rebuild();
  relaxation_ = Relaxation{};
  err_hist_.clear();
  rebuilds_ = 0;
  last_rebuild_ = it_;
  stage_start_ = it_;
  verify_next_ = false;
}

// ---- Newton steps on the semi-dual (see the file comment of sinkhorn.cpp) ----

// q = S·p with S = diag(c) - Pᵀ·diag(1/a)·P, c the column sums of the current plan:
// one fused sweep (row dots with v∘p, then the rows weighted by u²·dot/a summed).
void ScalingSolver::schur(const std::vector<double>& pin, std::vector<double>& out, const std::vector<double>& cfull) {
  for (std::size_t j = 0; j < m_; ++j) nvp_[j] = v_[j] * pin[j];
  for_each_block([&](std::size_t blk, std::size_t r0, std::size_t r1) {
    double* ab = acc_.data() + blk * m_;
    std::fill(ab, ab + m_, 0.0);
    for (std::size_t c0 = r0; c0 < r1; c0 += chunk_) {
      const std::size_t c1 = std::min(r1, c0 + chunk_);
      K_.dot_rows(kmat_.get() + c0 * m_, c1 - c0, m_, nvp_.data(), nw_.data() + c0);
      for (std::size_t i = c0; i < c1; ++i) nw_[i] *= u_[i] * u_[i] / a_[i];
      K_.axpy_rows(kmat_.get() + c0 * m_, c1 - c0, m_, nw_.data() + c0, ab);
    }
  });
  K_.merge(acc_.data(), blocks_, m_, v_.data(), b_, out.data());
  for (std::size_t j = 0; j < m_; ++j) out[j] = cfull[j] * pin[j] - v_[j] * out[j];
}

// sum_j b_j log v_j - sum_i a_i log (K v)_i for the scalings in vv (the semi-dual
// objective / eps up to a constant); fills ns with K·vv. -inf when a row vanishes.
double ScalingSolver::semidual(const std::vector<double>& vv) {
  for_each_block([&](std::size_t, std::size_t r0, std::size_t r1) {
    for (std::size_t c0 = r0; c0 < r1; c0 += chunk_) {
      const std::size_t c1 = std::min(r1, c0 + chunk_);
      K_.dot_rows(kmat_.get() + c0 * m_, c1 - c0, m_, vv.data(), ns_.data() + c0);
    }
  });
  double F = 0.0;
  for (std::size_t j = 0; j < m_; ++j) F += b_[j] * std::log(vv[j]);
  for (std::size_t i = 0; i < n_; ++i) {
    if (!(ns_[i] > 0.0)) return -std::numeric_limits<double>::infinity();
    F -= a_[i] * std::log(ns_[i]);
  }
  return F;
}

// One damped Newton step on v after a plain row update (rows exact, colsum = Kᵀu).
// Returns the sweeps it used; v is changed only if the step raised the objective.
int ScalingSolver::newton_step() {
  const std::size_t m = m_;
  const double* b = b_;
  int used = 0;
  for (std::size_t j = 0; j < m; ++j) {
    ncol_[j] = v_[j] * colsum_[j];
    nr_[j] = b[j] - ncol_[j];
    ny_[j] = 0.0;
  }
  double rhs1 = 0.0;
  for (std::size_t j = 0; j < m; ++j) rhs1 += std::fabs(nr_[j]);
  for (std::size_t j = 0; j < m; ++j) np_[j] = nz_[j] = nr_[j] / ncol_[j];
  double rz = 0.0;
  for (std::size_t j = 0; j < m; ++j) rz += nr_[j] * nz_[j];
  for (int k = 0; k < kCgMax; ++k) {
    schur(np_, nq_, ncol_);
    ++used;
    double pq = 0.0;
    for (std::size_t j = 0; j < m; ++j) pq += np_[j] * nq_[j];
    if (!(pq > 0.0)) break;
    const double alpha = rz / pq;
    double r1 = 0.0;
    for (std::size_t j = 0; j < m; ++j) {
      ny_[j] += alpha * np_[j];
      nr_[j] -= alpha * nq_[j];
      r1 += std::fabs(nr_[j]);
    }
    if (r1 < kCgTolerance * rhs1) break;
    double rz2 = 0.0;
    for (std::size_t j = 0; j < m; ++j) {
      nz_[j] = nr_[j] / ncol_[j];
      rz2 += nr_[j] * nz_[j];
    }
    const double beta = rz2 / rz;
    rz = rz2;
    for (std::size_t j = 0; j < m; ++j) np_[j] = nz_[j] + beta * np_[j];
  }
  double ylo = ny_[0], yhi = ny_[0], slope = 0.0;
  for (std::size_t j = 0; j < m; ++j) {
    ylo = std::min(ylo, ny_[j]);
    yhi = std::max(yhi, ny_[j]);
    slope += (b[j] - ncol_[j]) * ny_[j];
  }
  if (!(slope > 0.0)) return used;
  double tau = std::min(1.0, 2.0 * kNewtonMaxStep / std::max(yhi - ylo, 1e-300));
  const double F0 = semidual(v_);
  ++used;
  if (!std::isfinite(F0)) return used;
  for (int tries = 0; tries < 6; ++tries, tau *= 0.25) {
    for (std::size_t j = 0; j < m; ++j) nv_[j] = v_[j] * std::exp(tau * ny_[j]);
    const double F1 = semidual(nv_);
    ++used;
    if (F1 >= F0 + 0.1 * tau * slope) {
      v_.swap(nv_);
      return used;
    }
  }
  return used;
}

// Row update from (K v), then the rows' contribution to the column sums Kᵀu, chunk by
// chunk so a chunk of K is still in cache for its second use.
bool ScalingSolver::sweep(double omega, bool& absorb) {
  for_each_block([&](std::size_t blk, std::size_t r0, std::size_t r1) {
    double* ab = acc_.data() + blk * m_;
    std::fill(ab, ab + m_, 0.0);
    bool ok = true, in_range = true;
    for (std::size_t c0 = r0; c0 < r1 && ok; c0 += chunk_) {
      const std::size_t c1 = std::min(r1, c0 + chunk_);
      K_.dot_rows(kmat_.get() + c0 * m_, c1 - c0, m_, v_.data(), s_.data() + c0);
      // A row of K that underflowed entirely: the kernel cannot be used.
      for (std::size_t i = c0; i < c1; ++i) ok &= s_[i] > 0.0 && s_[i] < std::numeric_limits<double>::infinity();
      if (!ok) break;
      double lo, hi;
      K_.relax(u_.data() + c0, a_ + c0, s_.data() + c0, c1 - c0, omega, lo, hi);
      in_range &= lo > kAbsorbLow && hi < kAbsorbHigh;
      K_.axpy_rows(kmat_.get() + c0 * m_, c1 - c0, m_, u_.data() + c0, ab);
    }
    block_flag_[blk] = !ok ? 2 : (in_range ? 0 : 1);
  });
  bool bad = false;
  absorb = false;
  for (std::size_t blk = 0; blk < blocks_; ++blk) {
    bad |= block_flag_[blk] == 2;
    absorb |= block_flag_[blk] == 1;
  }
  if (!bad) {
    err_ = K_.merge(acc_.data(), blocks_, m_, v_.data(), b_, colsum_.data());
    // A column of K that underflowed entirely shows as a zero column sum.
    bad = !std::isfinite(err_) || *std::min_element(colsum_.begin(), colsum_.end()) <= 0.0;
  }
  return !bad;
}

TransportResult ScalingSolver::solve() {
  reduction_start();
  schedule_ = epsilon_schedule(pr_.eps, max_reduced_cost());
  final_stage_ = static_cast<int>(schedule_.size()) - 1;
  // With a budget of one iteration there is no room for a coarse stage: the one plan
  // returned must be at the requested eps.
  enter_stage(pr_.max_iterations <= 1 ? final_stage_ : 0);

  bool newton_next = false;
  for (;;) {
    throw_if_cancelled();  // an aborted call stops between sweeps
    ++it_;
    const bool at_final = stage_ == final_stage_;
    const bool last = it_ >= pr_.max_iterations;
    const bool checking = at_final && (verify_next_ || last);
    const bool newton_now = newton_next;
    newton_next = false;
    const double omega = checking || newton_now ? 1.0 : relaxation_.omega();
    u_prev_ = u_;
    bool absorb = false;
    if (!sweep(omega, absorb)) {
      // Continue in the log domain from the state before this sweep.
      u_ = u_prev_;
      --it_;
      return finish_in_log_domain();
    }
    relaxation_.observe(err_, omega);
    if (checking && (err_ < pr_.tolerance || last)) break;
    verify_next_ = at_final && !checking && err_ < pr_.tolerance;
    // A coarse stage ends at its loose tolerance or its share of the iterations; and
    // the last iteration of the budget always runs at the requested eps, so the plan
    // returned is of the documented form.
    int next_stage = stage_;
    if (!at_final) {
      if (it_ + 1 >= pr_.max_iterations)
        next_stage = final_stage_;
      else if (err_ < kStageTolerance || it_ - stage_start_ >= kStageIterations)
        next_stage = stage_ + 1;
    }
    double vlo, vhi;
    if (newton_now && !verify_next_ && next_stage == stage_) {
      it_ += newton_step();
      relaxation_ = Relaxation{};
      err_hist_.clear();
      vlo = *std::min_element(v_.begin(), v_.end());
      vhi = *std::max_element(v_.begin(), v_.end());
    } else {
      const double omega_v = verify_next_ ? 1.0 : relaxation_.omega();
      K_.relax(v_.data(), b_, colsum_.data(), m_, omega_v, vlo, vhi);
    }
    absorb |= !(vlo > kAbsorbLow && vhi < kAbsorbHigh);
    // Stalled: the error fell less than 2x over the last kStallWindow sweeps of this
    // stage since the last Newton step (which must fit in the budget, with room after).
    err_hist_.push_back(err_);
    const std::size_t window = static_cast<std::size_t>(kStallWindow);
    if (!verify_next_ && next_stage == stage_ && err_hist_.size() > window && it_ + kCgMax + 10 < pr_.max_iterations &&
        err_ > 0.5 * err_hist_[err_hist_.size() - 1 - window])
      newton_next = true;
    if (next_stage != stage_) {
      enter_stage(next_stage);
    } else if (absorb) {
      // Potentials move by more than ~30·eps per iteration: tiny eps, where rebuilding
      // K every sweep would cost as much as the log domain; switch to it.
      if (rebuilds_ >= 4 && it_ - last_rebuild_ <= 2) return finish_in_log_domain();
      absorb_scalings();
      rebuild();
      ++rebuilds_;
      last_rebuild_ = it_;
    }
  }
  return plan_result();
}

// The log domain finishes at the requested eps from the current potentials (those of a
// coarser stage are a warm start there too).
TransportResult ScalingSolver::finish_in_log_domain() {
  std::vector<double> f(n_), g(m_);
  for (std::size_t i = 0; i < n_; ++i) f[i] = fh_[i] + eps_ * std::log(u_[i]);
  for (std::size_t j = 0; j < m_; ++j) g[j] = gh_[j] + eps_ * std::log(v_[j]);
  return log_domain(pr_, std::move(f), std::move(g), it_, threads_);
}

// <P, C> for P = diag(u)·K·diag(v), rows summed in order (thread-independent).
TransportResult ScalingSolver::plan_result() {
  for_each_block([&](std::size_t, std::size_t r0, std::size_t r1) {
    for (std::size_t i = r0; i < r1; ++i) s_[i] = u_[i] * K_.dot_cost(kmat_.get() + i * m_, C_ + i * m_, v_.data(), m_);
  });
  double cost = 0.0;
  for (std::size_t i = 0; i < n_; ++i) cost += s_[i];
  TransportResult result;
  result.cost = cost;
  result.converged = err_ < pr_.tolerance;
  result.iterations = it_;
  result.marginal_error = err_;
  return result;
}

}  // namespace p2sam::core::sinkhorn_detail
