// Dense squared-Euclidean cost matrices for optimal transport (docs/algorithm.md §2.8.4).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace p2sam::core {

// out[i*m + j] = ||a_i - b_j||², a: n×d, b: m×d row-major float32, out: n×m float64.
//
// Evaluated as ||a_i||² + ||b_j||² - 2·a_i·b_j entirely in float64 (a product of two
// float32 values is exact in float64, so the only error is float64 summation, about
// d·2^-53 relative to ||a_i||²+||b_j||²), clamped at 0. Threads split rows; on x86-64
// with GCC an AVX2/FMA or AVX-512 kernel is chosen at run time when the CPU has it,
// the portable kernel needs only SSE2. Inputs are trusted (validated by callers).
void squared_euclidean_costs(const float* a, std::size_t n, const float* b, std::size_t m, std::size_t d, double* out,
                             int threads);

}  // namespace p2sam::core

// ---- Shared input preparation for the transport solvers (wasserstein.hpp) ----------

namespace p2sam::core {

struct TransportProblem;

namespace detail {

// A validated problem with weights normalised to sum 1 in float64 and zero-weight
// points removed (they carry no mass, so the optimum and every plan cost ignore them).
struct PreparedTransport {
  std::size_t n = 0, m = 0;                // kept points
  std::vector<double> wa, wb;              // n and m weights, all > 0, each sums to 1
  std::unique_ptr<double[]> costs;         // n×m squared distances (float64), or
  std::unique_ptr<float[]> costs_f32;      // the same rounded to float32 (single_precision)
  double max_cost = 0.0, mean_cost = 0.0;  // over the kept n×m entries
};

// Throws CoreError("INVALID_ARGUMENT") naming the offending parameter (`solver` is the
// public function name used as the message prefix). Largest accepted n·m: 2^28.
// single_precision stores the (float64-computed) costs as float32 in costs_f32.
PreparedTransport prepare_transport(const TransportProblem& problem, int threads, const char* solver,
                                    bool single_precision = false);

// Checks and normalises a weight vector in float64; nullptr means uniform. `name` is
// the parameter name for messages. Returns the weights divided by their sum.
std::vector<double> normalised_weights(const double* w, std::size_t count, const char* name, const char* solver);

}  // namespace detail
}  // namespace p2sam::core
