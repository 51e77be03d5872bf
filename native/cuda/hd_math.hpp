// The arithmetic of the CUDA kernels, written once for the host and the device.
//
// Every function here is `P2SAM_HD`: __host__ __device__ under nvcc, a plain inline
// function under g++. The GPU kernels (native/cuda/*.cu) call them per thread; the
// CUDA-side host tests (native/cuda/tests/test_hd_math.cpp) run the very same functions
// on the host and compare them with the CPU core, so a change that breaks parity with
// the core fails on a machine without a GPU. The k-means restart is in hd_kmeans.hpp.
//
// Parity rules (why the code looks the way it does):
//  * float32 products and sums go through f_mul/f_add: on the device these are the
//    __fmul_rn/__fadd_rn intrinsics, which nvcc never contracts into an FMA. The CPU core
//    is built for x86-64-v2 (no FMA instruction), so its a*b+c is two roundings; an FMA
//    on the GPU would round once and drift from the core's maps and distances.
//  * Float64 products of two float32 values are exact, so a float64 FMA of such a product
//    equals the separate multiply-add: no intrinsic is needed there.
//  * The order of every sum matches the core's (k-means' 8 lanes, the channel order of
//    the similarity maps, PyTorch's bilinear expressions), which makes the GPU's labels,
//    maps and points bit-identical to the CPU's, not merely close.
#pragma once

#include <cfloat>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "host_device.hpp"

