// The Sinkhorn solver's inner loops as a table of function pointers, filled once per
// process with the widest implementation the CPU runs (AVX-512, AVX2+FMA, or the
// portable SSE2 baseline); see sinkhorn_kernels.cpp. A given ISA always gives the same
// bits: every reduction has a fixed lane and accumulator order.
#pragma once

#include <cstddef>

namespace p2sam::core::sinkhorn_detail {

struct SinkhornKernels {
  double (*row_sum)(const float*, const double*, std::size_t, double, double);
  double (*row_max)(const float*, const double*, std::size_t);
  double (*row_max_excess)(const float*, const double*, std::size_t);
  void (*col_sum)(const float*, double, const double*, double*, std::size_t, double);
  void (*col_max)(const float*, double, double*, std::size_t);
  double (*row_cost)(const float*, const double*, std::size_t, double, double);
  void (*kernel_row)(const float*, double, const double*, float*, std::size_t, double);
  double (*dot)(const float*, const double*, std::size_t);
  void (*axpy)(const float*, double, double*, std::size_t);
  double (*dot_cost)(const float*, const float*, const double*, std::size_t);
  void (*relax)(double*, const double*, const double*, std::size_t, double, double&, double&);
  double (*merge)(const double*, std::size_t, std::size_t, const double*, const double*, double*);
  // s[r] = K_r·v and acc += sum_r u_r·K_r over `rows` consecutive rows of K (row stride
  // m); filled in by pick_kernels with the widest implementation the CPU has.
  void (*dot_rows)(const float*, std::size_t, std::size_t, const double*, double*);
  void (*axpy_rows)(const float*, std::size_t, std::size_t, const double*, double*);
};

// The table for this CPU (chosen on first use, then shared by every solve).
const SinkhornKernels& sinkhorn_kernels();

}  // namespace p2sam::core::sinkhorn_detail
