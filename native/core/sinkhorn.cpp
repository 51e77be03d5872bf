// Entropic optimal transport (Sinkhorn) with float64 potentials and scalings.
//
// With eps = options.epsilon · mean(C), the entropic plan is
//   P_ij = exp((f_i + g_j - C_ij)/eps)
// for dual potentials f, g, and Sinkhorn alternates a row update (rows sum to a) and a
// column update (columns sum to b). Two representations of the same iteration are used:
//
// 1. Scaling ("kernel") domain, the fast path. Potentials (f̂, ĝ) are frozen into a
//    float32 kernel K_ij = exp((f̂_i + ĝ_j - C_ij)/eps) and the iteration runs on
//    scalings u, v with P = diag(u)·K·diag(v):
//      u_i = a_i / (K v)_i,   v_j = b_j / (Kᵀ u)_j.
//    An iteration is then two matrix-vector products instead of two passes of exp, and
//    both products share one sweep over K: a chunk of rows gives (K v)_i, hence u_i,
//    and is then added, scaled by u_i, into the column sums Kᵀu while it is still in
//    L2. The kernels work on four rows at a time so that each load of v and each
//    load/store of the column sums serves four rows.
//    Float32 K is enough: the costs are already float32, whose rounding perturbs the
//    kernel by |C|/eps·2^-24 relative, far more than K's own 2^-24.
//    Numerical safety comes from absorption (Schmitzer's stabilised scaling): whenever a
//    u_i or v_j leaves [e^-T, e^T] the scalings are folded into the potentials
//    (f̂ += eps·log u, ĝ += eps·log v) and K is rebuilt, so K is the current plan itself
//    (entries <= 1) and u = v = 1. Entries that underflow float32 then carry mass below
//    FLT_MIN·e^(2T) ≈ 3e-21 (T = 20), negligible next to any tolerance a caller can ask
//    for.
//    The start is the Hungarian-style reduction f̂_i = min_j C_ij, ĝ_j = min_i(C_ij - f̂_i),
//    which leaves an entry exactly 1 in every row and column of K, so no row or column
//    of the first kernel is all zeros however small eps is.
// 2. Log domain, the fallback: the same updates as log-sum-exps over C (a max
//    subtracted first, so nothing overflows). Used when the scaling path cannot stay
//    accurate: a row or column of a rebuilt kernel underflowed completely (extreme
//    weights or tiny eps), or the potentials move so fast that K would be rebuilt
//    nearly every iteration (tiny eps), where the log domain is cheaper.
//
// Over-relaxation. Plain Sinkhorn converges linearly with a rate θ² close to 1 at small
// eps (hundreds of iterations). The over-relaxed iteration
//   u ← u^(1-ω)·(a / K v)^ω,  v ← v^(1-ω)·(b / Kᵀu)^ω
// has the same fixed point; near it, the linearised iteration is SOR on a 2-cyclic
// system, so (Young's theory, applied to Sinkhorn by Lehmann, von Renesse, Sambale and
// Uschmajew, "A note on overrelaxation in the Sinkhorn algorithm", 2021) the choice
//   ω* = 2 / (1 + sqrt(1 - θ²))
// gives the rate ω* - 1. θ² is estimated from the observed error ratios of plain
// iterations once they settle; if the relaxed iteration stops making progress the
// solver returns to ω = 1, whose global convergence is guaranteed.
//
// eps-scaling. On clustered features (costs ≈ 0 within a cluster, 100-200·eps between
// clusters) the kernel at the requested eps is block-diagonal: mass that must cross
// between clusters rides on entries of e^-100 and below, which plain iterations raise
// only by a factor (1 + mismatch) per sweep, so they stall for thousands of sweeps. The
// solver therefore starts at a large eps (where every cluster is linked; chosen from the
// range of the reduced costs, see kStartRatio) and halves eps stage by stage down to the
// requested one; problems whose kernel is well linked at the requested eps skip this. Each stage starts
// from the previous stage's potentials (absorbed, so entries that carry mass are O(1) in
// the new kernel), extrapolated linearly in eps from the last two stages: on clustered
// data the potentials are nearly affine in eps (their entropic part is eps times the log
// of cluster sizes), so this lands close to the new stage's solution. Coarse stages stop
// at a loose tolerance or after a few dozen sweeps; only the last stage is run to the
// requested tolerance, and the last sweep of the budget always runs at the requested
// eps, so the plan returned is always of the documented form.
//
// Newton steps. Even from a good start the final stage can converge slowly when a
// cluster's surplus crosses through few entries: the error then falls by a factor
// close to 1 per sweep (the slow mode is a near-constant shift of one cluster's
// potentials). When the error falls less than 2x over kStallWindow sweeps, one Newton
// step is taken on the semi-dual F(v) = <b, log v> - <a, log(K v)> (concave): right
// after a plain row update its Hessian is -S with S = diag(c) - Pᵀ·diag(1/a)·P (c the
// column sums of P), a graph Laplacian whose smallest eigenvalues are exactly those
// slow modes. S y = b - c is solved by conjugate gradients (Jacobi-preconditioned by c;
// S·p costs one fused sweep, like an iteration), the step v ← v·e^(τy) is capped at
// kNewtonMaxStep in log scale and τ is backtracked until F rises by an Armijo fraction;
// a step that does not is dropped. Its sweeps count as iterations.
//
// Stopping rule and the reported result are those of plain Sinkhorn: the L1 distance
// between the column sums and b of the plan right after a plain (ω = 1) row update,
// whose rows are exact. With ω = 1 that number falls out of every sweep. With ω > 1
// the sweep's column sums belong to the relaxed row scalings, so when they fall below
// the tolerance the next sweep is done with ω = 1 to measure the error honestly (and
// relaxation resumes if it is not yet below). The final cost <P, C> is computed once,
// for the plan after the last row update.
//
// Determinism: the row sweep is split into blocks fixed by the problem size alone, each
// with its own column accumulator, merged in block order; so results do not depend on
// the number of threads.