namespace p2sam::cuda::hd {

// ------------------------------------------------------------------ rounding helpers
P2SAM_HD inline float f_mul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
P2SAM_HD inline float f_add(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
P2SAM_HD inline float f_sub(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
P2SAM_HD inline double d_sqrt(double x) {
#if defined(__CUDA_ARCH__)
  return ::sqrt(x);
#else
  return std::sqrt(x);
#endif
}
P2SAM_HD inline double d_exp(double x) {
#if defined(__CUDA_ARCH__)
  return ::exp(x);
#else
  return std::exp(x);
#endif
}
P2SAM_HD inline double d_log(double x) {
#if defined(__CUDA_ARCH__)
  return ::log(x);
#else
  return std::log(x);
#endif
}
P2SAM_HD inline bool d_isfinite(double x) { return x - x == 0.0; }  // false for inf and NaN

// ------------------------------------------------------------------ similarity maps
// Cell normalisation of the target embedding: norm² accumulated in float64 over the
// 256 channels in order (returned as float64 so the caller can reject a non-finite sum
// exactly where the core does), then rounded to float32, and each value divided in
// float32 (a zero norm leaves the cell zero). `plane` is the channel stride (4096).
P2SAM_HD inline double cell_norm_sq(const float* embedding, int cell, int channels, int plane) {
  double acc = 0.0;
  for (int c = 0; c < channels; ++c) {
    const double v = static_cast<double>(embedding[static_cast<std::size_t>(c) * plane + cell]);
    acc += v * v;
  }
  return acc;
}
P2SAM_HD inline float cell_norm_from_sq(double acc) { return static_cast<float>(d_sqrt(acc)); }
P2SAM_HD inline float normalised_value(float v, float norm) { return norm > 0.0f ? v / norm : 0.0f; }

// One cell of a raw 64×64 similarity map: prototype · normalised features, float32,
// channels in order (the core's channel-outer accumulation yields this per-cell order).
P2SAM_HD inline float similarity_cell(const float* target_normalized, const float* prototype, int cell, int channels,
                                      int plane) {
  float s = 0.0f;
  for (int c = 0; c < channels; ++c)
    s = f_add(s, f_mul(prototype[c], target_normalized[static_cast<std::size_t>(c) * plane + cell]));
  return s;
}

// One tap pair of PyTorch's bilinear resize (align_corners = false, no antialias) for
// output index `d` of an in_size -> out_size axis: out = in[i0]*w0 + in[i1]*w1.
// Ratio and source index are float32 as in PyTorch's kernel; equal sizes copy.
struct Tap {
  int i0, i1;
  float w0, w1;
};
P2SAM_HD inline Tap torch_tap(int in_size, int out_size, int d) {
  Tap t;
  if (in_size == out_size) {
    t.i0 = t.i1 = d;
    t.w0 = 1.0f;
    t.w1 = 0.0f;
    return t;
  }
  const float ratio = static_cast<float>(in_size) / static_cast<float>(out_size);
  float src = f_sub(f_mul(ratio, f_add(static_cast<float>(d), 0.5f)), 0.5f);
  if (src < 0.0f) src = 0.0f;
#if defined(__CUDA_ARCH__)
  int i0 = static_cast<int>(::floorf(src));
#else
  int i0 = static_cast<int>(std::floor(src));
#endif
  if (i0 > in_size - 1) i0 = in_size - 1;
  float lambda1 = f_sub(src, static_cast<float>(i0));
  lambda1 = lambda1 < 0.0f ? 0.0f : (lambda1 > 1.0f ? 1.0f : lambda1);
  t.i0 = i0;
  t.i1 = i0 < in_size - 1 ? i0 + 1 : i0;
  t.w1 = lambda1;
  t.w0 = f_sub(1.0f, lambda1);
  return t;
}

// PyTorch's CPU kernel choice (see geometry.hpp): small outputs sum four combined
// weights left to right, larger ones interpolate along the width, then the height.
P2SAM_HD inline bool uses_combined_weights(int out_h, int out_w) { return out_h + out_w <= 128; }

P2SAM_HD inline float lerp_taps(float a, float wa, float b, float wb) { return f_add(f_mul(a, wa), f_mul(b, wb)); }

// One output value from the four inputs x[row][col] at the taps ty (rows), tx (cols).
P2SAM_HD inline float bilinear_value(float x00, float x01, float x10, float x11, const Tap& ty, const Tap& tx,
                                     bool combined) {
  if (combined) {
    const float w00 = f_mul(ty.w0, tx.w0), w01 = f_mul(ty.w0, tx.w1);
    const float w10 = f_mul(ty.w1, tx.w0), w11 = f_mul(ty.w1, tx.w1);
    return f_add(f_add(f_add(f_mul(x00, w00), f_mul(x01, w01)), f_mul(x10, w10)), f_mul(x11, w11));
  }
  return lerp_taps(lerp_taps(x00, tx.w0, x01, tx.w1), ty.w0, lerp_taps(x10, tx.w0, x11, tx.w1), ty.w1);
}

// Value (y, x) of a resize of the plane `src` (in_h×in_w, row stride `stride`).
P2SAM_HD inline float resize_value(const float* src, int stride, int in_h, int in_w, int out_h, int out_w, int y,
                                   int x) {
  const Tap ty = torch_tap(in_h, out_h, y), tx = torch_tap(in_w, out_w, x);
  const float* ra = src + static_cast<std::size_t>(ty.i0) * stride;
  const float* rb = src + static_cast<std::size_t>(ty.i1) * stride;
  return bilinear_value(ra[tx.i0], ra[tx.i1], rb[tx.i0], rb[tx.i1], ty, tx, uses_combined_weights(out_h, out_w));
}

// The upsampling chain of docs/algorithm.md §2.5 after the ×4 stage, for one pixel (y, x) of the H×W output: the 1024
// frame crop values it needs are evaluated on the fly from the 256×256 plane `s256`
// (each by the same float expression the core's streamed chain uses), so no 1024-frame
// plane is ever stored.
P2SAM_HD inline float chain_value(const float* s256, int new_w, int new_h, int orig_w, int orig_h, int y, int x) {
  const Tap ty = torch_tap(new_h, orig_h, y), tx = torch_tap(new_w, orig_w, x);
  // Crop stage: 256 -> 1024 (only rows < new_h / cols < new_w are ever addressed).
  const float c00 = resize_value(s256, 256, 256, 256, 1024, 1024, ty.i0, tx.i0);
  const float c01 = resize_value(s256, 256, 256, 256, 1024, 1024, ty.i0, tx.i1);
  const float c10 = resize_value(s256, 256, 256, 256, 1024, 1024, ty.i1, tx.i0);
  const float c11 = resize_value(s256, 256, 256, 256, 1024, 1024, ty.i1, tx.i1);
  return bilinear_value(c00, c01, c10, c11, ty, tx, uses_combined_weights(orig_h, orig_w));
}

// Extreme tracking with the first-index tie rule of torch.argmax/argmin on a flattened
// map: a candidate replaces the current one when strictly better, or equally good at a
// lower index (the latter makes the rule order-independent, so a parallel reduction
// finds the same point as the core's row-major scan).
P2SAM_HD inline bool better_max(float v, long long idx, float best, long long best_idx) {
  return best_idx < 0 || v > best || (v == best && idx < best_idx);
}
P2SAM_HD inline bool better_min(float v, long long idx, float best, long long best_idx) {
  return best_idx < 0 || v < best || (v == best && idx < best_idx);
}

// ------------------------------------------------------------------ transport
// Squared Euclidean cost from float64 squared norms and dot product, clamped at 0
// (a zero distance can come out slightly negative). Same expression as the core.
P2SAM_HD inline double cost_entry(double norm_a, double norm_b, double dot) {
  const double v = norm_a + norm_b - 2.0 * dot;
  return v > 0.0 ? v : 0.0;
}
// Float64 squared norm / dot of float32 rows, summed in feature order.
P2SAM_HD inline double sq_norm_f64(const float* x, int d) {
  double s = 0.0;
  for (int t = 0; t < d; ++t) s += static_cast<double>(x[t]) * static_cast<double>(x[t]);
  return s;
}
P2SAM_HD inline double dot_f64(const float* a, const float* b, int d) {
  double s = 0.0;
  for (int t = 0; t < d; ++t) s += static_cast<double>(a[t]) * static_cast<double>(b[t]);
  return s;
}

// Log-domain Sinkhorn pieces (see native/core/sinkhorn.cpp for the derivation):
//   row   f_i = eps·log a_i - (M_i + eps·log sum_j exp((g_j - C_ij - M_i)/eps)),  M_i = max_j (g_j - C_ij)
//   col   lse_j = M_j + eps·log sum_i exp((f_i - C_ij - M_j)/eps),             M_j = max_i (f_i - C_ij)
// Subtracting the maximum keeps every exponent <= 0: nothing overflows for any eps.
P2SAM_HD inline double lse_term(double value, double shift, double inv_eps) { return d_exp((value - shift) * inv_eps); }
P2SAM_HD inline double lse_finish(double shift, double sum, double eps) { return shift + eps * d_log(sum); }
// |column sum of the plan - b_j|, the column sum being exp((g_j + lse_j)/eps) (capped
// exponent: an error that large only has to read as "not converged").
P2SAM_HD inline double marginal_term(double g, double lse, double inv_eps, double b) {
  double e = (g + lse) * inv_eps;
  e = e < 700.0 ? e : 700.0;
  const double diff = d_exp(e) - b;
  return diff < 0.0 ? -diff : diff;
}
// One entry of <P, C>: exp((f + g - c)/eps)·c.
P2SAM_HD inline double plan_cost_term(double f, double g, double c, double inv_eps) {
  return d_exp((f + g - c) * inv_eps) * c;
}

}  // namespace p2sam::cuda::hd
