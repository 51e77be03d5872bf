// The scaling-domain Sinkhorn solver (the fast path): float32 kernel, row-blocked
// sweeps on a persistent thread team, over-relaxation, eps-scaling stages and Newton
// steps, with a hand-over to the log domain when the kernel cannot stay accurate. The
// maths of each piece is in the comment at the top of sinkhorn.cpp; this class holds
// the state they share (potentials, scalings, kernel, per-block column sums) so each
// piece is one method.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "sinkhorn_kernels.hpp"
#include "sinkhorn_log_domain.hpp"
#include "sinkhorn_relaxation.hpp"
#include "thread_team.hpp"
#include "wasserstein.hpp"

namespace p2sam::core::sinkhorn_detail {

class ScalingSolver {
 public:
  // pr.eps is the requested (final) eps; threads <= 0: all hardware threads.
  ScalingSolver(const Problem& pr, int threads);
  ScalingSolver(const ScalingSolver&) = delete;
  ScalingSolver& operator=(const ScalingSolver&) = delete;

  TransportResult solve();

 private:
  // Runs fn(blk, r0, r1) for every row block [r0, r1) on the team; block blk goes to
  // worker blk % workers, whatever the thread count (determinism).
  template <typename Fn>
  void for_each_block(Fn&& fn) {
    auto job = [&](int w) {
      for (std::size_t blk = static_cast<std::size_t>(w); blk < blocks_; blk += workers_) {
        fn(blk, blk * n_ / blocks_, (blk + 1) * n_ / blocks_);
      }
    };
    team_.run(job);
  }

  void reduction_start();
  double max_reduced_cost();
  void rebuild();
  void absorb_scalings();
  void enter_stage(int k);
  // One fused sweep at relaxation omega: row update u from K v, column sums Kᵀu per
  // block. Returns false when a row or column of K underflowed entirely.
  bool sweep(double omega, bool& absorb);
  void schur(const std::vector<double>& pin, std::vector<double>& out, const std::vector<double>& cfull);
  double semidual(const std::vector<double>& vv);
  int newton_step();
  TransportResult finish_in_log_domain();
  TransportResult plan_result();

  const SinkhornKernels& K_;
  const Problem& pr_;
  const int threads_;
  const std::size_t n_, m_;
  const float* const C_;
  const double* const a_;
  const double* const b_;
  const std::size_t blocks_;
  ThreadTeam team_;
  const std::size_t workers_;
  const std::size_t chunk_;

  // Potentials frozen in the kernel, the kernel, scalings, per-block column sums.
  std::vector<double> fh_, gh_, u_, v_, u_prev_, s_;
  std::unique_ptr<float[]> kmat_;
  std::vector<double> acc_, colsum_;
  std::vector<char> block_flag_;

  // Stages (eps-scaling) and the iteration state.
  std::vector<double> schedule_;
  int final_stage_ = 0, stage_ = -1, stage_start_ = 0;
  double eps_ = 0.0, inv_eps_ = 0.0;
  std::vector<double> f_prev_, g_prev_;  // potentials at the end of the stage before
  double eps_prev_ = 0.0;
  std::vector<double> err_hist_;  // errors of this stage's sweeps since the last Newton step
  Relaxation relaxation_;
  int it_ = 0, rebuilds_ = 0, last_rebuild_ = 0;
  double err_;
  bool verify_next_ = false;  // a relaxed sweep looked converged: next one is plain, to measure

  // Newton scratch.
  std::vector<double> ny_, nr_, nz_, np_, nq_, nvp_, nw_, ncol_, nv_, ns_;
};

}  // namespace p2sam::core::sinkhorn_detail