// Layout of the implementation:
//   sinkhorn.cpp              this comment and the entry point (checks, cost matrix)
//   sinkhorn_scaling.*        the scaling-domain solver (stages, sweeps, Newton steps)
//   sinkhorn_relaxation.hpp   the choice of ω
//   sinkhorn_log_domain.*     the log-domain fallback
//   sinkhorn_kernels.*        the inner loops per ISA and their runtime dispatch
//   sinkhorn_vector_math.hpp  width-generic float64 SIMD (exp, log, loads, reductions)
//   thread_team.hpp           the persistent workers the sweeps run on
#include <cmath>
#include <limits>
#include <string>

#include "cost_matrix.hpp"
#include "errors.hpp"
#include "sinkhorn_log_domain.hpp"
#include "sinkhorn_scaling.hpp"
#include "wasserstein.hpp"

namespace p2sam::core {

TransportResult wasserstein_sinkhorn(const TransportProblem& problem, const SinkhornOptions& options, int threads) {
  const char* solver = "wasserstein_sinkhorn";
  if (!(options.epsilon > 0.0) || !std::isfinite(options.epsilon))
    throw invalid_argument(std::string(solver) + ": option 'epsilon' must be a finite number > 0, received " +
                           std::to_string(options.epsilon));
  if (options.max_iterations < 1)
    throw invalid_argument(std::string(solver) + ": option 'max_iterations' must be >= 1, received " +
                           std::to_string(options.max_iterations));
  if (!(options.tolerance >= 0.0) || !std::isfinite(options.tolerance))
    throw invalid_argument(std::string(solver) + ": option 'tolerance' must be a finite number >= 0, received " +
                           std::to_string(options.tolerance));
  detail::PreparedTransport p = detail::prepare_transport(problem, threads, solver, true);
  TransportResult result;
  if (p.max_cost == 0.0) {
    // Every pair of kept points coincides: any plan costs 0.
    result.cost = 0.0;
    result.converged = true;
    return result;
  }
  const double eps_final = options.epsilon * p.mean_cost;
  if (!(eps_final >= std::numeric_limits<double>::min()))
    throw invalid_argument(std::string(solver) +
                           ": option 'epsilon' is too small for this cost scale (epsilon·mean "
                           "cost underflows float64)");
  const sinkhorn_detail::Problem pr{p.n,
                                    p.m,
                                    p.costs_f32.get(),
                                    p.wa.data(),
                                    p.wb.data(),
                                    eps_final,
                                    1.0 / eps_final,
                                    options.max_iterations,
                                    options.tolerance};
  sinkhorn_detail::ScalingSolver scaling(pr, threads);
  return scaling.solve();
}

}  // namespace p2sam::core
