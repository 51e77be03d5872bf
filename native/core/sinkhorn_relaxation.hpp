// Over-relaxation control of the Sinkhorn solver: picks ω from the observed error
// ratios and falls back to ω = 1 when relaxed sweeps stop making progress (see the
// "Over-relaxation" paragraph at the top of sinkhorn.cpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

namespace p2sam::core::sinkhorn_detail {

// Chooses ω from the observed convergence (see the file comment). For SOR on a 2-cyclic
// system with Gauss-Seidel rate θ² (plain Sinkhorn's), the rate λ observed under a
// relaxation ω <= ω* satisfies Young's relation (λ + ω - 1)² = λ·ω²·θ², so θ² can be
// re-estimated under relaxation too: θ² = (λ + ω - 1)² / (λ·ω²). Sinkhorn is only
// asymptotically linear (its rate creeps up as the plan settles), so ω is re-derived
// whenever the observed rate has been steady for a few sweeps.
//
// Far from the solution (small eps: a long transient where the error barely moves) a
// steady ratio near 1 can be mistaken for slow linear convergence, and the relaxed
// iteration may then diverge. So relaxed progress is watched: the error may oscillate
// (complex eigenvalues at ω near ω*), but its envelope, the maximum over a segment of
// sweeps, must shrink from segment to segment, and it must never grow far beyond the
// error at which relaxation began. On failure ω returns to 1 and later estimates are
// capped halfway between 1 and the failed ω (but not below 1.5); after a few failures
// relaxation stays off until plain sweeps have reduced the error 100-fold.
class Relaxation {
 public:
  double omega() const { return omega_; }

  // Called with the error of every sweep and the ω its row update used.
  void observe(double err, double omega_used) {
    if (!(err > 0.0)) return;
    if (given_up_) {
      // Plain sweeps got 100x further than where relaxation last failed: the transient
      // is over, try again (within the cap).
      if (!(err < 1e-2 * fail_err_)) return;
      given_up_ = false;
      failures_ = 0;
      last_ = 0.0;
      count_ = 0;
    }
    if (omega_used != omega_) {
      // A plain verification sweep amid relaxed ones: its error is not on the same
      // trajectory, so restart the rate window after it.
      last_ = 0.0;
      count_ = 0;
      return;
    }
    if (omega_ > 1.0 && !progressing(err)) {
      ++failures_;
      fail_err_ = err;
      cap_ = std::max(1.0 + 0.5 * (omega_ - 1.0), 1.5);
      omega_ = 1.0;
      last_ = 0.0;
      count_ = 0;
      given_up_ = failures_ >= kMaxFailures;
      return;
    }
    if (last_ > 0.0) {
      ratios_[count_ % kWindow] = err / last_;
      ++count_;
    }
    last_ = err;
    if (count_ < kWindow) return;
    double lo = ratios_[0], hi = ratios_[0], logsum = 0.0;
    for (double r : ratios_) {
      lo = std::min(lo, r);
      hi = std::max(hi, r);
      logsum += std::log(r);
    }
    // Steady: the last ratios agree to within 2% (an oscillating error, the sign of
    // ω >= ω*, never is).
    if (!(hi < 1.0) || hi - lo > 0.02 * hi) return;
    const double lambda = std::exp(logsum / kWindow);
    const double w = omega_;
    const double theta2 = std::min((lambda + w - 1.0) * (lambda + w - 1.0) / (lambda * w * w), 1.0 - 1e-9);
    const double target = std::min(2.0 / (1.0 + std::sqrt(1.0 - theta2)), cap_);
    if (target > omega_ + 1e-3) {
      if (omega_ == 1.0) {
        start_err_ = err;
        seg_prev_ = std::numeric_limits<double>::infinity();
        seg_cur_ = 0.0;
        seg_len_ = 0;
        strikes_ = 0;
      }
      omega_ = target;
      count_ = 0;
    }
  }

 private:
  bool progressing(double err) {
    if (!std::isfinite(err) || err > 10.0 * start_err_) return false;
    seg_cur_ = std::max(seg_cur_, err);
    if (++seg_len_ < kSegment) return true;
    strikes_ = seg_cur_ > 0.9 * seg_prev_ ? strikes_ + 1 : 0;
    seg_prev_ = seg_cur_;
    seg_cur_ = 0.0;
    seg_len_ = 0;
    return strikes_ < 2;
  }

  static constexpr int kWindow = 5;
  static constexpr int kSegment = 12;
  static constexpr int kMaxFailures = 4;
  double omega_ = 1.0, cap_ = 1.95;
  double ratios_[kWindow] = {};
  int count_ = 0;
  double last_ = 0.0;
  double start_err_ = 0.0, seg_prev_ = 0.0, seg_cur_ = 0.0, fail_err_ = 0.0;
  int seg_len_ = 0, strikes_ = 0, failures_ = 0;
  bool given_up_ = false;
};

}  // namespace p2sam::core::sinkhorn_detail
